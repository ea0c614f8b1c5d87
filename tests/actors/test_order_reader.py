"""The order reader: REST reads of resting entries leave the executor's thread, batched for the venue.

A held read (the exchange proxy blocks the reader inside ``get_order`` until the test releases it) lets a
test put a signal, an order event or a crash between a read's request and its answer; nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from autohedge.actors.executor import TrackedEntry
from autohedge.actors.protocol import ExpireEntry, PollOrders, ReadEntries
from autohedge.actors.reader import read_entries
from autohedge.adapters.binance.constants import CAPABILITIES as BINANCE
from autohedge.adapters.paper.adapter import PaperExchange
from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.actor_names import EXECUTOR, ORDER_READER
from autohedge.core.child_states import ChildState
from autohedge.core.clock import ManualClock
from autohedge.core.config import PaperFaults
from autohedge.core.errors import RateLimited, UnknownOrder
from autohedge.core.messages import OrderRequest, OrderUpdate, Quote
from autohedge.core.reads import EntryRef
from autohedge.core.types import OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for
from tests.actors.proxies import FaultyExchange
from tests.ids import entry_id

HOLD_S = 5.0
"""A held read gives up waiting after this (a test that never releases it fails, never hangs)."""
BTC, ETH, SOL = "BTC/USDT", "ETH/USDT", "SOL/USDT"


class HeldRead:
    """Holds the reader inside a call until released; records which thread it held."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()
        self.thread = ""
        self.ran_out = False

    def wait(self) -> None:
        self.thread = threading.current_thread().name
        self.entered.set()
        if not self._released.wait(HOLD_S):
            self.ran_out = True

    def release(self) -> None:
        self._released.set()


def fills(h: Harness) -> int:
    return h.metrics.snapshot().get("orders_filled", 0)


def tracked(h: Harness, coid: str) -> TrackedEntry | None:
    return next((e for e in h.executor_snapshot().entries if e.client_order_id == coid), None)


def resting_entry(h: Harness, key: int, symbol: str = BTC, price: str = "99") -> str:
    """An entry of ours resting below the market, tracked by the executor (adopted from its event)."""
    h.quote(symbol, "100", "100.02")
    coid = entry_id(key)
    request = OrderRequest(
        client_order_id=coid, symbol=symbol, side=Side.BUY, qty=Decimal(1), price=Decimal(price)
    )
    h.paper_engine.submit_order(request)
    wait_for(lambda: tracked(h, coid) is not None, what="the entry tracked")
    return coid


def poll(h: Harness) -> None:
    """The executor's poll now (its timer, told early)."""
    executor = h.directory.get(EXECUTOR)
    assert executor is not None
    executor.tell(PollOrders())


def partial_engine(clock: ManualClock) -> PaperEngine:
    return PaperEngine(
        clock=clock, balances={"USDT": Decimal(10000)}, fee_rate=Decimal("0.001"), partial_fill_ratio=0.5
    )


def test_a_signal_reaches_the_venue_while_a_slow_read_is_under_way(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    coid = resting_entry(h, 900001)
    h.advance(5.0)  # the read is dated later than the entry's event
    read = HeldRead()
    h.exchange.hold("get_order", read.wait)
    asked_ns = h.clock.wall_ns()

    poll(h)
    assert read.entered.wait(HOLD_S)
    h.trigger_buy(ETH, settle=False)
    wait_for(lambda: bool(h.buys(ETH)), what="the entry at the venue while the read is held")

    assert not read.ran_out  # the read still blocks: the entry did not wait for it
    assert read.thread.startswith("OrderReaderActor")
    read.release()
    h.settle()
    assert not read.ran_out
    entry = tracked(h, coid)
    assert entry is not None and entry.heard_ns == asked_ns  # the read's answer, dated by its send
    assert h.metrics.get("entry_reads") >= 1
    wait_for(lambda: h.is_protected(ETH), what="the new entry's fill protected")


def test_a_read_answered_after_its_entry_filled_changes_nothing(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    coid = resting_entry(h, 900002)
    read = HeldRead()
    h.exchange.hold("get_order", read.wait, after_call=True)  # the venue answers "resting, nothing filled"

    poll(h)
    assert read.entered.wait(HOLD_S)
    h.quote(BTC, "98.95", "98.99")  # the entry fills; its event comes while the read is under way
    wait_for(lambda: h.is_protected(BTC), what="the fill protected from its event")
    held = h.held(BTC).qty
    read.release()
    h.settle()

    assert not read.ran_out
    assert tracked(h, coid) is None  # the old answer does not bring the ended entry back
    assert fills(h) == 1
    assert h.held(BTC).qty == held


def test_a_read_older_than_an_order_event_does_not_set_the_entry_back(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(engine=partial_engine(ManualClock())).start()
    coid = resting_entry(h, 900003)
    read = HeldRead()
    h.exchange.hold("get_order", read.wait, after_call=True)

    poll(h)
    assert read.entered.wait(HOLD_S)
    h.quote(BTC, "98.95", "98.99")  # half of it fills; the event comes while the read is under way
    wait_for(lambda: h.is_protected(BTC), what="the partial fill protected")
    before = tracked(h, coid)
    assert before is not None and before.status is OrderStatus.PARTIALLY_FILLED
    read.release()
    h.settle()

    assert not read.ran_out
    after = tracked(h, coid)
    assert after is not None
    assert (after.filled_qty, after.status) == (before.filled_qty, OrderStatus.PARTIALLY_FILLED)
    assert fills(h) == 1


def test_unknown_to_the_venue_does_not_untrack_an_entry_an_event_proved_meanwhile(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(engine=partial_engine(ManualClock())).start()
    coid = resting_entry(h, 900004)
    read = HeldRead()

    def unknown() -> UnknownOrder:
        read.wait()
        return UnknownOrder("no such order", venue="paper")

    h.exchange.fail("get_order", unknown, thread_prefix="OrderReaderActor")

    poll(h)
    assert read.entered.wait(HOLD_S)
    h.quote(BTC, "98.95", "98.99")  # its partial fill's event proves the order exists
    wait_for(lambda: h.is_protected(BTC), what="the partial fill protected")
    read.release()
    h.settle()

    assert not read.ran_out
    assert tracked(h, coid) is not None
    assert "order_gone" not in h.engine.parts.events.kinds()

    # Unproven, the venue's word stands: the entry is no longer tracked.
    h.exchange.fail("get_order", lambda: UnknownOrder("no such order", venue="paper"))
    poll(h)
    h.settle()
    assert tracked(h, coid) is None
    assert "order_gone" in h.engine.parts.events.kinds()


def test_one_read_in_flight_per_entry(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    resting_entry(h, 900005)
    read = HeldRead()
    h.exchange.hold("get_order", read.wait)

    poll(h)
    assert read.entered.wait(HOLD_S)
    for _ in range(3):
        poll(h)  # the poll timer firing while the read is under way
    h.barrier(EXECUTOR)
    read.release()
    h.settle()

    assert not read.ran_out
    assert h.exchange.calls.count("get_order") == 1


def test_the_reader_crashing_mid_read_reads_again_after_its_restart(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    coid = resting_entry(h, 900006)
    h.exchange.fail("get_order", lambda: RuntimeError("reader bug"), thread_prefix="OrderReaderActor")
    h.user_streams[-1].drop()  # events are missed from now on: the fill is found only by a read
    wait_for(lambda: not h.engine.parts.ledger.live, what="the stream down")
    h.quote(BTC, "98.95", "98.99")  # the entry fills at the venue; nobody hears of it

    poll(h)
    wait_for(lambda: h.child(ORDER_READER).state is ChildState.RESTARTING, what="the reader restarting")
    assert not h.is_protected(BTC)
    delay_s = h.child(ORDER_READER).next_restart_in_s
    assert delay_s is not None
    h.advance(delay_s)

    wait_for(lambda: h.is_protected(BTC), what="the fill read after the restart and protected")
    h.settle()
    assert tracked(h, coid) is None
    assert fills(h) == 1
    assert h.child(ORDER_READER).restarts == 1


# -- the sweep's requests (the reader's function, on the test thread) ---------------------------------


def binance_weighted_paper(clock: ManualClock) -> tuple[PaperEngine, FaultyExchange]:
    engine = PaperEngine(clock=clock, balances={"USDT": Decimal(100000)}, fee_rate=Decimal("0.001"))
    paper = PaperExchange(engine, faults=PaperFaults(), seed=1)
    paper.capabilities = paper.capabilities.model_copy(update={"read_weights": BINANCE.read_weights})
    return engine, FaultyExchange(paper)


def place(engine: PaperEngine, clock: ManualClock, symbols: list[str], per_symbol: int) -> list[EntryRef]:
    refs: list[EntryRef] = []
    for symbol in symbols:
        engine.on_quote(
            Quote(
                venue="paper",
                symbol=symbol,
                bid=Decimal(100),
                ask=Decimal("100.02"),
                ts_event=clock.wall_ns(),
                ts_init=clock.wall_ns(),
            )
        )
        for _ in range(per_symbol):
            coid = entry_id(len(refs) + 1)
            request = OrderRequest(
                client_order_id=coid, symbol=symbol, side=Side.BUY, qty=Decimal(1), price=Decimal(99)
            )
            snapshot = engine.submit_order(request)
            refs.append(EntryRef(coid, symbol, snapshot.venue_order_id))
    return refs


def test_a_sweep_on_one_symbol_is_one_listing_plus_a_read_of_each_entry_it_does_not_show() -> None:
    clock = ManualClock()
    engine, exchange = binance_weighted_paper(clock)
    refs = place(engine, clock, [BTC], 10)
    ended = refs[3]
    engine.cancel_order(BTC, client_order_id=ended.client_order_id)  # ended at the venue, unseen by us

    answer = read_entries(exchange, ReadEntries(read_id=7, entries=tuple(refs)), clock.wall_ns)

    assert exchange.calls == ["open_orders", "get_order"]
    assert (answer.requests, answer.weight) == (2, 6 + 4)  # against 10 reads weighing 40
    assert answer.read_id == 7
    by_coid = {s.client_order_id: s for s in answer.snapshots}
    assert set(by_coid) == {r.client_order_id for r in refs}
    assert by_coid[ended.client_order_id].status is OrderStatus.CANCELED
    assert answer.unknown == () and answer.errors == ()


def test_thirty_entries_on_three_symbols_cost_three_listings() -> None:
    clock = ManualClock()
    engine, exchange = binance_weighted_paper(clock)
    refs = place(engine, clock, [BTC, ETH, SOL], 10)

    answer = read_entries(exchange, ReadEntries(read_id=1, entries=tuple(refs)), clock.wall_ns)

    assert exchange.calls == ["open_orders"] * 3
    assert (answer.requests, answer.weight) == (3, 18)  # one read per entry: 30 requests weighing 120
    assert len(answer.snapshots) == 30


def test_an_entry_the_venue_never_had_is_reported_unknown() -> None:
    clock = ManualClock()
    engine, exchange = binance_weighted_paper(clock)
    refs = place(engine, clock, [BTC], 2)
    never = EntryRef(entry_id(99), BTC)

    answer = read_entries(exchange, ReadEntries(read_id=1, entries=(*refs, never)), clock.wall_ns)

    assert exchange.calls == ["open_orders", "get_order"]
    assert answer.unknown == (never.client_order_id,)
    assert len(answer.snapshots) == 2 and answer.errors == ()


def test_the_venues_pushback_stops_the_sweep_and_is_the_answer_for_every_entry_left() -> None:
    clock = ManualClock()
    engine, exchange = binance_weighted_paper(clock)
    refs = place(engine, clock, [BTC], 2)
    never = EntryRef(entry_id(99), BTC)
    exchange.fail("open_orders", lambda: RateLimited("slow down", venue="paper", retry_after_s=2.0))

    answer = read_entries(exchange, ReadEntries(read_id=1, entries=(*refs, never)), clock.wall_ns)

    assert exchange.calls == ["open_orders"]  # nothing more is sent into the refusal
    assert answer.snapshots == () and answer.unknown == ()
    assert [coid for coid, _ in answer.errors] == [r.client_order_id for r in (*refs, never)]
    assert all(isinstance(error, RateLimited) for _, error in answer.errors)


def test_an_entry_filled_while_the_executor_restarted_is_reported_in_full_by_its_lookup(
    make_harness: Callable[..., Harness],
) -> None:
    # The entry is placed and half filled while no executor runs (its answer and events are dead
    # letters). The next incarnation both lists it among the open orders and looks it up: the lookup's
    # answer reports the whole fill; adopted from the listing, the half filled would count as reported.
    config = make_config(symbols=[BTC, ETH, SOL], executor={"submit_workers": 2})
    h = make_harness(config, engine=partial_engine(ManualClock())).start()
    h.trigger_buy(ETH)  # the executor has read ETH's rules: only SOL's sizing crashes it
    send = HeldRead()
    h.exchange.hold("submit_order", send.wait)
    h.trigger_buy(BTC, settle=False)
    wait_for(lambda: len(h.executor_snapshot().sending) == 1, what="the entry in flight")
    h.exchange.fail("symbol_rules", lambda: RuntimeError("executor bug"), thread_prefix="ExecutorActor")

    h.trigger_buy(SOL, settle=False)
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RESTARTING, what="executor restarting")
    send.release()
    wait_for(lambda: bool(h.buys(BTC)) and h.buys(BTC)[0].filled_qty > 0, what="placed and half filled")
    delay_s = h.child(EXECUTOR).next_restart_in_s
    assert delay_s is not None
    h.advance(delay_s)

    wait_for(lambda: h.is_protected(BTC), what="the fill protected")
    wait_for(lambda: h.child(EXECUTOR).state is ChildState.RUNNING, what="executor running again")
    h.settle()
    assert not send.ran_out
    (buy,) = h.buys(BTC)
    assert h.held(BTC).qty == buy.filled_qty - buy.fee
    assert h.executor_snapshot().unresolved == ()


def binance_cancel_of_an_ended_order(h: Harness) -> None:
    """The next cancel answers as Binance does for an order that is not open any more (-2011): filled or
    cancelled (the paper exchange answers ``OrderRejected``, so the proxy plays Binance)."""
    h.exchange.fail(
        "cancel_order",
        lambda: UnknownOrder("binance 400 -2011: Unknown order sent.", venue="paper", code=-2011),
    )


def test_an_expired_entry_filled_unseen_whose_cancel_is_unknown_is_read_and_protected(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    coid = resting_entry(h, 910001)
    h.user_streams[-1].drop()  # events are missed from now on: the fill is found only by a read
    wait_for(lambda: not h.engine.parts.ledger.live, what="the stream down")
    h.quote(BTC, "98.95", "98.99")  # the entry fills at the venue; nobody hears of it
    (buy,) = [o for o in h.buys(BTC) if o.client_order_id == coid]
    assert buy.status is OrderStatus.FILLED

    # The entry's expiry fires before the next poll reads it: its cancel meets an order that is not open.
    binance_cancel_of_an_ended_order(h)
    executor = h.directory.get(EXECUTOR)
    assert executor is not None
    executor.tell(ExpireEntry(client_order_id=coid))
    h.settle()
    for _ in range(8):  # the fast polls of the stream's down time, then the reconnect and its sweep
        h.advance(1.0)

    wait_for(lambda: h.is_protected(BTC), what="the fill read and protected")
    assert fills(h) == 1
    assert tracked(h, coid) is None


def test_an_entry_whose_cancel_and_read_both_say_unknown_is_no_longer_tracked(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    coid = resting_entry(h, 910002)
    binance_cancel_of_an_ended_order(h)
    # The venue does not know the order at all (its read says so too).
    h.exchange.fail("get_order", lambda: UnknownOrder("binance 400 -2013: no such order", venue="paper"))
    executor = h.directory.get(EXECUTOR)
    assert executor is not None
    executor.tell(ExpireEntry(client_order_id=coid))
    h.settle()
    h.advance(1.0)

    wait_for(lambda: tracked(h, coid) is None, what="the entry unknown to the venue dropped after its read")
    assert "order_gone" in h.engine.parts.events.kinds()
    assert fills(h) == 0


class _FillEventsLost:
    """The user stream's sink, less the fill events: as when a fill's frame is lost or skipped as
    malformed and the order's next event (its cancel) is the first to tell of the fill."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    def on_order_update(self, update: OrderUpdate) -> None:
        if not update.kind.is_fill:
            self._sink.on_order_update(update)


def test_a_fill_told_only_by_its_orders_cancel_event_is_reported_and_protected(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(engine=partial_engine(ManualClock())).start()
    coid = resting_entry(h, 910003)
    stream = h.user_streams[-1]
    stream._sink = _FillEventsLost(stream._sink)
    h.quote(BTC, "98.95", "98.99")  # half of the entry fills; its event is lost
    h.settle()
    h.paper_engine.cancel_order(BTC, client_order_id=coid)  # the cancel's event carries what filled
    h.settle()

    wait_for(lambda: h.is_protected(BTC), what="the half filled protected")
    assert fills(h) == 1 and tracked(h, coid) is None
