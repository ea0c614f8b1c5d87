import random

from autohedge.core.clock import NS_PER_S
from autohedge.sim.order_events import EventFaults

S = NS_PER_S


def faults(seed: int = 1, **rates: float) -> EventFaults[str]:
    values = {"duplicate_rate": 0.0, "delay_rate": 0.0, "reorder_rate": 0.0, "max_delay_s": 2.0, **rates}
    return EventFaults(
        random.Random(seed),
        duplicate_rate=values["duplicate_rate"],
        delay_rate=values["delay_rate"],
        reorder_rate=values["reorder_rate"],
        max_delay_s=values["max_delay_s"],
    )


def test_order_events_without_faults_pass_through_in_order() -> None:
    f = faults()

    assert [f.offer(n, e) for n, e in enumerate("abc")] == [["a"], ["b"], ["c"]]
    assert f.next_due_ns() is None and not f.injected


def test_order_events_duplicate_delivers_twice() -> None:
    f = faults(duplicate_rate=1.0)

    assert f.offer(0, "a") == ["a", "a"]
    assert f.injected["order_event_duplicate"] == 1


class Scripted(random.Random):
    """Draws given in advance."""

    def __init__(self, draws: list[float]) -> None:
        super().__init__(0)
        self._draws = draws

    def random(self) -> float:
        return self._draws.pop(0)


def test_order_events_delayed_event_arrives_after_later_ones() -> None:
    # "a": delayed (0.1 < 0.5) by the whole two seconds (1.0); "b": not delayed (0.9).
    f = EventFaults[str](
        Scripted([0.1, 1.0, 0.9]), duplicate_rate=0, delay_rate=0.5, reorder_rate=0, max_delay_s=2
    )

    assert f.offer(0, "a") == []
    assert f.offer(S, "b") == ["b"]
    assert f.due(2 * S) == ["a"]


def test_order_events_delayed_event_arrives_at_its_time() -> None:
    f = faults(delay_rate=1.0)
    f.offer(0, "a")
    due = f.next_due_ns()
    assert due is not None

    assert f.due(due - 1) == []
    assert f.due(due) == ["a"]


def test_order_events_reorder_delivers_the_next_event_first() -> None:
    f = faults(reorder_rate=1.0)

    assert f.offer(0, "a") == []
    assert f.offer(1, "b") == ["b", "a"]
    assert f.injected["order_event_reorder"] == 1


def test_order_events_reordered_event_alone_is_released_after_max_delay() -> None:
    f = faults(reorder_rate=1.0, max_delay_s=1.0)
    f.offer(0, "a")

    assert f.next_due_ns() == S
    assert f.due(S) == ["a"]


def test_order_events_same_seed_same_deliveries() -> None:
    def run(seed: int) -> list[list[str]]:
        f = faults(seed, duplicate_rate=0.3, delay_rate=0.3, reorder_rate=0.3)
        out = [f.offer(n * S, str(n)) + f.due(n * S) for n in range(200)]
        return [*out, f.due(10**6 * S)]

    assert run(4) == run(4)
    assert sorted(e for batch in run(4) for e in set(batch)) == sorted(str(n) for n in range(200))
