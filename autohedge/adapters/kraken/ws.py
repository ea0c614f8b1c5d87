"""Kraken WebSocket v2: subscribe payloads, frame routing, the public ``ticker`` stream and the
private ``executions`` channel's pure logic (per-fill executions with fees; ``snap_orders`` as state).

On connect the server sends a ``status`` frame; once subscribed it sends ``heartbeat`` about once a
second. An idle connection is closed after about a minute, so the stream also sends an application
``ping`` every 30 heartbeats (riding the reader thread, no timer needed). Numbers are JSON numbers:
decoded with ``parse_float=Decimal``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from autohedge.adapters.kraken.constants import EXEC_TYPES, ORDER_TYPE, SIDE, VENUE, WS_ORDER_STATUS
from autohedge.adapters.kraken.parse import asset_name, validate_wire
from autohedge.adapters.kraken.wire import KrakenExecution, KrakenTicker
from autohedge.adapters.order_events import VenueFill
from autohedge.adapters.timestamps import parse_rfc3339_ns
from autohedge.adapters.wirevalues import json_object
from autohedge.adapters.wsconn import WsConnection, WsStream
from autohedge.core.clock import Clock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import OrderSnapshot, Quote
from autohedge.core.ports import QuoteSink
from autohedge.core.sequence import SequenceTracker
from autohedge.core.types import OrderStatus, OrderType

__all__ = [
    "ExecutionFill",
    "ExecutionsTracker",
    "KeepAlive",
    "KrakenFrame",
    "KrakenMarketStream",
    "executions_subscribe",
    "parse_frame",
    "ping_message",
    "quotes_of",
    "ticker_subscribe",
]

PING_EVERY_HEARTBEATS = 30
_SEEN_EXEC_IDS = 20_000
_FINISHED_KEPT = 10_000


def ticker_subscribe(symbols: Sequence[str], req_id: int) -> dict[str, Any]:
    """Best bid/offer on every change (``event_trigger: bbo``), with the current state first."""
    return {
        "method": "subscribe",
        "params": {"channel": "ticker", "symbol": list(symbols), "event_trigger": "bbo", "snapshot": True},
        "req_id": req_id,
    }


def executions_subscribe(token: str, req_id: int) -> dict[str, Any]:
    """Open orders as a snapshot (state, not fills), every status transition, no past trades: fills
    missed while disconnected come from REST, never from a snapshot."""
    return {
        "method": "subscribe",
        "params": {
            "channel": "executions",
            "token": token,
            "snap_orders": True,
            "snap_trades": False,
            "order_status": True,
        },
        "req_id": req_id,
    }


def ping_message(req_id: int) -> dict[str, Any]:
    return {"method": "ping", "req_id": req_id}


class KeepAlive:
    """Counts ``heartbeat`` frames and answers every ``PING_EVERY_HEARTBEATS``-th with an application
    ``ping`` (an idle connection is closed after about a minute). Reader thread; one per connection."""

    def __init__(self, first_req_id: int = 0) -> None:
        self.heartbeats = 0
        self._req_id = first_req_id

    def next_req_id(self) -> int:
        self._req_id += 1
        return self._req_id

    def heartbeat(self, connection: WsConnection) -> None:
        self.heartbeats += 1
        if self.heartbeats % PING_EVERY_HEARTBEATS == 0:
            connection.send(json.dumps(ping_message(self.next_req_id())))


@dataclass(frozen=True)
class KrakenFrame:
    """A channel frame (``channel`` set) or a method response (``method`` set)."""

    channel: str = ""
    type: str = ""
    data: tuple[dict[str, Any], ...] = ()
    sequence: int | None = None
    method: str = ""
    success: bool = True
    error: str = ""
    req_id: int | None = None


def parse_frame(raw: str | bytes) -> KrakenFrame:
    """Decode one frame. Raises ``MalformedMessage``."""
    frame = json_object(raw, "frame", venue=VENUE, decimals=True)
    if "method" in frame:
        req_id = frame.get("req_id")
        return KrakenFrame(
            method=str(frame["method"]),
            success=bool(frame.get("success", True)),
            error=str(frame.get("error", "")),
            req_id=req_id if isinstance(req_id, int) else None,
        )
    if "Error" in frame:  # the message-rate limit answers {"Error": "Exceeded msg rate"}
        return KrakenFrame(method="error", success=False, error=str(frame["Error"]))
    channel, data = frame.get("channel"), frame.get("data", [])
    if not isinstance(channel, str) or not isinstance(data, list):
        raise MalformedMessage("kraken frame lacks channel or data")
    if not all(isinstance(d, dict) for d in data):
        raise MalformedMessage("kraken frame data entries are not objects")
    sequence = frame.get("sequence")
    return KrakenFrame(
        channel=channel,
        type=str(frame.get("type", "")),
        data=tuple(data),
        sequence=sequence if isinstance(sequence, int) else None,
    )


def quotes_of(frame: KrakenFrame, *, symbols: frozenset[str], ts_init: int) -> list[Quote]:
    """Quotes of a ``ticker`` frame; WS v2 symbols are spelled as ours (``BTC/USD``)."""
    out = []
    for raw in frame.data:
        ticker = validate_wire(KrakenTicker, raw, "ticker")
        if ticker.symbol not in symbols:
            continue
        out.append(
            Quote(
                venue=VENUE,
                symbol=ticker.symbol,
                bid=ticker.bid,
                ask=ticker.ask,
                bid_size=ticker.bid_qty,
                ask_size=ticker.ask_qty,
                ts_event=parse_rfc3339_ns(ticker.timestamp, venue=VENUE) or ts_init,
                ts_init=ts_init,
            )
        )
    return out


# -- the executions channel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionFill(VenueFill):
    """One execution (``exec_type: trade``) with its own id, quantity, price and fees."""

    exec_id: str


@dataclass
class _OrderState:
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    client_order_id: str = ""
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    cum_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    fee_asset: str = ""
    status: str = "new"


class ExecutionsTracker:
    """Turns ``executions`` frames into order snapshots and per-fill executions. Pure; not thread-safe.

    Entries are sparse (each ``exec_type`` carries different fields): the tracker merges them into the
    order's known state so every snapshot is complete. ``snapshot`` frames (``snap_orders``) are
    recorded as state and never produce fills; a trade seen in a snapshot is only remembered, so a
    repeat of it later is not a new fill. Fills are de-duplicated by ``exec_id``; a trade of an order
    never seen whole is left to REST (``incomplete``) and not taken as seen. ``sequence`` gaps and
    stale frames are counted (``sequence``); a stale frame is ignored.
    """

    def __init__(self, symbols: frozenset[str]) -> None:
        self._symbols = symbols
        self._orders: OrderedDict[str, _OrderState] = OrderedDict()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.sequence = SequenceTracker()
        self.duplicates = 0
        self.incomplete = 0
        """Updates for an order whose symbol/side/size we never saw: reported by REST instead."""

    def apply(
        self, frame: KrakenFrame, *, ts_init: int, on_malformed: Callable[[str], None] | None = None
    ) -> list[OrderSnapshot | ExecutionFill]:
        """The frame's order snapshots and fills. Raises ``MalformedMessage``; with ``on_malformed``, an
        entry that cannot be read is told there and skipped alone, having changed nothing (the frame's
        other entries still count: skipped with them, a trade they carry was taken as seen and never
        reported)."""
        if frame.channel != "executions":
            raise MalformedMessage(f"kraken executions tracker got a {frame.channel!r} frame")
        if frame.sequence is not None and not self.sequence.observe(frame.sequence):
            return []
        snapshot = frame.type == "snapshot"
        out: list[OrderSnapshot | ExecutionFill] = []
        for raw in frame.data:
            try:
                execution = validate_wire(KrakenExecution, raw, "execution")
                if execution.exec_type not in EXEC_TYPES:
                    raise MalformedMessage(f"kraken exec_type {execution.exec_type!r} is unknown")
                if execution.order_status and execution.order_status not in WS_ORDER_STATUS:
                    raise MalformedMessage(f"kraken order_status {execution.order_status!r} is unknown")
                if execution.exec_type == "trade" and (
                    execution.last_qty is None or execution.last_price is None
                ):
                    raise MalformedMessage(f"kraken trade {execution.exec_id} lacks last_qty or last_price")
                out += self._apply(execution, snapshot=snapshot, ts_init=ts_init)
            except MalformedMessage as exc:
                if on_malformed is None:
                    raise
                on_malformed(str(exc))
        return out

    def _apply(
        self, execution: KrakenExecution, *, snapshot: bool, ts_init: int
    ) -> list[OrderSnapshot | ExecutionFill]:
        """Raises ``MalformedMessage`` before it takes anything in: the entry is read into a copy of its
        order's state, kept (with the trade taken as seen) only once the whole entry was read."""
        known = self._orders.get(execution.order_id)
        state = replace(known) if known is not None else _OrderState()
        _merge(state, execution)
        if state.symbol is not None and state.symbol not in self._symbols:
            self._keep(execution.order_id, state)
            return []
        ts_event = parse_rfc3339_ns(execution.timestamp, venue=VENUE) or ts_init
        exec_id = execution.exec_id if execution.exec_type == "trade" else None
        duplicate = bool(exec_id) and exec_id in self._seen
        fill: ExecutionFill | None = None
        if exec_id and not duplicate and not snapshot:
            fill = self._fill(execution, state, ts_event)
            if fill is not None:
                if execution.cum_qty is None:
                    # A trade entry need not restate cum_qty (entries are sparse): the order's
                    # cumulative fill still grows by this trade, or its fill shows no progress.
                    state.cum_qty += fill.qty
                state.fees += fill.fee
                state.fee_asset = fill.fee_asset or state.fee_asset
        snap = self._snapshot(execution.order_id, state, ts_event)
        self._keep(execution.order_id, state)
        if duplicate:
            self.duplicates += 1
        elif exec_id and (snapshot or fill is not None):
            # A snapshot's trade is only remembered; any other is taken as seen once reported, so one
            # left to REST (its order never seen whole) is still a fill if repeated once it is known.
            self._remember(exec_id)
        out: list[OrderSnapshot | ExecutionFill] = [] if fill is None else [fill]
        if snap is None:
            self.incomplete += 1
        else:
            out.append(snap)
        return out

    def _keep(self, order_id: str, state: _OrderState) -> None:
        self._orders[order_id] = state
        self._orders.move_to_end(order_id)
        self._forget_finished()

    def _remember(self, exec_id: str) -> None:
        self._seen[exec_id] = None
        while len(self._seen) > _SEEN_EXEC_IDS:
            self._seen.popitem(last=False)

    def _fill(self, execution: KrakenExecution, state: _OrderState, ts_event: int) -> ExecutionFill | None:
        """The trade as a fill, or None when its order was never seen whole (no symbol, side or size: no
        state of it would carry the fill). Raises ``MalformedMessage``."""
        if execution.last_qty is None or execution.last_price is None:
            raise MalformedMessage(f"kraken trade {execution.exec_id} lacks last_qty or last_price")
        if state.symbol is None or state.side is None or state.order_qty is None:
            return None
        fee, fee_asset = Decimal(0), ""
        for entry in execution.fees:
            if fee_asset and asset_name(entry.asset) != fee_asset:
                raise MalformedMessage(f"kraken trade {execution.exec_id} charges fees in two assets")
            fee_asset = asset_name(entry.asset)
            fee += entry.qty
        return ExecutionFill(
            exec_id=str(execution.exec_id),
            venue_order_id=execution.order_id,
            client_order_id=state.client_order_id,
            symbol=state.symbol,
            side=state.side,
            qty=execution.last_qty,
            price=execution.last_price,
            fee=fee,
            fee_asset=fee_asset,
            ts_event=ts_event,
        )

    def _snapshot(self, order_id: str, state: _OrderState, ts_event: int) -> OrderSnapshot | None:
        if state.symbol is None or state.side is None or state.order_qty is None:
            return None
        try:
            side = SIDE[state.side]
            order_type = ORDER_TYPE[state.order_type] if state.order_type else OrderType.LIMIT
            status = WS_ORDER_STATUS[state.status]
        except KeyError as exc:
            raise MalformedMessage(f"kraken order {order_id}: unknown value {exc.args[0]!r}") from None
        if status is OrderStatus.NEW and state.cum_qty > 0:
            status = OrderStatus.PARTIALLY_FILLED
        return OrderSnapshot(
            venue_order_id=order_id,
            client_order_id=state.client_order_id,
            symbol=state.symbol,
            side=side,
            order_type=order_type,
            price=state.limit_price or Decimal(0),
            stop_price=state.stop_price if order_type is OrderType.STOP_LIMIT else None,
            qty=state.order_qty,
            filled_qty=state.cum_qty,
            avg_fill_price=state.avg_price if state.cum_qty > 0 else None,
            fee=state.fees,
            fee_asset=state.fee_asset,
            status=status,
            ts_event=ts_event,
        )

    def _forget_finished(self) -> None:
        while len(self._orders) > _FINISHED_KEPT:
            finished = next(
                (k for k, s in self._orders.items() if WS_ORDER_STATUS[s.status].is_terminal), None
            )
            if finished is None:
                return  # live orders are never forgotten
            del self._orders[finished]


def _merge(state: _OrderState, execution: KrakenExecution) -> None:
    """Fold a sparse entry into the order's state; cumulative fields never go backwards."""
    state.symbol = execution.symbol or state.symbol
    state.side = execution.side or state.side
    state.order_type = execution.order_type or state.order_type
    state.client_order_id = execution.cl_ord_id or state.client_order_id
    state.order_qty = execution.order_qty if execution.order_qty is not None else state.order_qty
    state.limit_price = execution.limit_price if execution.limit_price else state.limit_price
    state.stop_price = execution.stop_price if execution.stop_price else state.stop_price
    if execution.cum_qty is not None and execution.cum_qty >= state.cum_qty:
        state.cum_qty = execution.cum_qty
        state.avg_price = execution.avg_price if execution.avg_price else state.avg_price
    if execution.order_status and not WS_ORDER_STATUS[state.status].is_terminal:
        state.status = execution.order_status


# -- market stream ------------------------------------------------------------------------------------


class KrakenMarketStream(WsStream):
    """Implements ``core.ports.MarketStream``: WS v2 ``ticker`` (bbo) on ``venues.kraken.ws_url``.
    Public data, no keys. Callbacks run on the reader thread."""

    venue = VENUE
    stream_name = "kraken stream"

    def __init__(self, *, ws_url: str, clock: Clock, symbols: Sequence[str]) -> None:
        self._ws_url = ws_url
        self._clock = clock
        self._symbols = frozenset(symbols)
        self._sink: QuoteSink | None = None
        self._keep_alive = KeepAlive()
        self.system_status = ""

    @property
    def heartbeats(self) -> int:
        return self._keep_alive.heartbeats

    def start(self, symbols: Sequence[str], sink: QuoteSink) -> None:
        """Feed actor's thread: connect and stream on a reader thread. Non-blocking."""
        self._sink = sink
        self._connect(self._ws_url, sink.on_disconnected)

    def _on_open(self, connection: WsConnection) -> None:
        """Reader thread."""
        connection.send(json.dumps(ticker_subscribe(sorted(self._symbols), self._keep_alive.next_req_id())))

    def _on_message(self, connection: WsConnection, raw: str | bytes) -> None:
        """Reader thread."""
        sink = self._sink
        assert sink is not None
        try:
            frame = parse_frame(raw)
            if frame.method:
                if not frame.success:
                    failure = f"kraken stream {frame.method} failed: {frame.error}"
                    connection.fail(failure)
                return
            if frame.channel == "ticker":
                for quote in quotes_of(frame, symbols=self._symbols, ts_init=self._clock.wall_ns()):
                    sink.on_quote(quote)
            elif frame.channel == "heartbeat":
                self._keep_alive.heartbeat(connection)
            elif frame.channel == "status":
                self.system_status = str(frame.data[0].get("system", "")) if frame.data else ""
                if self.system_status not in ("online", "post_only", "cancel_only", "maintenance"):
                    raise MalformedMessage(f"kraken system status {self.system_status!r} is unknown")
            else:
                raise MalformedMessage(f"kraken frame of unexpected channel {frame.channel!r}")
        except MalformedMessage as exc:
            sink.on_malformed(raw, str(exc))
