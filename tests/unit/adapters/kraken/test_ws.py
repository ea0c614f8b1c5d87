"""Kraken WS v2 pure parts: frames, ticker quotes, and the executions channel."""

import json
from decimal import Decimal
from typing import Any

import pytest

from autohedge.adapters.kraken.user_ws import KrakenUserStream
from autohedge.adapters.kraken.ws import (
    ExecutionFill,
    ExecutionsTracker,
    executions_subscribe,
    parse_frame,
    quotes_of,
    ticker_subscribe,
)
from autohedge.core.clock import ManualClock
from autohedge.core.errors import MalformedMessage
from autohedge.core.messages import OrderSnapshot
from autohedge.core.types import OrderStatus
from tests.fakes.order_sink import OrderQueueSink
from tests.fixture_files import fixture_text
from tests.ids import entry_id

D = Decimal
SYMBOLS = frozenset({"BTC/USD"})
# Documented pending_new entry (a public capture), then constructed sparse updates.
PENDING = {
    "order_id": "OF6QIS-MYM6V-XTHHZF",
    "symbol": "BTC/USD",
    "order_qty": 0.01,
    "cum_cost": 0.0,
    "time_in_force": "GTC",
    "exec_type": "pending_new",
    "side": "buy",
    "order_type": "limit",
    "order_userref": 0,
    "limit_price": 50000.0,
    "order_status": "pending_new",
    "cl_ord_id": entry_id(1),
    "timestamp": "2025-02-10T02:55:15.922831Z",
}
TRADE = {
    "order_id": "OF6QIS-MYM6V-XTHHZF",
    "exec_id": "B1Y0D9-6JIJG-W1IB7L",
    "exec_type": "trade",
    "trade_id": 37496584,
    "symbol": "BTC/USD",
    "side": "buy",
    "last_qty": 0.004,
    "last_price": 50000.0,
    "cost": 200.0,
    "cum_qty": 0.004,
    "avg_price": 50000.0,
    "liquidity_ind": "m",
    "order_status": "partially_filled",
    "fees": [{"asset": "XBT", "qty": 0.000004}],
    "timestamp": "2025-02-10T02:56:00Z",
}


def frame(kind: str, seq: int | None, *entries: dict[str, Any]) -> str:
    out: dict[str, Any] = {"channel": "executions", "type": kind, "data": list(entries)}
    if seq is not None:
        out["sequence"] = seq
    return json.dumps(out)


def fills(items: list[OrderSnapshot | ExecutionFill]) -> list[ExecutionFill]:
    return [i for i in items if isinstance(i, ExecutionFill)]


def test_ws_ticker_subscribe_asks_for_bbo() -> None:
    assert ticker_subscribe(["BTC/USD"], 1)["params"] == {
        "channel": "ticker",
        "symbol": ["BTC/USD"],
        "event_trigger": "bbo",
        "snapshot": True,
    }


def test_ws_executions_subscribe_snapshots_orders_not_trades() -> None:
    params = executions_subscribe("tok", 2)["params"]
    assert params["token"] == "tok" and params["snap_orders"] is True and params["snap_trades"] is False


def test_ws_ticker_numbers_become_exact_decimals() -> None:
    (quote,) = quotes_of(
        parse_frame(fixture_text("kraken", "ticker_frame.json")), symbols=frozenset({"ALGO/USD"}), ts_init=9
    )
    assert (quote.bid, quote.ask, quote.ask_size) == (D("0.10025"), D("0.10036"), D("1361.44813783"))
    assert quote.ts_event == 9


def test_ws_method_response_and_rate_error_are_routed() -> None:
    assert parse_frame('{"method":"pong","req_id":3}').method == "pong"
    failure = parse_frame('{"method":"subscribe","success":false,"error":"EGeneral:Invalid arguments"}')
    assert not failure.success and failure.error == "EGeneral:Invalid arguments"
    assert parse_frame('{"Error":"Exceeded msg rate"}').error == "Exceeded msg rate"


@pytest.mark.parametrize("raw", ["{", "[]", '{"data":[]}', '{"channel":"ticker","data":[1]}'])
def test_ws_malformed_frames_raise(raw: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_frame(raw)


def test_executions_trade_update_is_a_fill_with_its_fee() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(parse_frame(frame("update", 1, PENDING)), ts_init=1)
    out = tracker.apply(parse_frame(frame("update", 2, TRADE)), ts_init=1)
    (fill,) = fills(out)
    assert (fill.exec_id, fill.qty, fill.price) == ("B1Y0D9-6JIJG-W1IB7L", D("0.004"), D("50000.0"))
    assert (fill.fee, fill.fee_asset, fill.client_order_id) == (D("0.000004"), "BTC", entry_id(1))
    snap = out[-1]
    assert isinstance(snap, OrderSnapshot) and snap.status is OrderStatus.PARTIALLY_FILLED
    assert (snap.qty, snap.filled_qty, snap.fee) == (D("0.01"), D("0.004"), D("0.000004"))


def test_executions_snapshot_is_state_never_fills() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    open_order = PENDING | {"exec_type": "new", "order_status": "partially_filled", "cum_qty": 0.004}
    out = tracker.apply(parse_frame(frame("snapshot", 1, open_order, TRADE)), ts_init=1)
    assert fills(out) == [] and all(isinstance(o, OrderSnapshot) for o in out)


def test_executions_trade_seen_in_a_snapshot_is_not_a_fill_later() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(parse_frame(frame("snapshot", 1, PENDING, TRADE)), ts_init=1)
    assert fills(tracker.apply(parse_frame(frame("update", 2, TRADE)), ts_init=1)) == []


def test_executions_duplicated_exec_id_is_one_fill() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(parse_frame(frame("update", 1, PENDING)), ts_init=1)
    assert len(fills(tracker.apply(parse_frame(frame("update", 2, TRADE)), ts_init=1))) == 1
    assert fills(tracker.apply(parse_frame(frame("update", 3, TRADE)), ts_init=1)) == []
    assert tracker.duplicates == 1


def test_executions_stale_sequence_is_ignored_and_gaps_counted() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(parse_frame(frame("update", 5, PENDING)), ts_init=1)
    assert tracker.apply(parse_frame(frame("update", 4, TRADE)), ts_init=1) == []
    tracker.apply(parse_frame(frame("update", 9, TRADE)), ts_init=1)
    assert (tracker.sequence.stale, tracker.sequence.gaps, tracker.sequence.missed) == (1, 1, 3)


def test_executions_sparse_filled_update_keeps_the_known_fields() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(parse_frame(frame("update", 1, PENDING)), ts_init=1)
    done = {"order_id": PENDING["order_id"], "exec_type": "filled", "order_status": "filled", "cum_qty": 0.01}
    (snap,) = tracker.apply(parse_frame(frame("update", 2, done)), ts_init=1)
    assert isinstance(snap, OrderSnapshot) and snap.status is OrderStatus.FILLED
    assert (snap.symbol, snap.price, snap.client_order_id) == ("BTC/USD", D("50000.0"), entry_id(1))


def test_executions_late_status_never_reopens_a_finished_order() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    tracker.apply(
        parse_frame(frame("update", None, PENDING | {"exec_type": "canceled", "order_status": "canceled"})),
        ts_init=1,
    )
    (snap,) = tracker.apply(
        parse_frame(frame("update", None, PENDING | {"exec_type": "new", "order_status": "new"})), ts_init=1
    )
    assert isinstance(snap, OrderSnapshot) and snap.status is OrderStatus.CANCELED


def test_executions_update_of_an_unseen_order_is_counted_not_guessed() -> None:
    tracker = ExecutionsTracker(SYMBOLS)
    sparse = {"order_id": "OX", "exec_type": "canceled", "order_status": "canceled"}
    assert tracker.apply(parse_frame(frame("update", 1, sparse)), ts_init=1) == []
    assert tracker.incomplete == 1


def test_executions_unknown_exec_type_raises() -> None:
    with pytest.raises(MalformedMessage, match="teleported"):
        ExecutionsTracker(SYMBOLS).apply(
            parse_frame(frame("update", 1, PENDING | {"exec_type": "teleported"})), ts_init=1
        )


def test_executions_trade_without_cum_qty_advances_the_fill_watermark() -> None:
    # The trade entry as captured in public clients (user-streams.md §4, "TRADE" OBS) carries last_qty
    # but no cum_qty. Reported with the order's stale cumulative quantity (0), the executor's
    # watermark saw no progress and the fill was never reported (nor protected).
    from autohedge.adapters.kraken.user_ws import KrakenUserStream
    from autohedge.core.clock import ManualClock
    from autohedge.core.messages import OrderEventKind

    stream = KrakenUserStream(
        url="ws://127.0.0.1:9", token=lambda: "", clock=ManualClock(), symbols=["BTC/USD"]
    )
    stream._updates(stream._tracker.apply(parse_frame(frame("update", 1, PENDING)), ts_init=1), "update")
    bare = {k: v for k, v in TRADE.items() if k not in ("cum_qty", "avg_price")}
    items = stream._tracker.apply(parse_frame(frame("update", 2, bare)), ts_init=1)
    (fill,) = [u for u in stream._updates(items, "update") if u.kind.is_fill]
    assert fill.kind is OrderEventKind.PARTIALLY_FILLED
    assert (fill.last_qty, fill.cum_filled_qty) == (D("0.004"), D("0.004"))
    second = bare | {"exec_id": "C2Z1E0-7KJIH-X2JC8M", "trade_id": 37496585, "last_qty": 0.006}
    items = stream._tracker.apply(parse_frame(frame("update", 3, second)), ts_init=1)
    (done,) = [u for u in stream._updates(items, "update") if u.kind.is_fill]
    assert (done.kind, done.cum_filled_qty) == (OrderEventKind.FILLED, D("0.010"))


def stream_into_sink() -> tuple[KrakenUserStream, OrderQueueSink]:
    """A user stream whose frames are handed to ``_on_message`` directly, into a queueing sink."""
    stream = KrakenUserStream(
        url="ws://127.0.0.1:9", token=lambda: "", clock=ManualClock(), symbols=["BTC/USD"]
    )
    sink = OrderQueueSink()
    stream._sink = sink  # the reader thread's state once started
    return stream, sink


def test_executions_entry_it_cannot_read_is_skipped_alone_not_with_the_frames_fill() -> None:
    """One executions frame carries our entry's trade beside an entry in an order status we do not know.
    That entry is counted as malformed and skipped; the trade is still a fill. Skipped with the whole
    frame, it was lost for good: its exec_id was already taken as seen, so no repeat would report it."""
    from autohedge.core.messages import OrderEventKind

    stream, sink = stream_into_sink()
    stream._on_message(None, frame("update", 1, PENDING))  # type: ignore[arg-type]
    odd = {"order_id": "OTHER-1", "exec_type": "status", "order_status": "held"}
    stream._on_message(None, frame("update", 2, TRADE, odd))  # type: ignore[arg-type]

    assert sink.next_update(entry_id(1), timeout_s=0).kind is OrderEventKind.ACCEPTED
    fill = sink.next_update(entry_id(1), timeout_s=0)
    assert (fill.kind, fill.trade_id, fill.last_qty) == (
        OrderEventKind.PARTIALLY_FILLED,
        "B1Y0D9-6JIJG-W1IB7L",
        D("0.004"),
    )
    assert "held" in sink.malformed.get_nowait()


def test_executions_trade_of_an_order_never_seen_is_left_to_rest_not_taken_as_seen() -> None:
    """One frame carries our entry's trade beside a trade of an order whose symbol was never seen. That
    trade cannot be reported: it is counted incomplete (REST reads such orders) and not taken as seen,
    so a repeat once the order is known is still a fill. Raised as malformed, it took the frame with it:
    our trade, already taken as seen, was never reported."""
    from autohedge.core.messages import OrderEventKind

    stream, sink = stream_into_sink()
    stream._on_message(None, frame("update", 1, PENDING))  # type: ignore[arg-type]
    unseen = {
        "order_id": "OTHER-1",
        "exec_id": "C2Z1E0-7KJIH-X2JC8M",
        "exec_type": "trade",
        "last_qty": 0.002,
        "last_price": 50010.0,
        "order_status": "partially_filled",
    }
    stream._on_message(None, frame("update", 2, TRADE, unseen))  # type: ignore[arg-type]

    assert sink.next_update(entry_id(1), timeout_s=0).kind is OrderEventKind.ACCEPTED
    fill = sink.next_update(entry_id(1), timeout_s=0)
    assert (fill.kind, fill.trade_id) == (OrderEventKind.PARTIALLY_FILLED, "B1Y0D9-6JIJG-W1IB7L")
    assert sink.malformed.empty() and stream._tracker.incomplete == 1

    known = PENDING | {
        "order_id": "OTHER-1",
        "cl_ord_id": entry_id(2),
        "exec_type": "new",
        "order_status": "new",
    }
    stream._on_message(None, frame("update", 3, known, unseen))  # type: ignore[arg-type]
    assert sink.next_update(entry_id(2), timeout_s=0).kind is OrderEventKind.ACCEPTED
    late = sink.next_update(entry_id(2), timeout_s=0)
    assert (late.trade_id, late.last_qty, late.cum_filled_qty) == (
        "C2Z1E0-7KJIH-X2JC8M",
        D("0.002"),
        D("0.002"),
    )


def test_executions_trade_charged_in_two_fee_assets_is_skipped_alone_and_not_taken_as_seen() -> None:
    """One frame carries our entry's trade beside another order's trade whose fees are in two assets (the
    venue documents one, chosen by the order's fee currency preference; a fill carries one). That trade
    is counted as malformed and skipped having changed nothing: the order's next cumulative report or
    its REST read carries it, and a readable repeat is still a fill counted once. Raised after the
    frame's trades were taken as seen and its order's fill had grown, the frame was lost with our fill,
    and the repeat was taken as a duplicate."""
    from autohedge.core.messages import OrderEventKind

    stream, sink = stream_into_sink()
    other = PENDING | {"order_id": "OTHER-1", "cl_ord_id": entry_id(2)}
    stream._on_message(None, frame("update", 1, PENDING, other))  # type: ignore[arg-type]
    # As captured (user-streams.md §4): a trade entry need not restate cum_qty.
    other_trade = {k: v for k, v in TRADE.items() if k not in ("cum_qty", "avg_price")} | {
        "order_id": "OTHER-1",
        "exec_id": "C2Z1E0-7KJIH-X2JC8M",
        "trade_id": 37496585,
        "last_qty": 0.002,
        "fees": [{"asset": "USD", "qty": 0.08}, {"asset": "XBT", "qty": 0.000002}],
    }
    stream._on_message(None, frame("update", 2, TRADE, other_trade))  # type: ignore[arg-type]

    assert sink.next_update(entry_id(1), timeout_s=0).kind is OrderEventKind.ACCEPTED
    fill = sink.next_update(entry_id(1), timeout_s=0)
    assert (fill.kind, fill.trade_id) == (OrderEventKind.PARTIALLY_FILLED, "B1Y0D9-6JIJG-W1IB7L")
    assert "two assets" in sink.malformed.get_nowait()

    readable = other_trade | {"fees": [{"asset": "USD", "qty": 0.08}]}
    stream._on_message(None, frame("update", 3, readable))  # type: ignore[arg-type]
    late = sink.next_update(entry_id(2), timeout_s=0)
    assert (late.trade_id, late.cum_filled_qty, late.fee, late.fee_asset) == (
        "C2Z1E0-7KJIH-X2JC8M",
        D("0.002"),
        D("0.08"),
        "USD",
    )
