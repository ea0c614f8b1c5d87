"""Coinbase's bracket as the port's OCO: the wire body, the preview decision, the legs one bracket order
is reported as (REST and the user channel), and the adapter against the local fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from autohedge.adapters.coinbase.adapter import CoinbaseExchange, create_exchange, create_stream_factory
from autohedge.adapters.coinbase.parse import (
    bracket_accepted,
    bracket_body,
    bracket_leg_ids,
    bracket_legs,
    map_create_response,
    order_legs,
    stop_executed,
)
from autohedge.adapters.coinbase.user_ws import CoinbaseUserStream
from autohedge.adapters.coinbase.wire import (
    CoinbaseCreateResponse,
    CoinbaseFill,
    CoinbaseOrder,
    CoinbasePreview,
)
from autohedge.adapters.coinbase.ws import DerivedFill, UserOrderTracker, parse_frame
from autohedge.core.client_ids import ClientId
from autohedge.core.clock import RealClock
from autohedge.core.dedupe import FillDeduper
from autohedge.core.errors import OrderRefused, OrderRejected, OutcomeUnknown
from autohedge.core.messages import OcoRequest, OrderEventKind, OrderSnapshot, OrderUpdate
from autohedge.core.protection import ProtectionPlan, plan_for
from autohedge.core.types import OrderPurpose, OrderStatus, OrderType, Side
from tests.fakes.coinbase import FakeCoinbase
from tests.fakes.order_sink import OrderQueueSink
from tests.ids import PREFIX, entry_id, our_id
from tests.unit.adapters.coinbase.test_adapter_fake import config, exchange, secrets
from tests.unit.adapters.coinbase.test_user_stream import SIGNER

D = Decimal
KEY = 5
LIST_ID = ClientId(PREFIX, None, KEY).encode()
TP = our_id(OrderPurpose.TAKE_PROFIT, KEY)
SL = our_id(OrderPurpose.STOP_LOSS, KEY)
BRACKET = {"trigger_bracket_gtc": {"base_size": "1", "limit_price": "110", "stop_trigger_price": "90"}}


def rest_order(**fields: Any) -> CoinbaseOrder:
    base: dict[str, Any] = {
        "order_id": "b-1",
        "product_id": "BTC-USD",
        "client_order_id": LIST_ID,
        "side": "SELL",
        "status": "OPEN",
        "order_configuration": BRACKET,
        "filled_size": "0",
        "average_filled_price": "0",
        "created_time": "2024-01-01T00:00:00Z",
        "trigger_status": "STOP_PENDING",
    }
    return CoinbaseOrder.model_validate(base | fields)


# -- pure parts ---------------------------------------------------------------------------------------


def test_bracket_body_is_one_sell_holding_both_prices_as_decimal_strings() -> None:
    body = bracket_body(
        LIST_ID, "BTC-USD", qty=D("0.00120000"), take_profit=D("51000.5"), stop_trigger=D(49000)
    )
    assert body == {
        "client_order_id": LIST_ID,
        "product_id": "BTC-USD",
        "side": "SELL",
        "order_configuration": {
            "trigger_bracket_gtc": {
                "base_size": "0.0012",
                "limit_price": "51000.5",
                "stop_trigger_price": "49000",
            }
        },
    }


@pytest.mark.parametrize(
    ("errs", "accepted"),
    [
        ((), True),
        (("PREVIEW_INSUFFICIENT_FUND",), True),  # the probe holds nothing: says nothing of the config
        (("PREVIEW_INVALID_ORDER_CONFIG",), False),
        (("UNSUPPORTED_ORDER_CONFIGURATION", "PREVIEW_INSUFFICIENT_FUND"), False),
    ],
)
def test_preview_refuses_the_bracket_only_for_a_configuration_reason(
    errs: tuple[str, ...], accepted: bool
) -> None:
    assert bracket_accepted(CoinbasePreview(errs=errs)) is accepted


def test_leg_ids_come_from_our_list_id_only() -> None:
    assert bracket_leg_ids(LIST_ID) == (TP, SL)
    assert bracket_leg_ids(TP) is None and bracket_leg_ids(entry_id(1)) is None
    assert bracket_leg_ids("someone-elses-order") is None


@pytest.mark.parametrize(
    ("trigger_status", "filled", "avg", "working"),
    [
        ("STOP_PENDING", D(0), None, False),
        ("STOP_TRIGGERED", D(0), None, True),  # triggered, its limit not reached yet
        ("STOP_PENDING", D(1), D(110), False),  # the TP sold at its limit
        ("", D(1), D(89), True),  # sold below the TP limit: only the stop does that
    ],
)
def test_stop_is_working_when_triggered_or_sold_below_the_take_profit(
    trigger_status: str, filled: Decimal, avg: Decimal | None, working: bool
) -> None:
    assert stop_executed(trigger_status, filled_qty=filled, avg_price=avg, take_profit=D(110)) is working


def test_resting_bracket_is_two_legs_for_the_whole_quantity() -> None:
    tp, sl = order_legs(rest_order(), symbol="BTC/USD")
    assert (tp.client_order_id, tp.order_type, tp.price, tp.stop_price) == (TP, OrderType.LIMIT, D(110), None)
    assert (sl.client_order_id, sl.order_type, sl.stop_price) == (SL, OrderType.STOP_LIMIT, D(90))
    assert sl.price == D("85")  # the venue's stop-limit 5% below the trigger
    assert tp.list_id == sl.list_id == "b-1" and tp.status is sl.status is OrderStatus.NEW
    assert tp.remaining_qty == sl.remaining_qty == D(1)


def test_take_profit_fill_is_the_tp_legs_and_the_stop_is_gone() -> None:
    order = rest_order(status="FILLED", filled_size="1", average_filled_price="110")
    tp, sl = order_legs(order, symbol="BTC/USD")
    assert (tp.status, tp.filled_qty, tp.avg_fill_price) == (OrderStatus.FILLED, D(1), D(110))
    assert (sl.status, sl.filled_qty) == (OrderStatus.CANCELED, D(0))


def test_stop_fill_is_the_stop_legs_and_the_take_profit_is_gone() -> None:
    order = rest_order(
        status="FILLED", filled_size="1", average_filled_price="89.5", trigger_status="STOP_TRIGGERED"
    )
    tp, sl = order_legs(order, symbol="BTC/USD")
    assert (sl.status, sl.filled_qty, sl.order_type) == (OrderStatus.FILLED, D(1), OrderType.STOP_LIMIT)
    assert (tp.status, tp.filled_qty) == (OrderStatus.CANCELED, D(0))


def test_rest_reads_what_the_take_profit_sold_before_the_stop_from_the_orders_trades() -> None:
    # REST restates the whole order (0.6 sold); its trades tell the legs apart: the TP leg, a limit at
    # 110, never sells below it; the stop sells at its limit of 85 or above, below the TP.
    order = rest_order(
        status="OPEN", filled_size="0.6", average_filled_price="99.5", trigger_status="STOP_TRIGGERED"
    )
    trades = (rest_trade("t1", "0.3", "110", "a"), rest_trade("t2", "0.3", "89", "b"))
    tp, sl = order_legs(order, symbol="BTC/USD", trades=lambda: trades)
    assert (tp.client_order_id, tp.filled_qty, tp.status) == (TP, D("0.3"), OrderStatus.CANCELED)
    assert (sl.client_order_id, sl.qty, sl.filled_qty) == (SL, D("0.7"), D("0.3"))
    assert sl.status is OrderStatus.PARTIALLY_FILLED
    assert (tp.avg_fill_price, sl.avg_fill_price) == (D(110), D(89))  # from the average: no filled value


def bracket_snapshot(*, filled_qty: str, avg_fill_price: str) -> OrderSnapshot:
    """The whole bracket as one order (TP limit 110, trigger 90, 1 to sell), filled as given."""
    return OrderSnapshot(
        venue_order_id="b-1",
        client_order_id=LIST_ID,
        symbol="BTC/USD",
        side=Side.SELL,
        price=D(110),
        stop_price=D(90),
        qty=D(1),
        filled_qty=D(filled_qty),
        avg_fill_price=D(avg_fill_price),
        status=OrderStatus.FILLED,
    )


def test_partly_sold_take_profit_then_stop_splits_the_fills() -> None:
    order = bracket_snapshot(filled_qty="0.7", avg_fill_price="100")
    tp, sl = bracket_legs(order, (TP, SL), stop_working=True, filled_before_stop=D("0.3"))
    assert (tp.filled_qty, tp.status) == (D("0.3"), OrderStatus.CANCELED)
    assert (sl.qty, sl.filled_qty, sl.status) == (D("0.7"), D("0.4"), OrderStatus.FILLED)


def test_stop_after_a_partly_filled_take_profit_is_priced_at_its_own_fills_not_the_orders() -> None:
    # The TP leg sold 0.3 at 110 (33), then the stop the other 0.7 at 89 (62.3): the order's average
    # (95.3) is neither leg's.
    order = bracket_snapshot(filled_qty="1", avg_fill_price="95.3")
    tp, sl = bracket_legs(
        order, (TP, SL), stop_working=True, filled_before_stop=D("0.3"), value_before_stop=D(33)
    )
    assert (tp.filled_qty, tp.avg_fill_price) == (D("0.3"), D(110))
    assert (sl.filled_qty, sl.avg_fill_price) == (D("0.7"), D(89))


def test_rest_stop_after_a_partly_filled_take_profit_is_priced_at_its_own_fills() -> None:
    order = rest_order(
        status="FILLED",
        filled_size="1",
        average_filled_price="95.3",
        filled_value="95.3",
        trigger_status="STOP_TRIGGERED",
    )
    trades = (rest_trade("t1", "0.3", "110", "a"), rest_trade("t2", "0.7", "89", "b"))
    tp, sl = order_legs(order, symbol="BTC/USD", trades=lambda: trades)
    assert (tp.filled_qty, tp.avg_fill_price) == (D("0.3"), D(110))
    assert (sl.filled_qty, sl.avg_fill_price, sl.status) == (D("0.7"), D(89), OrderStatus.FILLED)


def test_someone_elses_bracket_stays_one_order() -> None:
    (only,) = order_legs(rest_order(client_order_id="manual-1"), symbol="BTC/USD")
    assert only.client_order_id == "manual-1" and only.stop_price == D(90)


def test_refused_bracket_body_is_a_definitive_rejection() -> None:
    body = {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "error_response": {
            "error": "UNSUPPORTED_ORDER_CONFIGURATION",
            "message": "order refused",
            "preview_failure_reason": "PREVIEW_INVALID_ORDER_CONFIG",
        },
    }
    with pytest.raises(OrderRejected, match="UNSUPPORTED_ORDER_CONFIGURATION"):
        map_create_response(CoinbaseCreateResponse.model_validate(body))


# -- the user channel -----------------------------------------------------------------------------------


def user_frame(seq: int, **order: Any) -> str:
    """A constructed ``user`` update of the bracket (field names from the channel docs)."""
    base = {
        "order_id": "b-1",
        "client_order_id": LIST_ID,
        "product_id": "BTC-USD",
        "order_side": "SELL",
        "order_type": "Bracket",
        "status": "OPEN",
        "cumulative_quantity": "0",
        "leaves_quantity": "1",
        "avg_price": "0",
        "filled_value": "0",
        "total_fees": "0",
        "limit_price": "110",
        "stop_price": "90",
        "trigger_status": "STOP_PENDING",
    }
    events = [{"type": "update", "orders": [base | order]}]
    return json.dumps(
        {"channel": "user", "timestamp": "2024-01-01T00:00:00Z", "sequence_num": seq, "events": events}
    )


def apply(tracker: UserOrderTracker, seq: int, **order: Any) -> list[OrderSnapshot | DerivedFill]:
    return tracker.apply(parse_frame(user_frame(seq, **order)), ts_init=1)


def all_sold(
    tracker: UserOrderTracker, seq: int, filled_value: str, **order: Any
) -> tuple[DerivedFill, OrderSnapshot]:
    """The bracket's update once all of it (1) is sold for ``filled_value``: its fill and its state."""
    fill, snap = apply(
        tracker,
        seq,
        status="FILLED",
        cumulative_quantity="1",
        leaves_quantity="0",
        filled_value=filled_value,
        **order,
    )
    assert isinstance(fill, DerivedFill) and isinstance(snap, OrderSnapshot)
    return fill, snap


def test_user_bracket_open_is_its_take_profit_leg() -> None:
    (snap,) = apply(UserOrderTracker({"BTC-USD": "BTC/USD"}), 0)
    assert (
        isinstance(snap, OrderSnapshot) and snap.client_order_id == TP and snap.order_type is OrderType.LIMIT
    )


def test_user_bracket_stop_fill_is_the_stop_legs_fill() -> None:
    tracker = UserOrderTracker({"BTC-USD": "BTC/USD"})
    apply(tracker, 0)
    (triggered,) = apply(tracker, 1, trigger_status="STOP_TRIGGERED")
    assert isinstance(triggered, OrderSnapshot) and triggered.client_order_id == SL
    fill, snap = all_sold(tracker, 2, "89", trigger_status="STOP_TRIGGERED", avg_price="89")
    assert (fill.client_order_id, fill.qty, fill.price, fill.cumulative_qty) == (SL, D(1), D(89), D(1))
    assert (snap.client_order_id, snap.order_type, snap.status) == (
        SL,
        OrderType.STOP_LIMIT,
        OrderStatus.FILLED,
    )


def test_user_bracket_fill_below_the_limit_is_the_stop_even_without_a_trigger_status() -> None:
    tracker = UserOrderTracker({"BTC-USD": "BTC/USD"})
    apply(tracker, 0, trigger_status="")
    fill, _ = all_sold(tracker, 1, "88", trigger_status="")
    assert fill.client_order_id == SL


def test_user_bracket_take_profit_part_then_stop_counts_each_legs_own_fills() -> None:
    tracker = UserOrderTracker({"BTC-USD": "BTC/USD"})
    apply(tracker, 0)
    tp_fill, tp_snap = apply(tracker, 1, cumulative_quantity="0.3", leaves_quantity="0.7", filled_value="33")
    assert isinstance(tp_fill, DerivedFill) and (tp_fill.client_order_id, tp_fill.cumulative_qty) == (
        TP,
        D("0.3"),
    )
    assert isinstance(tp_snap, OrderSnapshot) and tp_snap.status is OrderStatus.PARTIALLY_FILLED
    sl_fill, sl_snap = all_sold(tracker, 2, "95.3", trigger_status="STOP_TRIGGERED", avg_price="95.3")
    assert (sl_fill.client_order_id, sl_fill.qty, sl_fill.cumulative_qty) == (SL, D("0.7"), D("0.7"))
    assert (sl_snap.filled_qty, sl_snap.qty, sl_snap.status) == (D("0.7"), D("0.7"), OrderStatus.FILLED)
    assert sl_snap.avg_fill_price == D(89)  # its own 62.3 for 0.7, not the order's 95.3


# -- the adapter against the fake ----------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase(products=["BTC/USD"]) as server:
        server.push_quote("BTC/USD", D(50000), D("50000.5"))
        yield server


def oco(qty: str = "0.01", key: int = KEY) -> OcoRequest:
    return OcoRequest(
        list_client_id=ClientId(PREFIX, None, key).encode(),
        symbol="BTC/USD",
        side=Side.SELL,
        qty=D(qty),
        take_profit_price=D(51000),
        stop_price=D(49000),
        stop_limit_price=D(48755),
        take_profit_client_order_id=our_id(OrderPurpose.TAKE_PROFIT, key),
        stop_loss_client_order_id=our_id(OrderPurpose.STOP_LOSS, key),
    )


def holding(fake: FakeCoinbase, ex: CoinbaseExchange) -> None:
    fake.hold("BTC", D("0.01"))
    ex.symbol_rules("BTC/USD")


def test_adapter_learns_the_bracket_per_product_from_the_preview() -> None:
    with FakeCoinbase(products=["BTC/USD", "ETH/USD"], bracket_refused=["ETH/USD"]) as fake:
        cfg = config(fake).model_copy(update={"symbols": ["BTC/USD", "ETH/USD"]})
        ex = create_exchange(cfg, secrets(), RealClock())
        assert plan_for(ex.capabilities, "BTC/USD") is ProtectionPlan.TP_WITH_GUARDED_SL  # nothing known yet
        create_stream_factory(cfg, RealClock(), secrets(), ex)  # composition loads every product
        assert ex.capabilities.oco_symbols == frozenset({"BTC/USD"}) and fake.previews == 2
        assert plan_for(ex.capabilities, "BTC/USD") is ProtectionPlan.OCO
        assert plan_for(ex.capabilities, "ETH/USD") is ProtectionPlan.TP_WITH_GUARDED_SL
        with pytest.raises(OrderRefused, match="ETH/USD does not accept the bracket"):
            ex.submit_oco(oco().model_copy(update={"symbol": "ETH/USD"}))
        assert fake.engine.all_orders() == ()


def test_adapter_bracket_is_one_venue_order_named_by_the_list_id(fake: FakeCoinbase) -> None:
    ex = exchange(fake)
    holding(fake, ex)
    placed = ex.submit_oco(oco())
    assert [o.client_order_id for o in placed.orders] == [TP, SL]
    assert {o.venue_order_id for o in placed.orders} == {placed.list_id}
    sells = [o for o in fake.engine.open_orders("BTC/USD") if o.side is Side.SELL]
    assert len(sells) == 2 and {o.list_id for o in sells} != {None}  # the fake's engine OCO: one order
    with pytest.raises(OrderRejected, match="already order"):
        ex.submit_oco(oco())  # the same list id again places nothing
    assert len([o for o in fake.engine.all_orders() if o.side is Side.SELL]) == 2


def test_adapter_bracket_whose_answer_was_lost_is_found_by_its_tp_leg(fake: FakeCoinbase) -> None:
    ex = exchange(fake)
    holding(fake, ex)
    fake.faults.lose_next_order_response = True
    with pytest.raises(OutcomeUnknown):
        ex.submit_oco(oco())
    found = ex.get_order("BTC/USD", client_order_id=TP)  # what the monitor asks before placing again
    assert found.status is OrderStatus.NEW and found.list_id is not None
    with pytest.raises(OrderRejected, match="already order"):
        ex.submit_oco(oco())
    assert len([o for o in fake.engine.all_orders() if o.side is Side.SELL]) == 2  # one bracket


def test_adapter_bracket_cancelled_by_a_leg_id_found_after_a_restart(fake: FakeCoinbase) -> None:
    holding(fake, exchange(fake))
    placed = exchange(fake).submit_oco(oco())
    fresh = exchange(fake)  # a new process: nothing remembered
    tp = fresh.get_order("BTC/USD", client_order_id=TP)
    assert (tp.venue_order_id, tp.status, tp.order_type) == (placed.list_id, OrderStatus.NEW, OrderType.LIMIT)
    cancelled = fresh.cancel_order("BTC/USD", client_order_id=SL)
    assert cancelled.client_order_id == SL and cancelled.status is OrderStatus.CANCELED
    assert fresh.open_orders("BTC/USD") == ()
    assert fresh.get_order("BTC/USD", client_order_id=TP).status is OrderStatus.CANCELED


def test_adapter_resized_bracket_never_leaves_two_sells_for_the_same_quantity(fake: FakeCoinbase) -> None:
    ex = exchange(fake)
    holding(fake, ex)
    ex.submit_oco(oco("0.006", key=1))
    ex.cancel_order("BTC/USD", client_order_id=our_id(OrderPurpose.TAKE_PROFIT, 1))
    ex.submit_oco(oco("0.01", key=2))
    live = ex.open_orders("BTC/USD")
    assert {o.client_order_id for o in live} == {
        our_id(OrderPurpose.TAKE_PROFIT, 2),
        our_id(OrderPurpose.STOP_LOSS, 2),
    }
    assert len({o.venue_order_id for o in live}) == 1


def test_adapter_stop_executed_reads_as_the_stop_leg_filled(fake: FakeCoinbase) -> None:
    ex = exchange(fake)
    holding(fake, ex)
    ex.submit_oco(oco())
    fake.push_quote("BTC/USD", D(48990), D(48991))
    sl = ex.get_order("BTC/USD", client_order_id=SL)
    tp = ex.get_order("BTC/USD", client_order_id=TP)
    assert (sl.status, sl.filled_qty, sl.order_type) == (OrderStatus.FILLED, D("0.01"), OrderType.STOP_LIMIT)
    assert (tp.status, tp.filled_qty) == (OrderStatus.CANCELED, D(0))


def test_user_stream_reports_the_executed_leg_of_a_bracket(fake: FakeCoinbase) -> None:
    ex = exchange(fake)
    holding(fake, ex)
    stream = CoinbaseUserStream(
        url=fake.user_ws_url,
        signer=SIGNER,
        clock=RealClock(),
        symbols={"BTC-USD": "BTC/USD"},
        confirm=ex.fills,
    )
    sink = OrderQueueSink()
    stream.start(sink)
    try:
        assert sink.connected.wait(5)
        ex.submit_oco(oco())
        accepted = sink.next_update(TP)
        fake.push_quote("BTC/USD", D(48990), D(48991))
        filled = sink.next_update(SL)
    finally:
        stream.stop()
    assert accepted.kind is OrderEventKind.ACCEPTED and accepted.order_type is OrderType.LIMIT
    assert filled.kind is OrderEventKind.FILLED and filled.order_type is OrderType.STOP_LIMIT
    assert (filled.last_qty, filled.last_price, filled.cum_filled_qty) == (D("0.01"), D(48990), D("0.01"))
    assert filled.trade_id is not None  # confirmed from REST fills


def rest_trade(trade_id: str, size: str, price: str, stamp: str) -> CoinbaseFill:
    return CoinbaseFill(
        trade_id=trade_id,
        order_id="b-1",
        price=price,
        size=size,
        product_id="BTC-USD",
        sequence_timestamp=stamp,
    )


def tp_part_then_stop_sells_as_much(*, confirmed: bool, stop_trade_in_rest: bool = True) -> list[OrderUpdate]:
    """The bracket's fill events on the user channel: its TP leg sells 0.3 at 110 (trade t1), the stop
    triggers, the stop leg sells 0.3 at 89 (trade t2). ``confirmed``: REST fills confirm the derived
    ones, the stop's trade once REST has it (``stop_trade_in_rest``)."""
    rest: list[CoinbaseFill] = []
    stream = CoinbaseUserStream(
        url="ws://127.0.0.1:1",
        signer=SIGNER,
        clock=RealClock(),
        symbols={"BTC-USD": "BTC/USD"},
        confirm=(lambda _order_id: tuple(rest)) if confirmed else None,
    )
    triggered = {"trigger_status": "STOP_TRIGGERED"}
    frames: list[tuple[dict[str, str], CoinbaseFill | None]] = [
        ({}, None),
        (
            {"cumulative_quantity": "0.3", "leaves_quantity": "0.7", "filled_value": "33"},
            rest_trade("t1", "0.3", "110", "a"),
        ),
        ({"cumulative_quantity": "0.3", "leaves_quantity": "0.7", "filled_value": "33"} | triggered, None),
        (
            {
                "cumulative_quantity": "0.6",
                "leaves_quantity": "0.4",
                "filled_value": "59.7",
                "avg_price": "99.5",
            }
            | triggered,
            rest_trade("t2", "0.3", "89", "b") if stop_trade_in_rest else None,
        ),
    ]
    updates = []
    for seq, (order, trade) in enumerate(frames):
        rest += [trade] if trade is not None else []
        updates += stream.updates(parse_frame(user_frame(seq, **order)))
    return [u for u in updates if u.kind.is_fill]


def test_user_bracket_stop_selling_what_the_tp_sold_is_a_fill_of_its_own_unconfirmed() -> None:
    tp_fill, sl_fill = tp_part_then_stop_sells_as_much(confirmed=False)
    assert (tp_fill.client_order_id, tp_fill.cum_filled_qty) == (TP, D("0.3"))
    assert (sl_fill.client_order_id, sl_fill.cum_filled_qty, sl_fill.last_price) == (SL, D("0.3"), D(89))
    dedupe = FillDeduper(capacity=8)
    assert dedupe.first_time(tp_fill.fill_key) and dedupe.first_time(sl_fill.fill_key)
    assert not dedupe.first_time(sl_fill.fill_key)  # a replay of it is still one fill


def test_user_bracket_stop_fill_never_takes_the_tp_legs_trade_while_rest_lags() -> None:
    tp_fill, sl_fill = tp_part_then_stop_sells_as_much(confirmed=True, stop_trade_in_rest=False)
    assert tp_fill.trade_id == "t1" and sl_fill.trade_id != "t1"
    assert tp_fill.fill_key != sl_fill.fill_key and sl_fill.last_qty == D("0.3")


def test_user_bracket_stop_fill_is_confirmed_by_its_own_trade() -> None:
    tp_fill, sl_fill = tp_part_then_stop_sells_as_much(confirmed=True)
    assert (tp_fill.trade_id, tp_fill.last_qty, tp_fill.cum_filled_qty) == ("t1", D("0.3"), D("0.3"))
    assert (sl_fill.trade_id, sl_fill.last_qty, sl_fill.cum_filled_qty) == ("t2", D("0.3"), D("0.3"))
    assert sl_fill.last_price == D(89) and sl_fill.client_order_id == SL
    assert sl_fill.avg_fill_price == D(89)  # its own, not the order's 99.5


def stream_confirming_from(rest: list[CoinbaseFill]) -> CoinbaseUserStream:
    """A user stream whose REST confirmation of an order's trades reads ``rest`` as it is then."""
    return CoinbaseUserStream(
        url="ws://127.0.0.1:1",
        signer=SIGNER,
        clock=RealClock(),
        symbols={"BTC-USD": "BTC/USD"},
        confirm=lambda _order_id: tuple(rest),
    )


def test_user_bracket_stop_after_a_reconnect_snapshot_counts_only_the_stop_legs_fills() -> None:
    """Before a reconnect the TP leg sold 0.3 at 110 (t1), the stop triggered and sold 0.2 at 94 (t2). A
    new connection's snapshot restates the bracket (0.5 sold, stop triggered); the stop then sells 0.2 at
    93 (t3). The stop leg has sold 0.4, as REST says: counted from 0 it would be 0.7, and the monitor,
    which knew the stop leg at 0.2 (and the TP leg at 0.3), would take 0.5 as sold for 0.2 sold."""
    rest = [rest_trade("t1", "0.3", "110", "a"), rest_trade("t2", "0.2", "94", "b")]
    stream = stream_confirming_from(rest)
    triggered = {"trigger_status": "STOP_TRIGGERED", "avg_price": "103.6"}
    snapshot = json.loads(
        user_frame(0, cumulative_quantity="0.5", leaves_quantity="0.5", filled_value="51.8", **triggered)
    )
    snapshot["events"][0]["type"] = "snapshot"
    assert stream.updates(parse_frame(json.dumps(snapshot))) == []
    rest.append(rest_trade("t3", "0.2", "93", "c"))
    update = user_frame(1, cumulative_quantity="0.7", leaves_quantity="0.3", filled_value="70.4", **triggered)
    fills = [u for u in stream.updates(parse_frame(update)) if u.kind.is_fill]
    assert len(fills) == 1
    (fill,) = fills
    assert (fill.client_order_id, fill.last_qty, fill.last_price) == (SL, D("0.2"), D(93))
    _tp, sl = order_legs(
        rest_order(filled_size="0.7", average_filled_price="100.571428", trigger_status="STOP_TRIGGERED"),
        symbol="BTC/USD",
        trades=lambda: tuple(rest),
    )
    assert sl.filled_qty == D("0.4")  # REST: the stop leg's own 0.2 + 0.2
    assert fill.cum_filled_qty == sl.filled_qty


def test_user_bracket_first_seen_in_an_update_with_its_stop_working_splits_the_fills_by_leg() -> None:
    """The first frame of a bracket on this connection is an update (not a snapshot) that already says
    0.5 sold with the stop triggered: its TP leg sold 0.3 at 110 (t1), then the stop 0.2 at 94 (t2). Each
    leg gets its own fill, as REST tells them apart: counted from 0, the stop leg would claim the TP's 0.3
    too, and a REST read (TP leg 0.3, stop leg 0.2) would then add the TP's 0.3 as sold once more."""
    rest = [rest_trade("t1", "0.3", "110", "a"), rest_trade("t2", "0.2", "94", "b")]
    stream = stream_confirming_from(rest)
    update = user_frame(
        0,
        cumulative_quantity="0.5",
        leaves_quantity="0.5",
        filled_value="51.8",
        avg_price="103.6",
        trigger_status="STOP_TRIGGERED",
    )
    fills = [u for u in stream.updates(parse_frame(update)) if u.kind.is_fill]
    tp, sl = order_legs(
        rest_order(filled_size="0.5", average_filled_price="103.6", trigger_status="STOP_TRIGGERED"),
        symbol="BTC/USD",
        trades=lambda: tuple(rest),
    )
    assert [(f.client_order_id, f.trade_id, f.last_qty, f.last_price) for f in fills] == [
        (TP, "t1", D("0.3"), D(110)),
        (SL, "t2", D("0.2"), D(94)),
    ]
    assert (fills[0].cum_filled_qty, fills[1].cum_filled_qty) == (tp.filled_qty, sl.filled_qty)


def tp_sells_then_one_update_with_the_tps_last_sales_and_the_stops_first(
    rest: list[CoinbaseFill],
) -> list[OrderUpdate]:
    """The bracket's fill events: its TP leg sells 0.3 at 110 (t1, its own update), then ONE update
    (stop triggered) holds the TP's next 0.2 at 110 (t2) and the stop's first 0.2 at 94 (t3). REST reads
    ``rest`` as it stands then."""
    stream = stream_confirming_from(rest)
    first = user_frame(
        0, cumulative_quantity="0.3", leaves_quantity="0.7", filled_value="33", avg_price="110"
    )
    both = user_frame(
        1,
        cumulative_quantity="0.7",
        leaves_quantity="0.3",
        filled_value="73.8",
        avg_price="105.428571",
        trigger_status="STOP_TRIGGERED",
    )
    updates = stream.updates(parse_frame(first)) + stream.updates(parse_frame(both))
    return [u for u in updates if u.kind.is_fill]


def test_user_bracket_update_with_the_tps_last_sales_and_the_stops_first_splits_them_by_leg() -> None:
    """Counted from what the TP leg had sold before the update (0.3), the stop leg claimed the TP's t2
    too (0.4 sold, confirmed by t2 and t3): the monitor would take the TP's 0.2 as the stop's, and a
    REST read (TP leg 0.5, stop leg 0.2) would then add it as sold once more."""
    rest = [
        rest_trade("t1", "0.3", "110", "a"),
        rest_trade("t2", "0.2", "110", "b"),
        rest_trade("t3", "0.2", "94", "c"),
    ]
    fills = tp_sells_then_one_update_with_the_tps_last_sales_and_the_stops_first(rest)
    tp, sl = order_legs(
        rest_order(filled_size="0.7", average_filled_price="105.428571", trigger_status="STOP_TRIGGERED"),
        symbol="BTC/USD",
        trades=lambda: tuple(rest),
    )
    assert [(f.client_order_id, f.trade_id, f.last_qty, f.last_price) for f in fills] == [
        (TP, "t1", D("0.3"), D(110)),
        (TP, "t2", D("0.2"), D(110)),
        (SL, "t3", D("0.2"), D(94)),
    ]
    assert (fills[1].cum_filled_qty, fills[2].cum_filled_qty) == (tp.filled_qty, sl.filled_qty)


def test_user_bracket_stop_never_takes_back_what_the_tp_leg_reported_while_rest_lags() -> None:
    """REST has none of the bracket's trades yet when the update with the stop comes: what the TP leg
    sold cannot be told apart from the stop's in it, but what the stream already reported as the TP's
    (0.3) stays the TP's, never counted again as the stop's."""
    fills = tp_sells_then_one_update_with_the_tps_last_sales_and_the_stops_first([])
    assert [(f.client_order_id, f.last_qty, f.cum_filled_qty) for f in fills] == [
        (TP, D("0.3"), D("0.3")),
        (SL, D("0.4"), D("0.4")),
    ]
