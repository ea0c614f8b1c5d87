"""The trading venue's order session (orders over a WebSocket connection) in ``/health``, ``/status`` and
the run summary, beside the user stream's state."""

from __future__ import annotations

from collections.abc import Callable

from autohedge.control import EngineController
from autohedge.core.actor_names import user_stream_name
from autohedge.core.child_states import ChildState
from autohedge.core.order_session import OrderSessionState, OrderSessionStatus
from tests.actors.harness import Harness

DOWN = OrderSessionStatus(
    venue="paper",
    state=OrderSessionState.DOWN,
    connects=2,
    reconnects=1,
    drops=2,
    connect_failures=0,
    requests=7,
    failures=1,
    fallbacks=3,
    last_error="the connection ended",
    next_attempt_in_s=0.5,
)


def with_session(make_harness: Callable[..., Harness], status: OrderSessionStatus) -> Harness:
    h = make_harness()
    h.exchange.order_session_status = lambda: status  # type: ignore[attr-defined]
    h.exchange.open_order_session = lambda: None  # type: ignore[attr-defined]
    return h.start()


def test_health_shows_a_down_order_session_its_counters_and_why(make_harness: Callable[..., Harness]) -> None:
    h = with_session(make_harness, DOWN)

    health = EngineController(h.engine).health()

    assert health.status == "degraded"
    reason = "venue paper order session down (the connection ended): orders go by REST, next attempt in 0.5s"
    assert reason in health.reasons
    assert health.actors[user_stream_name("paper")] is ChildState.RUNNING
    session = health.order_sessions["paper"]
    assert session["connected"] is False and session["state"] == "down"
    counters = ("reconnects", "requests", "failures", "fallbacks")
    assert [session[name] for name in counters] == [1, 7, 1, 3]
    assert session["last_error"] == "the connection ended"


def test_status_and_summary_show_the_order_session_beside_the_user_stream(
    make_harness: Callable[..., Harness],
) -> None:
    h = with_session(make_harness, DOWN)

    venue = EngineController(h.engine).status().venues["paper"]
    summary = h.engine.summary(h.engine.view(), h.positions()).venues["paper"]

    assert venue["user_stream_reconnects"] == 0 and venue["order_session"]["fallbacks"] == 3
    assert summary.order_session is not None and summary.order_session.reconnects == 1


def test_health_without_an_order_session_has_none(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()

    health = EngineController(h.engine).health()

    assert health.order_sessions == {} and health.status == "ok"
    assert h.engine.summary(h.engine.view(), h.positions()).venues["paper"].order_session is None
