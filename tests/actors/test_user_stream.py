"""Order events by push on the paper exchange (ManualClock, no sleeps): fills arrive without polling,
duplicates and replays change nothing, an event before the acknowledgement or for an order of a
previous incarnation is still applied, and a dropped stream reconnects, re-subscribes and reconciles
by REST without a double fill."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.adapters.paper.stream import PaperUserStream
from autohedge.core.actor_names import SUPERVISOR, user_stream_name
from autohedge.core.child_states import ChildState
from autohedge.core.clock import ManualClock
from autohedge.core.errors import OutcomeUnknown, VenueUnavailable
from autohedge.core.gates import Gate
from autohedge.core.messages import OrderRequest, Quote
from autohedge.core.types import OrderStatus, Side
from tests.actors.harness import Harness, make_config, wait_for
from tests.ids import entry_id

USER_STREAM = user_stream_name("paper")
MIN_BACKOFF_S = 0.5
"""The harness config's ``supervisor.min_backoff_s`` (no jitter): the first reconnect's wait."""


def partial_engine() -> PaperEngine:
    return PaperEngine(
        clock=ManualClock(),
        balances={"USDT": Decimal(10000)},
        fee_rate=Decimal("0.001"),
        partial_fill_ratio=0.5,
    )


def running_after(h: Harness, *, connections: int) -> Callable[[], bool]:
    """The user stream is connected (the ledger re-based) on its ``connections``-th connection."""
    return lambda: len(h.user_streams) == connections and h.engine.parts.ledger.live


def net_bought(h: Harness, symbol: str) -> Decimal:
    return sum((o.filled_qty - o.fee for o in h.buys(symbol)), Decimal(0))


def test_user_stream_fill_reaches_the_monitor_by_push_without_a_poll(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(engine=partial_engine()).start()
    h.buy_protected("BTC/USDT")
    polls_before = h.exchange.calls.count("get_order")

    h.quote("BTC/USDT", "99.80", "99.85")  # the rest of the entry crosses; the clock does not move
    h.settle()

    wait_for(lambda: h.buys("BTC/USDT")[0].status is OrderStatus.FILLED)
    wait_for(lambda: h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT"), what="pushed fill")
    assert h.exchange.calls.count("get_order") == polls_before


def test_user_stream_duplicate_fill_events_change_the_position_once(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness()
    h.duplicate_fills = True
    h.start()

    h.buy_protected("BTC/USDT")
    h.settle()
    h.barrier(USER_STREAM)  # the duplicate is dropped (and counted) by the user-stream actor
    assert h.metrics.get("duplicate_fills_dropped") >= 1
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")
    assert h.engine.parts.ledger.position("BTC/USDT") == net_bought(h, "BTC/USDT")


def test_user_stream_fill_before_the_acknowledgement_is_applied_once(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    h.exchange.lose_response("submit_order")
    h.exchange.fail(
        "get_order",
        lambda: OutcomeUnknown("timeout", venue="paper"),
        times=10,
        thread_prefix="OrderReaderActor",
    )

    h.trigger_buy("BTC/USDT")  # the response is lost and the venue cannot be asked: only the event tells

    wait_for(lambda: h.is_protected("BTC/USDT"))
    h.advance(0.5)  # the pending "does it exist?" query finds nothing left to resolve
    assert len(h.buys("BTC/USDT")) == 1
    assert h.metrics.get("outcome_unknown_resolved") == 1
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")


def test_user_stream_fill_of_an_entry_from_a_previous_incarnation_is_protected(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    h.quote("BTC/USDT", "100", "100.02")
    h.paper_engine.submit_order(
        OrderRequest(
            client_order_id=entry_id(1147429),
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=Decimal(1),
            price=Decimal(99),
        )
    )

    h.quote("BTC/USDT", "98.95", "98.99")  # the old entry fills now

    wait_for(lambda: h.is_protected("BTC/USDT"))
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")
    assert "entries_adopted" in h.engine.parts.events.kinds()


def test_user_stream_drop_resubscribes_and_reconciles_by_rest_without_double_fill(
    make_harness: Callable[..., Harness],
) -> None:
    config = make_config(executor={"order_poll_interval_s": 5.0}, feed={"stale_after_s": 1000})
    h = make_harness(config, engine=partial_engine()).start()
    h.buy_protected("BTC/USDT")
    first_qty = h.held("BTC/USDT").qty

    h.user_streams[-1].drop()
    h.barrier(USER_STREAM)  # the disconnect is handled: a reconnect timer, no crash
    assert not h.engine.parts.ledger.live and h.child(USER_STREAM).state is ChildState.RUNNING
    h.quote("BTC/USDT", "99.80", "99.85")  # fills while nobody listens: no event will ever tell
    h.settle()
    assert h.held("BTC/USDT").qty == first_qty

    h.advance(MIN_BACKOFF_S)  # reconnect -> subscribe -> REST sweep

    wait_for(running_after(h, connections=2), what="reconnected in place")
    wait_for(lambda: h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT"), what="reconciled fill")
    h.settle()
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")
    assert h.metrics.get("user_stream_reconnects") == 1
    assert h.engine.parts.ledger.rebases >= 2
    assert h.engine.parts.ledger.position("BTC/USDT") == net_bought(h, "BTC/USDT")
    assert h.engine.summary(h.engine.view(), h.positions()).venues["paper"].user_stream_reconnects == 1
    assert h.child(USER_STREAM).restarts == 0 and h.child(USER_STREAM).incarnation == 1


class HeartbeatUserStream(PaperUserStream):
    """A paper stream whose venue promises heartbeats (like Kraken's and Coinbase's), beating when the
    test says; ``stall`` stops it talking without closing: a peer gone without a word."""

    max_silence_s = 10.0

    def heartbeat(self) -> None:
        assert self._sink is not None
        self._sink.on_heartbeat()

    def stall(self) -> None:
        self._closed = True  # nothing delivered any more, and the sink never hears why


def test_user_stream_silent_while_connected_is_reconnected_and_reconciled(
    make_harness: Callable[..., Harness],
) -> None:
    """The venue stops talking but the socket stays open: no heartbeat, no event, no close. The fill
    made meanwhile is never pushed; left connected, the stream was taken for live for good (only the
    slow safety poll read the venue). Ten seconds of silence make it a disconnect: reconnect, then the
    REST sweep."""
    config = make_config(executor={"order_poll_interval_s": 5.0}, feed={"stale_after_s": 1000})
    h = make_harness(config, engine=partial_engine())
    h.user_stream_cls = HeartbeatUserStream
    h.start()
    stream = h.user_streams[-1]
    assert isinstance(stream, HeartbeatUserStream)
    for _ in range(4):  # heartbeats keep a quiet stream connected
        h.advance(4)
        stream.heartbeat()
    assert len(h.user_streams) == 1
    h.buy_protected("BTC/USDT")
    first_qty = h.held("BTC/USDT").qty

    stream.stall()
    h.quote("BTC/USDT", "99.80", "99.85")  # fills while the stream says nothing
    h.settle()
    assert h.held("BTC/USDT").qty == first_qty
    h.advance(15)  # silent for longer than max_silence_s at a check (every 5 s): closed, reconnect timer
    h.advance(MIN_BACKOFF_S)

    wait_for(running_after(h, connections=2), what="reconnected after the stall")
    wait_for(lambda: h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT"), what="reconciled fill")
    assert h.metrics.get("user_stream_stalls") == 1 and h.metrics.get("user_stream_reconnects") == 1


def test_user_stream_dropped_right_after_every_connect_backs_off_instead_of_hammering_the_venue(
    make_harness: Callable[..., Harness],
) -> None:
    """The venue accepts every connection and drops it at once (a kicked session, a socket closed right
    after the subscription). Each connection reconciled, and the reconcile restarted the backoff: the
    stream reconnected every half second for as long as it lasted, each time with a REST sweep, far past
    the venues' connection-attempt limits (Kraken bans an address for 10 min after ~150 in 10 min). A
    connection counts as healthy, and the backoff starts over, only once it has stayed up for
    ``supervisor.reset_after_s``."""
    h = make_harness(make_config(feed={"stale_after_s": 1000})).start()
    delays = []
    for n in range(1, 5):
        wait_for(running_after(h, connections=n), what="user stream connected")
        h.user_streams[-1].drop()
        h.barrier(USER_STREAM)
        waited = 0.0
        while len(h.user_streams) == n and waited < 60:
            h.advance(MIN_BACKOFF_S)
            waited += MIN_BACKOFF_S
        delays.append(waited)
    assert delays == [0.5, 1.0, 2.0, 4.0]  # min_backoff_s * 2**n: the backoff runs on
    wait_for(running_after(h, connections=5), what="user stream connected")

    h.advance(h.config.supervisor.reset_after_s)  # this connection stays up: healthy again
    h.user_streams[-1].drop()
    h.barrier(USER_STREAM)
    h.advance(MIN_BACKOFF_S)
    wait_for(running_after(h, connections=6), what="reconnected at the first backoff again")


def test_user_stream_failing_again_and_again_degrades_the_venue_without_a_restart(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(make_config(feed={"stale_after_s": 1000})).start()
    for n in range(3):  # supervisor.max_restarts is 3 in the harness config: 3 failures in the window
        wait_for(running_after(h, connections=n + 1), what="user stream connected")
        h.user_streams[-1].drop()
        h.barrier(USER_STREAM)
        if n < 2:
            h.advance(MIN_BACKOFF_S * 2**n)  # each connection dropped at once: the backoff runs on
    h.barrier(SUPERVISOR)

    view = h.engine.view()
    assert Gate.user_stream_degraded("paper") in view.gates and not view.kill_switch
    assert h.engine.health(view)[0] == "degraded"

    h.advance(MIN_BACKOFF_S * 4)  # it keeps reconnecting in place
    wait_for(lambda: Gate.user_stream_degraded("paper") not in h.engine.view().gates, what="venue recovered")
    assert h.child(USER_STREAM).restarts == 0 and h.metrics.get("user_stream_reconnects") == 3


def test_user_stream_fill_of_a_previous_run_entry_during_its_open_orders_read_is_protected(
    make_harness: Callable[..., Harness],
) -> None:
    # A previous run left an entry resting; nothing of the symbol is held, so the monitor tracks nothing.
    clock = ManualClock()
    engine = PaperEngine(
        clock=clock, balances={"USDT": Decimal(10000)}, fee_rate=Decimal("0.001"), partial_fill_ratio=0.5
    )
    engine.on_quote(
        Quote(venue="t", symbol="BTC/USDT", bid=Decimal(100), ask=Decimal("100.02"), ts_event=0, ts_init=0)
    )
    engine.submit_order(
        OrderRequest(
            client_order_id=entry_id(1147430),
            symbol="BTC/USDT",
            side=Side.BUY,
            qty=Decimal(1),
            price=Decimal(99),
        )
    )
    h = make_harness(engine=engine)
    # The executor's first listing of open orders is refused: it reads them again a moment later.
    h.exchange.fail(
        "open_orders", lambda: VenueUnavailable("busy", venue="paper"), thread_prefix="ExecutorActor"
    )
    h.start()  # reconciled: nothing held of BTC/USDT
    assert h.position("BTC/USDT") is None

    def fill_now() -> (
        None
    ):  # the entry fills in part while the listing is on its way: its event comes after it
        engine.on_quote(
            Quote(
                venue="t",
                symbol="BTC/USDT",
                bid=Decimal("98.95"),
                ask=Decimal("98.99"),
                ts_event=0,
                ts_init=0,
            )
        )

    h.exchange.hold("open_orders", fill_now)
    h.advance(1.5)  # the executor's second listing (1.25 s after the refusal)

    assert engine.held_qty("BTC/USDT") > 0
    wait_for(lambda: h.is_protected("BTC/USDT"), what="the old entry's fill protected")
    assert h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT")
    h.quote("BTC/USDT", "98.95", "98.99")  # the rest fills: its event is a fill of the tracked entry
    h.settle()
    wait_for(lambda: h.held("BTC/USDT").qty == net_bought(h, "BTC/USDT"), what="the rest protected")
    assert h.buys("BTC/USDT")[0].status is OrderStatus.FILLED
