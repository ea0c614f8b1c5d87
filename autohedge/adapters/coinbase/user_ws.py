"""Coinbase ``user`` channel as the engine's private order stream (``core.ports.UserStream``).

The channel reports cumulative order state, never fills: ``UserOrderTracker`` derives a fill from the
rise of ``cumulative_quantity`` (a snapshot restates state and never becomes fills), and each derived
fill is confirmed from REST ``/orders/historical/fills`` (``confirm``): the venue's trades covering
exactly that rise are reported one by one with their trade ids, prices and commissions. When REST has
not caught up (or is refused), the derived fill itself is reported, keyed by the cumulative quantity
it reached, so a fill is never held back and never counted twice.

A sequence gap means updates were lost and nothing is replayed: the connection is closed, and the
user-stream actor reconnects and reconciles by REST.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from loguru import logger

from autohedge.adapters.coinbase.auth import KEY_VARIABLE, SECRET_VARIABLE, CoinbaseSigner
from autohedge.adapters.coinbase.constants import USER_MAX_SILENCE_S, VENUE
from autohedge.adapters.coinbase.wire import CoinbaseFill
from autohedge.adapters.coinbase.ws import (
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    CoinbaseFrame,
    DerivedFill,
    UserOrderTracker,
    parse_frame,
    send_subscriptions,
)
from autohedge.adapters.order_events import OrderEventBuilder, orders_with_fills
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError, MalformedMessage, VenueError
from autohedge.core.messages import OrderSnapshot, OrderUpdate
from autohedge.core.ports import OrderEventSink
from autohedge.core.sequence import SequenceTracker
from autohedge.core.types import OrderStatus

__all__ = ["CoinbaseUserStream", "confirmed_trades"]

FillConfirmation = Callable[[str], Sequence[CoinbaseFill]]


def confirmed_trades(fill: DerivedFill, trades: Sequence[CoinbaseFill]) -> list[tuple[CoinbaseFill, Decimal]]:
    """The venue's trades of the order that make up exactly ``fill`` (each with the cumulative quantity
    of the fill's leg it reached), or [] when REST does not account for exactly that rise yet.

    REST counts the whole order's trades: a bracket's stop leg starts where its take-profit leg
    stopped, so each leg is matched only by its own trades."""
    after = fill.leg_start_qty + fill.cumulative_qty
    before = after - fill.qty
    running, reached = Decimal(0), []
    ordered = sorted(trades, key=lambda t: (t.sequence_timestamp or t.trade_time, t.trade_id))
    try:
        for trade in ordered:
            running += Decimal(trade.size)
            if running > before:
                reached.append((trade, running))
            if running >= after:
                break  # later trades are later fills' (REST can be ahead of the stream)
    except InvalidOperation:
        return []
    if not reached or reached[-1][1] != after or reached[0][1] - Decimal(reached[0][0].size) != before:
        return []
    return [(trade, cum - fill.leg_start_qty) for trade, cum in reached]


class CoinbaseUserStream(WsStream):
    """One connection to ``venues.coinbase.user_ws_url``. Callbacks run on the reader thread."""

    venue = VENUE
    stream_name = "coinbase user stream"
    errors_end_it = True
    max_silence_s: float | None = USER_MAX_SILENCE_S
    ping_interval_s = PING_INTERVAL_S
    ping_timeout_s = PING_TIMEOUT_S

    def __init__(
        self,
        *,
        url: str,
        signer: CoinbaseSigner | None,
        clock: Clock,
        symbols: Mapping[str, str],
        confirm: FillConfirmation | None = None,
    ) -> None:
        """``symbols``: product id -> ours. ``confirm``: the order's REST fills (None: derived only)."""
        self._url = url
        self._signer = signer
        self._clock = clock
        self._symbols = dict(symbols)
        self._confirm = confirm
        self._tracker = UserOrderTracker(symbols, trades=confirm)
        self._events = OrderEventBuilder(VENUE)
        self._sequence = SequenceTracker()
        self._sink: OrderEventSink | None = None
        self._connected = False
        self.heartbeats = 0

    def start(self, sink: OrderEventSink) -> None:
        """User-stream actor's thread: connect on a reader thread; subscriptions go out on open."""
        if self._signer is None:
            raise AuthError(f"coinbase user stream needs {KEY_VARIABLE} and {SECRET_VARIABLE}", venue=VENUE)
        self._sink = sink
        self._connect(self._url, sink.on_disconnected)

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread: subscribe at once (5 s deadline), a fresh JWT in each message."""
        send_subscriptions(connection, "user", sorted(self._symbols), self._signer, self._clock)

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        sink = self._sink
        assert sink is not None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            frame = parse_frame(raw)
            if frame.error:
                connection.fail(f"coinbase user stream error: {frame.error}")
                return
            gaps = self._sequence.gaps
            if not self._sequence.observe(frame.sequence_num):
                return  # a duplicated or late frame: its state is already known
            if self._sequence.gaps > gaps:
                connection.fail(f"coinbase user stream lost frames before {frame.sequence_num}: reconnecting")
                return
            if frame.channel == "subscriptions":
                subscribed = frame.events[0].get("subscriptions", {}) if frame.events else {}
                if "user" in subscribed and not self._connected:
                    self._connected = True
                    sink.on_connected()
            elif frame.channel == "heartbeats":
                self.heartbeats += 1
                sink.on_heartbeat()
            elif frame.channel == "user":
                skipped: list[str] = []
                for update in self.updates(frame, on_malformed=skipped.append):
                    sink.on_order_update(update)
                for error in skipped:
                    sink.on_malformed(text, error)
            else:
                raise MalformedMessage(f"coinbase user stream frame of channel {frame.channel!r}")
        except MalformedMessage as exc:
            sink.on_malformed(text, str(exc))

    def updates(
        self, frame: CoinbaseFrame, *, on_malformed: Callable[[str], None] | None = None
    ) -> list[OrderUpdate]:
        """Reader thread: the order events of one in-sequence ``user`` frame (REST confirms its fills).
        ``on_malformed``: where an order that cannot be read goes, skipped alone (None: it raises)."""
        ts_init = self._clock.wall_ns()
        out: list[OrderUpdate] = []
        for event in frame.events:
            items = self._tracker.apply(
                CoinbaseFrame(frame.channel, frame.sequence_num, frame.timestamp, (event,)),
                ts_init=ts_init,
                on_malformed=on_malformed,
            )
            if event.get("type") == "snapshot":
                continue  # state only: the tracker remembers what is filled so far; nothing to report
            for order, fill in orders_with_fills(items):
                if fill is not None:
                    out += self._fills(fill, order, ts_init)
                update = self._events.state(order, ts_init=ts_init)
                if update is not None:
                    out.append(update)
        return out

    def _fills(self, fill: DerivedFill, order: OrderSnapshot, ts_init: int) -> list[OrderUpdate]:
        trades: list[tuple[CoinbaseFill, Decimal]] = []
        if self._confirm is not None:
            try:
                trades = confirmed_trades(fill, self._confirm(fill.venue_order_id))
            except (VenueError, MalformedMessage) as exc:
                logger.info("coinbase fill of {} not confirmed by REST yet ({})", fill.client_order_id, exc)
        if not trades:
            return [
                self._events.fill(
                    order,
                    last_qty=fill.qty,
                    last_price=fill.price,
                    fee=fill.fee,
                    fee_asset=fill.fee_asset,
                    trade_id=None,
                    cum_filled_qty=fill.cumulative_qty,
                    ts_init=ts_init,
                )
            ]
        # Every trade but the last leaves the order open, whatever its final state.
        still_open = order.model_copy(update={"status": OrderStatus.NEW})
        return [
            self._events.fill(
                order if cum == fill.cumulative_qty else still_open,
                last_qty=Decimal(trade.size),
                last_price=Decimal(trade.price),
                fee=Decimal(trade.commission or "0"),
                fee_asset=fill.fee_asset,
                trade_id=trade.trade_id,
                cum_filled_qty=cum,
                ts_init=ts_init,
            )
            for trade, cum in trades
        ]
