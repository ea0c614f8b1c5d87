import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from autohedge.adapters.paper.engine import KEEP_FINISHED_ORDERS, PaperEngine, history_path
from autohedge.core.clock import ManualClock
from autohedge.core.errors import ConfigError, InsufficientFunds, OrderRejected, UnknownOrder
from autohedge.core.messages import OcoRequest, OrderRequest, Quote
from autohedge.core.types import OrderStatus, OrderType, Side

D = Decimal
FEE_RATE = D("0.001")


def engine(
    tmp_state: Path | None = None,
    *,
    balances: Mapping[str, Decimal] | None = None,
    fee_rate: Decimal = FEE_RATE,
    partial_fill_ratio: float = 0.0,
    flush_on_demand: bool = False,
) -> PaperEngine:
    return PaperEngine(
        clock=ManualClock(),
        balances={"USDT": D(10000)} if balances is None else balances,
        fee_rate=fee_rate,
        partial_fill_ratio=partial_fill_ratio,
        state_file=tmp_state,
        flush_on_demand=flush_on_demand,
    )


def quote(bid: str, ask: str, symbol: str = "BTC/USDT") -> Quote:
    return Quote(venue="t", symbol=symbol, bid=D(bid), ask=D(ask), ts_event=0, ts_init=0)


def buy(coid: str, qty: str, price: str) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="BTC/USDT", side=Side.BUY, qty=D(qty), price=D(price))


def oco(qty: str, tp: str = "110", stop: str = "90", limit: str = "89") -> OcoRequest:
    return OcoRequest(
        list_client_id="l1",
        symbol="BTC/USDT",
        side=Side.SELL,
        qty=D(qty),
        take_profit_price=D(tp),
        stop_price=D(stop),
        stop_limit_price=D(limit),
        take_profit_client_order_id="tp1",
        stop_loss_client_order_id="sl1",
    )


def test_engine_resting_buy_locks_quote_and_fills_at_limit_when_ask_drops() -> None:
    e = engine()
    e.on_quote(quote("100", "101"))
    order = e.submit_order(buy("b1", "1", "99"))
    assert order.status is OrderStatus.NEW
    assert e.balances()["USDT"].locked == D(99)

    e.on_quote(quote("98", "98.5"))

    filled = e.get_order("BTC/USDT", client_order_id="b1")
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == D(99)
    assert e.balances()["BTC"].free == D("0.999")  # fee in base
    assert e.balances()["USDT"].total == D(10000 - 99)


def test_engine_marketable_buy_fills_at_the_ask_and_releases_the_improvement() -> None:
    e = engine()
    e.on_quote(quote("99", "100"))
    snap = e.submit_order(buy("b1", "1", "105"))
    assert snap.status is OrderStatus.FILLED and snap.avg_fill_price == D(100)
    assert e.balances()["USDT"].free == D(9900)


def test_engine_partial_fill_ratio_fills_in_steps() -> None:
    e = engine(partial_fill_ratio=0.5)
    e.on_quote(quote("99", "100"))
    assert e.submit_order(buy("b1", "1", "100")).status is OrderStatus.PARTIALLY_FILLED
    e.on_quote(quote("99", "100"))
    snap = e.get_order("BTC/USDT", client_order_id="b1")
    assert snap.status is OrderStatus.FILLED and snap.filled_qty == D(1) and snap.fee == D("0.001")


def test_engine_fee_step_charges_fees_in_whole_units_so_balances_keep_the_venues_precision() -> None:
    step = D("0.00000001")
    e = PaperEngine(clock=ManualClock(), balances={"USDT": D(10000)}, fee_rate=FEE_RATE, fee_step=step)
    e.on_quote(quote("59999.99", "60000.01"))
    snap = e.submit_order(buy("b1", "0.001665", "60000.01"))  # an exact fee would be 0.000001665 BTC

    assert snap.fee == D("0.00000166")
    held = e.balances()["BTC"].free
    assert held == D("0.00166334") and held == held.quantize(step)  # what an 8-decimal report shows


def test_engine_insufficient_funds_changes_nothing() -> None:
    e = engine(balances={"USDT": D(50)})
    with pytest.raises(InsufficientFunds):
        e.submit_order(buy("b1", "1", "99"))
    assert e.balances()["USDT"].free == D(50) and e.all_orders() == ()


def test_engine_duplicate_client_id_rejected_and_no_second_order() -> None:
    e = engine()
    e.submit_order(buy("b1", "0.1", "99"))
    with pytest.raises(OrderRejected, match="duplicate"):
        e.submit_order(buy("b1", "0.1", "99"))
    assert len(e.all_orders()) == 1


def test_engine_rules_refuse_off_tick_price_and_tiny_notional() -> None:
    e = engine()
    with pytest.raises(OrderRejected, match="tick"):
        e.submit_order(buy("b1", "1", "99.001"))
    with pytest.raises(OrderRejected, match="notional"):
        e.submit_order(buy("b2", "0.001", "99"))


def test_engine_oco_locks_base_once_and_tp_fill_cancels_stop() -> None:
    e = engine(balances={"USDT": D(0), "BTC": D(1)})
    e.on_quote(quote("100", "101"))
    e.submit_oco(oco("1"))
    assert e.balances()["BTC"].locked == D(1)

    e.on_quote(quote("110", "111"))

    assert e.get_order("BTC/USDT", client_order_id="tp1").status is OrderStatus.FILLED
    assert e.get_order("BTC/USDT", client_order_id="sl1").status is OrderStatus.CANCELED
    assert "BTC" not in e.balances() and e.balances()["USDT"].free == D("109.89")


def test_engine_oco_stop_trigger_fills_stop_leg_and_cancels_tp() -> None:
    e = engine(balances={"USDT": D(0), "BTC": D(1)})
    e.on_quote(quote("100", "101"))
    e.submit_oco(oco("1"))

    e.on_quote(quote("89.5", "90"))

    sl = e.get_order("BTC/USDT", client_order_id="sl1")
    assert (
        sl.status is OrderStatus.FILLED
        and sl.order_type is OrderType.STOP_LIMIT
        and sl.avg_fill_price == D("89.5")
    )
    assert e.get_order("BTC/USDT", client_order_id="tp1").status is OrderStatus.CANCELED


def test_engine_cancel_one_leg_cancels_the_list_and_unlocks() -> None:
    e = engine(balances={"USDT": D(0), "BTC": D(1)})
    e.submit_oco(oco("1"))
    e.cancel_order("BTC/USDT", client_order_id="sl1")
    assert e.open_orders() == ()
    assert e.balances()["BTC"].free == D(1)


def test_engine_unknown_and_terminal_orders() -> None:
    e = engine()
    with pytest.raises(UnknownOrder):
        e.get_order("BTC/USDT", client_order_id="nope")
    e.submit_order(buy("b1", "0.1", "99"))
    e.cancel_order("BTC/USDT", client_order_id="b1")
    with pytest.raises(OrderRejected, match="not open"):
        e.cancel_order("BTC/USDT", client_order_id="b1")


def test_engine_positions_report_average_entry_price() -> None:
    e = engine(fee_rate=D(0))
    e.on_quote(quote("99", "100"))
    e.submit_order(buy("b1", "1", "100"))
    e.on_quote(quote("109", "110"))
    e.submit_order(buy("b2", "1", "110"))
    (position,) = e.positions(["BTC/USDT", "ETH/USDT"])
    assert position.qty == D(2) and position.avg_entry_price == D(105)


def test_engine_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.on_quote(quote("99", "100"))
    e.submit_order(buy("b1", "1", "100"))
    e.submit_order(buy("b2", "0.1", "90"))

    again = engine(state, balances={"USDT": D(1)})  # starting balances are ignored when state exists

    assert again.balances() == e.balances()
    assert [o.client_order_id for o in again.open_orders()] == ["b2"]
    assert again.positions(["BTC/USDT"])[0].avg_entry_price == D(100)
    with pytest.raises(OrderRejected, match="duplicate"):
        again.submit_order(buy("b1", "0.1", "90"))


def test_engine_trade_ids_stay_unique_across_restarts_of_one_state_file(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    trade_ids: list[str] = []
    e = engine(state)
    e.add_listener(lambda update: trade_ids.append(update.trade_id) if update.trade_id else None)
    e.on_quote(quote("99", "100"))
    e.submit_order(buy("b1", "0.1", "100"))

    again = engine(state)
    again.add_listener(lambda update: trade_ids.append(update.trade_id) if update.trade_id else None)
    again.on_quote(quote("99", "100"))
    again.submit_order(buy("b2", "0.1", "100"))

    assert len(trade_ids) == 2 and len(set(trade_ids)) == 2, trade_ids


def test_engine_crash_mid_write_leaves_previous_state(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.submit_order(buy("b1", "0.1", "90"))
    before = state.read_text(encoding="utf-8")
    (tmp_path / "paper.json.tmp").write_text('{"version": 1, "counter"', encoding="utf-8")  # a torn temp file

    again = engine(state)

    assert state.read_text(encoding="utf-8") == before
    assert [o.client_order_id for o in again.open_orders()] == ["b1"]


def test_engine_corrupt_state_file_is_a_config_error(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    state.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        engine(state)
    assert info.value.key_path == "paper.state_file"


def test_engine_state_writes_are_atomic_replacements(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.submit_order(buy("b1", "0.1", "90"))
    inode = os.stat(state).st_ino
    e.submit_order(buy("b2", "0.1", "90"))
    assert os.stat(state).st_ino != inode  # replaced, never rewritten in place
    assert json.loads(state.read_text(encoding="utf-8"))["counter"] == 2


def test_engine_state_file_holds_open_orders_only_and_history_gets_each_finished_order_once(
    tmp_path: Path,
) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.on_quote(quote("100", "101"))
    e.submit_order(buy("b1", "0.1", "101"))  # fills at once
    e.submit_order(buy("b2", "0.1", "90"))  # rests

    saved = json.loads(state.read_text())
    history = [json.loads(line) for line in history_path(state).read_text().splitlines()]

    assert [o["client_order_id"] for o in saved["orders"]] == ["b2"]
    assert [o["client_order_id"] for o in history] == ["b1"]
    assert e.get_order("BTC/USDT", client_order_id="b1").status is OrderStatus.FILLED


def test_engine_state_bytes_do_not_grow_with_finished_orders(tmp_path: Path) -> None:
    e = engine(tmp_path / "paper.json", balances={"USDT": D(10**9)})
    e.on_quote(quote("100", "101"))
    sizes = []
    for n in range(3 * KEEP_FINISHED_ORDERS):
        e.submit_order(buy(f"b{n:05d}", "0.1", "101"))
        sizes.append(e.state_bytes)

    after_first_window = sizes[KEEP_FINISHED_ORDERS:]
    assert max(after_first_window) - min(after_first_window) < 16  # balances' digits only
    assert len(e.all_orders()) == KEEP_FINISHED_ORDERS
    assert len(history_path(tmp_path / "paper.json").read_text().splitlines()) == 3 * KEEP_FINISHED_ORDERS


def test_engine_forgotten_order_is_unknown_and_its_client_id_free() -> None:
    e = engine(balances={"USDT": D(10**9)})
    e.on_quote(quote("100", "101"))
    for n in range(KEEP_FINISHED_ORDERS + 1):
        e.submit_order(buy(f"b{n}", "0.1", "101"))

    with pytest.raises(UnknownOrder):
        e.get_order("BTC/USDT", client_order_id="b0")
    assert e.get_order("BTC/USDT", client_order_id="b1").status is OrderStatus.FILLED


def test_engine_sold_qty_counts_filled_sells_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.on_quote(quote("100", "101"))
    e.submit_order(buy("b1", "1", "101"))
    e.submit_order(
        OrderRequest(client_order_id="s1", symbol="BTC/USDT", side=Side.SELL, qty=D("0.5"), price=D(99))
    )

    reloaded = engine(state)

    assert e.sold_qty("BTC/USDT") == D("0.5")
    assert reloaded.sold_qty("BTC/USDT") == D("0.5")
    assert reloaded.held_qty("BTC/USDT") == D("0.499")


def test_engine_reads_a_version_1_state_file_keeping_only_open_orders(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state)
    e.on_quote(quote("100", "101"))
    e.submit_order(buy("b1", "0.1", "101"))
    e.submit_order(buy("b2", "0.1", "90"))
    finished = _order_json(e, "b1")
    saved = json.loads(state.read_text())
    saved.update(version=1, client_ids=["b1", "b2"], orders=[finished, *saved["orders"]])
    del saved["sold"]
    state.write_text(json.dumps(saved))

    reloaded = engine(state)

    assert [o.client_order_id for o in reloaded.open_orders()] == ["b2"]
    assert reloaded.sold_qty("BTC/USDT") == D(0)


def _order_json(e: PaperEngine, coid: str) -> dict[str, object]:
    history = e._state_file
    assert history is not None
    lines = history_path(history).read_text().splitlines()
    return next(o for o in map(json.loads, lines) if o["client_order_id"] == coid)


def test_engine_flush_on_demand_writes_the_state_only_when_flushed(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state, flush_on_demand=True)
    e.on_quote(quote("100", "101"))
    e.submit_order(buy("b1", "0.1", "101"))
    e.submit_order(buy("b2", "0.1", "90"))
    assert not state.exists()

    e.flush()

    assert [o["client_order_id"] for o in json.loads(state.read_text())["orders"]] == ["b2"]
    assert [json.loads(line)["client_order_id"] for line in history_path(state).read_text().splitlines()] == [
        "b1"
    ]
    assert engine(state).balances() == e.balances()


def test_engine_trade_ids_of_a_state_file_without_the_counter_never_repeat_an_open_orders(
    tmp_path: Path,
) -> None:
    """A file written before the trade counter was kept: an order it holds partly filled must not get
    a trade id it already had (a journal keys its fills by order and trade id)."""
    state = tmp_path / "paper.json"
    trade_ids: list[str] = []
    e = engine(state, partial_fill_ratio=0.25)
    e.add_listener(lambda update: trade_ids.append(update.trade_id) if update.trade_id else None)
    e.on_quote(quote("99", "100"))
    e.submit_order(buy("b1", "1", "100"))  # one quarter fills at once
    e.submit_order(buy("b2", "1", "100"))
    e.on_quote(quote("99", "100"))
    assert trade_ids == ["1", "2", "3", "4"]
    legacy = json.loads(state.read_text(encoding="utf-8"))
    del legacy["trade_seq"]
    state.write_text(json.dumps(legacy), encoding="utf-8")

    again = engine(state, partial_fill_ratio=0.25)
    again.add_listener(lambda update: trade_ids.append(update.trade_id) if update.trade_id else None)
    again.on_quote(quote("99", "100"))

    assert len(trade_ids) == 6 and len(set(trade_ids)) == 6, trade_ids
    assert all(int(later) > 4 for later in trade_ids[4:]), trade_ids


def test_engine_stop_leg_partly_filled_keeps_its_lock_after_the_tp_leg_is_forgotten_or_restarted(
    tmp_path: Path,
) -> None:
    """Simulation, config.yaml seed 22: a partial fill of the stop leg cancels the take-profit leg that
    held the list's lock; once that leg was evicted as finished (or not reloaded after a restart), the
    stop leg's next fill looked its lock holder up and raised KeyError."""
    state = tmp_path / "paper.json"
    e = engine(state, balances={"USDT": D(10**9), "BTC": D(1)}, partial_fill_ratio=0.5)
    e.on_quote(quote("100", "101"))
    e.submit_oco(oco("1"))
    e.on_quote(quote("89.5", "90"))  # the stop triggers and sells half; the take-profit leg is cancelled
    assert e.get_order("BTC/USDT", client_order_id="tp1").status is OrderStatus.CANCELED
    assert e.get_order("BTC/USDT", client_order_id="sl1").status is OrderStatus.PARTIALLY_FILLED
    for n in range(KEEP_FINISHED_ORDERS + 1):  # enough finished orders to evict the take-profit leg
        e.submit_order(buy(f"b{n:05d}", "0.1", "80"))
        e.cancel_order("BTC/USDT", client_order_id=f"b{n:05d}")
    with pytest.raises(UnknownOrder):
        e.get_order("BTC/USDT", client_order_id="tp1")
    restarted = engine(state)

    for venue in (e, restarted):
        venue.on_quote(quote("89.5", "90"))
        sl = venue.get_order("BTC/USDT", client_order_id="sl1")
        assert sl.status is OrderStatus.FILLED and sl.filled_qty == D(1)
        assert "BTC" not in venue.balances()  # all sold, nothing left locked
        assert venue.sold_qty("BTC/USDT") == D(1)


def test_engine_reads_a_state_file_whose_open_leg_names_a_finished_lock_holder(tmp_path: Path) -> None:
    state = tmp_path / "paper.json"
    e = engine(state, balances={"USDT": D(0), "BTC": D(1)}, partial_fill_ratio=0.5)
    e.on_quote(quote("100", "101"))
    e.submit_oco(oco("1"))
    e.on_quote(quote("89.5", "90"))
    saved = json.loads(state.read_text())
    (leg,) = saved["orders"]
    leg["lock_owner"], leg["locked"] = "P1", "0"  # as written before the open leg took the lock over
    state.write_text(json.dumps(saved))

    restarted = engine(state)
    restarted.on_quote(quote("89.5", "90"))

    assert restarted.get_order("BTC/USDT", client_order_id="sl1").status is OrderStatus.FILLED
    assert "BTC" not in restarted.balances()
