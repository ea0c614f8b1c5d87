"""Coinbase Advanced Trade websockets: subscribe payloads, frame routing, sequence-gap counting, the
``ticker`` + ``heartbeats`` market stream, and the ``user`` channel's cumulative-state -> fills logic.

One channel per subscribe message, each with a fresh JWT (when keys are configured); the first
subscribe must arrive within 5 s of connecting. Channels without updates close after 60-90 s, so
``heartbeats`` is always subscribed too. Every frame carries ``sequence_num`` (per connection): a jump
is counted as a gap (nothing is replayed; for quotes the next ticker restates best bid/ask, for orders
REST reconciliation after reconnect is the record).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from autohedge.adapters.coinbase.auth import CoinbaseSigner
from autohedge.adapters.coinbase.constants import ORDER_STATUS, ORDER_TYPE, SIDE, SNAPSHOT_BATCH, VENUE
from autohedge.adapters.coinbase.parse import (
    bracket_leg_ids,
    bracket_legs,
    stop_executed,
    take_profit_sold,
    validate_wire,
)
from autohedge.adapters.coinbase.wire import (
    CoinbaseFill,
    CoinbaseHeartbeat,
    CoinbaseTicker,
    CoinbaseUserOrder,
)
from autohedge.adapters.order_events import VenueFill
from autohedge.adapters.timestamps import parse_rfc3339_ns
from autohedge.adapters.wirevalues import json_object, wire_decimal
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import MalformedMessage, VenueError
from autohedge.core.messages import OrderSnapshot, Quote
from autohedge.core.ports import QuoteSink
from autohedge.core.sequence import SequenceTracker
from autohedge.core.types import OrderStatus, OrderType

__all__ = [
    "CoinbaseFrame",
    "CoinbaseMarketStream",
    "DerivedFill",
    "UserOrderTracker",
    "parse_frame",
    "quotes_of",
    "send_subscriptions",
    "subscribe_message",
]

PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 10.0

_TERMINAL_KEPT = 10_000
"""Finished orders remembered by the user tracker, so a late duplicate never looks like a new fill."""


def subscribe_message(channel: str, product_ids: Sequence[str], jwt: str | None) -> dict[str, Any]:
    """``{"type":"subscribe","channel":...,"product_ids":[...],"jwt":...}``: one channel per message;
    no ``product_ids`` for ``heartbeats``; ``jwt`` only when keys are configured."""
    message: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if product_ids:
        message["product_ids"] = list(product_ids)
    if jwt is not None:
        message["jwt"] = jwt
    return message


def send_subscriptions(
    connection: WsConnection,
    channel: str,
    product_ids: Sequence[str],
    signer: CoinbaseSigner | None,
    clock: Clock,
) -> None:
    """Reader thread, on open: ``channel`` for the products, then ``heartbeats`` (keeps a quiet channel
    open), each message with a fresh JWT when keys are configured."""
    for name, products in ((channel, product_ids), ("heartbeats", ())):
        jwt = signer.ws_jwt(now_s=clock.wall_ns() // NS_PER_S) if signer is not None else None
        connection.send(json.dumps(subscribe_message(name, products, jwt)))


@dataclass(frozen=True)
class CoinbaseFrame:
    channel: str
    sequence_num: int
    timestamp: str
    events: tuple[dict[str, Any], ...]
    error: str = ""


def parse_frame(raw: str | bytes) -> CoinbaseFrame:
    """Decode one frame's envelope. Raises ``MalformedMessage``."""
    frame = json_object(raw, "frame", venue=VENUE)
    if frame.get("type") == "error":  # UNCONFIRMED shape: {"type":"error","message":...}
        return CoinbaseFrame("error", -1, "", (), error=str(frame.get("message", "unspecified error")))
    channel, sequence, events = frame.get("channel"), frame.get("sequence_num"), frame.get("events")
    if not isinstance(channel, str) or not isinstance(sequence, int) or not isinstance(events, list):
        raise MalformedMessage("coinbase frame lacks channel, sequence_num or events")
    if not all(isinstance(e, dict) for e in events):
        raise MalformedMessage("coinbase frame events are not objects")
    return CoinbaseFrame(channel, sequence, str(frame.get("timestamp", "")), tuple(events))


def _dec(raw: object, field: str) -> Decimal:
    return wire_decimal(raw, field, venue=VENUE)


def quotes_of(frame: CoinbaseFrame, *, symbols: Mapping[str, str], ts_init: int) -> list[Quote]:
    """Quotes of a ``ticker`` frame (``symbols``: product id -> ours; other products are skipped)."""
    ts_event = parse_rfc3339_ns(frame.timestamp, venue=VENUE) or ts_init
    out = []
    for event in frame.events:
        tickers = event.get("tickers")
        if not isinstance(tickers, list):
            raise MalformedMessage("coinbase ticker event without tickers")
        for raw in tickers:
            ticker = validate_wire(CoinbaseTicker, raw, "ticker")
            ours = symbols.get(ticker.product_id)
            if ours is None:
                continue
            out.append(
                Quote(
                    venue=VENUE,
                    symbol=ours,
                    bid=_dec(ticker.best_bid, "best_bid"),
                    ask=_dec(ticker.best_ask, "best_ask"),
                    bid_size=_dec(ticker.best_bid_quantity or "0", "best_bid_quantity"),
                    ask_size=_dec(ticker.best_ask_quantity or "0", "best_ask_quantity"),
                    ts_event=ts_event,
                    ts_init=ts_init,
                )
            )
    return out


# -- the user channel: cumulative order state -> fills ----------------------------------------------


@dataclass(frozen=True)
class DerivedFill(VenueFill):
    """A fill derived from the change of an order's cumulative state between two ``user`` updates.

    ``fill_id`` is deterministic (order id + cumulative quantity after the fill), so the same change
    seen twice is the same fill; REST ``/orders/historical/fills`` confirms it with trade ids.
    ``fee`` is in the quote currency (``total_fees`` is quote-denominated).

    ``cumulative_qty`` counts the fills of the order's leg that filled: a bracket's stop leg counts
    from ``leg_start_qty``, what its take-profit leg had sold (zero for any other order)."""

    fill_id: str
    cumulative_qty: Decimal
    leg_start_qty: Decimal = Decimal(0)


@dataclass(frozen=True)
class _Cumulative:
    qty: Decimal
    value: Decimal
    fees: Decimal
    terminal: bool
    sold_before_stop: Decimal | None = None
    """A bracket whose stop leg is working: what its take-profit leg had sold by then (None before)."""
    value_before_stop: Decimal = Decimal(0)
    """And for how much (quote currency): the stop leg's own average leaves it out."""


class UserOrderTracker:
    """Turns ``user`` channel frames into order snapshots and derived fills. Pure; not thread-safe.

    - ``snapshot`` events restate cumulative state: recorded, never turned into fills (whatever filled
      before or during a disconnect is REST's to report).
    - ``update`` events: a rise of ``cumulative_quantity`` is a fill of the difference, priced at
      ``Δfilled_value / Δqty`` with fee ``Δtotal_fees``. An update whose cumulative quantity is below
      what we already know is late (out of order) and ignored entirely; an equal one is a status change.
    - ``snapshot_complete`` turns True at the first snapshot batch shorter than 50 orders.
    - A bracket of ours (placed with an OCO list id) is reported as the leg working: its take-profit leg
      until the stop executes (the venue says it triggered, or a fill below the TP limit), then its stop
      leg, whose fills count from what the TP leg had sold, at their own average (the TP's left out).
      The leg that is gone gets no event: the venue ends it with the other, and the engine already
      treats OCO legs that way.
    """

    def __init__(
        self, symbols: Mapping[str, str], *, trades: Callable[[str], Sequence[CoinbaseFill]] | None = None
    ) -> None:
        """``symbols``: product id -> ours; orders of other products are ignored. ``trades``: an order's
        REST trades, asked only when a bracket's stop is first seen working in a rise of its fills (a
        snapshot after a reconnect, a first update, or one update holding the TP's last sales and the
        stop's first): the state does not say how much of that rise was its take-profit's."""
        self._symbols = dict(symbols)
        self._trades = trades
        self._state: OrderedDict[str, _Cumulative] = OrderedDict()
        self.snapshot_complete = False
        self.late_updates = 0

    def apply(
        self, frame: CoinbaseFrame, *, ts_init: int, on_malformed: Callable[[str], None] | None = None
    ) -> list[OrderSnapshot | DerivedFill]:
        """The frame's orders as snapshots and derived fills. Raises ``MalformedMessage``; with
        ``on_malformed``, an order that cannot be read is told there and skipped alone (the frame's other
        orders still count: skipped with them, a fill they carry was never derived again)."""
        if frame.channel != "user":
            raise MalformedMessage(f"coinbase user tracker got a {frame.channel!r} frame")
        ts_event = parse_rfc3339_ns(frame.timestamp, venue=VENUE) or ts_init
        out: list[OrderSnapshot | DerivedFill] = []
        for event in frame.events:
            kind, orders = event.get("type"), event.get("orders", [])
            if kind not in ("snapshot", "update") or not isinstance(orders, list):
                raise MalformedMessage(f"coinbase user event of type {kind!r} without orders")
            for raw in orders:
                try:  # an order is read whole before its state is taken in
                    order = validate_wire(CoinbaseUserOrder, raw, "user order")
                    out += self._apply_order(order, snapshot=kind == "snapshot", ts_event=ts_event)
                except MalformedMessage as exc:
                    if on_malformed is None:
                        raise
                    on_malformed(str(exc))
            if kind == "snapshot" and len(orders) < SNAPSHOT_BATCH:
                self.snapshot_complete = True
        return out

    def _apply_order(
        self, order: CoinbaseUserOrder, *, snapshot: bool, ts_event: int
    ) -> list[OrderSnapshot | DerivedFill]:
        symbol = self._symbols.get(order.product_id)
        if symbol is None:
            return []
        snap = _snapshot_of(order, symbol=symbol, ts_event=ts_event)
        now = _Cumulative(
            qty=snap.filled_qty,
            value=_dec(order.filled_value or "0", "filled_value"),
            fees=_dec(order.total_fees or "0", "total_fees"),
            terminal=snap.status.is_terminal,
        )
        before = self._state.get(order.order_id)
        if before is not None and (now.qty < before.qty or (before.terminal and not now.terminal)):
            self.late_updates += 1
            return []
        prior = before or _Cumulative(Decimal(0), Decimal(0), Decimal(0), False)
        fill: DerivedFill | None = None
        if not snapshot and now.qty > prior.qty:
            delta_qty = now.qty - prior.qty
            delta_value = now.value - prior.value
            price = delta_value / delta_qty if delta_value > 0 else (snap.avg_fill_price or snap.price)
            fill = DerivedFill(
                fill_id=f"{order.order_id}:{format(now.qty.normalize(), 'f')}",
                venue_order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=symbol,
                side=snap.side.value,
                qty=delta_qty,
                price=price,
                fee=max(Decimal(0), now.fees - prior.fees),
                fee_asset=snap.fee_asset,
                cumulative_qty=now.qty,
                ts_event=ts_event,
            )
        # Our OCO list ids name nothing but brackets on this venue (it has no order lists).
        leg_ids = bracket_leg_ids(order.client_order_id)
        if leg_ids is not None:
            sold_before_stop, value_before_stop = prior.sold_before_stop, prior.value_before_stop
            if sold_before_stop is None and stop_executed(
                order.trigger_status,
                filled_qty=fill.qty if fill is not None else now.qty,
                avg_price=fill.price if fill is not None else snap.avg_fill_price,
                take_profit=snap.price,
            ):
                sold_before_stop, value_before_stop = prior.qty, prior.value
                if now.qty > prior.qty:
                    # The rise may hold TP sales as well as the stop's (a snapshot, an update that is the
                    # first we hear of the bracket, or one whose rise spans the trigger): the TP leg's
                    # part is the REST trades' to tell (counted from what we last knew, the stop leg
                    # would claim the TP's sales too). Never below what the TP leg was known to have
                    # sold: REST can lag, and those sales were reported as the TP's.
                    sold = self._take_profit_sold(order.order_id, take_profit=snap.price)
                    if sold is not None and prior.qty <= sold[0] <= now.qty:
                        sold_before_stop, value_before_stop = sold
            now = replace(now, sold_before_stop=sold_before_stop, value_before_stop=value_before_stop)
            take_profit, stop = bracket_legs(
                snap,
                leg_ids,
                stop_working=sold_before_stop is not None,
                filled_before_stop=sold_before_stop or Decimal(0),
                value_before_stop=value_before_stop,
                filled_value=now.value,
            )
            snap = stop if sold_before_stop is not None else take_profit
            if fill is not None and sold_before_stop is not None and sold_before_stop > prior.qty:
                # One update holds the TP leg's last sales and the stop's first: a fill for each leg.
                self._remember(order.order_id, now)
                return _split_at_stop(fill, take_profit, stop, prior, now)
            if fill is not None:
                fill = replace(
                    fill,
                    client_order_id=snap.client_order_id,
                    cumulative_qty=snap.filled_qty,
                    leg_start_qty=sold_before_stop or Decimal(0),
                )
        self._remember(order.order_id, now)
        return [snap] if fill is None else [fill, snap]

    def _take_profit_sold(self, order_id: str, *, take_profit: Decimal) -> tuple[Decimal, Decimal] | None:
        """What a bracket's TP leg sold (and for how much) by its REST trades; None when not known."""
        if self._trades is None or take_profit <= 0:
            return None
        try:
            return take_profit_sold(self._trades(order_id), take_profit=take_profit)
        except (VenueError, MalformedMessage):
            return None

    def _remember(self, order_id: str, state: _Cumulative) -> None:
        self._state[order_id] = state
        self._state.move_to_end(order_id)
        while len(self._state) > _TERMINAL_KEPT:
            oldest_finished = next((k for k, v in self._state.items() if v.terminal), None)
            if oldest_finished is None:
                return  # live orders are never forgotten
            del self._state[oldest_finished]


def _split_at_stop(
    fill: DerivedFill, take_profit: OrderSnapshot, stop: OrderSnapshot, prior: _Cumulative, now: _Cumulative
) -> list[OrderSnapshot | DerivedFill]:
    """A rise of a bracket that holds its TP leg's last sales (from ``prior`` up to what the TP sold,
    ``now.sold_before_stop`` for ``now.value_before_stop``) and the stop leg's first: one fill per leg,
    the TP's followed by its leg as it stood just before the stop took over (working for the whole
    bracket, as the stream would have reported it), the stop's by the stop leg. The fee is shared by
    quantity (REST confirms each trade's own commission)."""
    sold = now.sold_before_stop or Decimal(0)
    tp_qty, tp_value = sold - prior.qty, now.value_before_stop - prior.value
    tp_fee = fill.fee * tp_qty / fill.qty
    tp_fill = replace(
        fill,
        fill_id=f"{fill.venue_order_id}:{format(sold.normalize(), 'f')}",
        client_order_id=take_profit.client_order_id,
        qty=tp_qty,
        price=tp_value / tp_qty if tp_value > 0 else take_profit.price,
        fee=tp_fee,
        cumulative_qty=sold,
    )
    tp_average = now.value_before_stop / sold if now.value_before_stop > 0 else take_profit.price
    working = take_profit.model_copy(
        update={
            "qty": stop.qty + sold,
            "filled_qty": sold,
            "avg_fill_price": tp_average,
            "status": OrderStatus.PARTIALLY_FILLED,
        }
    )
    out: list[OrderSnapshot | DerivedFill] = [tp_fill, working]
    stop_qty = now.qty - sold
    if stop_qty > 0:
        stop_value = now.value - now.value_before_stop
        stop_fill = replace(
            fill,
            client_order_id=stop.client_order_id,
            qty=stop_qty,
            price=stop_value / stop_qty if stop_value > 0 else (stop.avg_fill_price or fill.price),
            fee=fill.fee - tp_fee,
            cumulative_qty=stop.filled_qty,
            leg_start_qty=sold,
        )
        out.append(stop_fill)
    return [*out, stop]


def _snapshot_of(order: CoinbaseUserOrder, *, symbol: str, ts_event: int) -> OrderSnapshot:
    try:
        status = ORDER_STATUS[order.status]
        side = SIDE[order.order_side]
        order_type = (
            ORDER_TYPE.get(order.order_type, OrderType.LIMIT) if order.order_type else OrderType.LIMIT
        )
    except KeyError as exc:
        raise MalformedMessage(
            f"coinbase user order {order.order_id}: unknown value {exc.args[0]!r}"
        ) from None
    filled = _dec(order.cumulative_quantity or "0", "cumulative_quantity")
    leaves = _dec(order.leaves_quantity or "0", "leaves_quantity")
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    avg = _dec(order.avg_price or "0", "avg_price")
    stop = _dec(order.stop_price, "stop_price") if order.stop_price not in ("", "0") else None
    return OrderSnapshot(
        venue_order_id=order.order_id,
        client_order_id=order.client_order_id,
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=_dec(order.limit_price, "limit_price") if order.limit_price else Decimal(0),
        stop_price=stop,
        qty=filled + leaves,  # the channel has no original size: filled + still open
        filled_qty=filled,
        avg_fill_price=avg if filled > 0 and avg > 0 else None,
        fee=_dec(order.total_fees or "0", "total_fees"),
        fee_asset=symbol.split("/")[1],
        status=status,
        ts_event=ts_event,
    )


# -- market stream ------------------------------------------------------------------------------------


class CoinbaseMarketStream(WsStream):
    """Implements ``core.ports.MarketStream``: ``ticker`` + ``heartbeats`` on ``venues.coinbase.ws_url``.

    Public data: works without keys (``signer`` None); with keys every subscribe carries a fresh JWT
    ("the most reliable connection"). Callbacks run on the reader thread.
    """

    venue = VENUE
    stream_name = "coinbase stream"
    ping_timeout_s = PING_TIMEOUT_S

    def __init__(
        self,
        *,
        ws_url: str,
        clock: Clock,
        symbols: Mapping[str, str],
        signer: CoinbaseSigner | None = None,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        """``symbols``: product id (``BTC-USD``) -> ours (``BTC/USD``)."""
        self._ws_url = ws_url
        self._clock = clock
        self._symbols = dict(symbols)
        self._signer = signer
        self.ping_interval_s = ping_interval_s
        self._sink: QuoteSink | None = None
        self.sequence = SequenceTracker()
        self.heartbeats = 0

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """Feed actor's thread: connect and stream on a reader thread. Non-blocking."""
        self._sink = sink
        self._connect(self._ws_url, sink.on_disconnected)

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread: subscribe at once (the venue closes a socket silent for 5 s)."""
        send_subscriptions(connection, "ticker", sorted(self._symbols), self._signer, self._clock)

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        sink = self._sink
        assert sink is not None
        try:
            frame = parse_frame(raw)
            if frame.error:
                failure = f"coinbase stream error: {frame.error}"
                connection.fail(failure)
                return
            if not self.sequence.observe(frame.sequence_num):
                return  # a duplicate or late frame: never let an older quote overwrite a newer one
            if frame.channel == "ticker":
                for quote in quotes_of(frame, symbols=self._symbols, ts_init=self._clock.wall_ns()):
                    sink.on_quote(quote)
            elif frame.channel == "heartbeats":
                for event in frame.events:
                    validate_wire(CoinbaseHeartbeat, event, "heartbeat")
                    self.heartbeats += 1
            elif frame.channel != "subscriptions":
                raise MalformedMessage(f"coinbase frame of unexpected channel {frame.channel!r}")
        except MalformedMessage as exc:
            sink.on_malformed(raw, str(exc))
