"""When the cycle collector may run: never inside a held block, and once a period over everything with
the survivors frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from autohedge.core.collection import CollectionHold, CollectionPolicy, collect_and_freeze


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_hold_turns_automatic_collections_off_until_released() -> None:
    gc.enable()
    hold = CollectionHold()

    hold.hold()
    hold.hold()  # a second hold of the same stretch changes nothing

    assert hold.held and not gc.isenabled()
    hold.release()
    assert not hold.held and gc.isenabled()


def test_a_release_without_a_hold_leaves_the_collector_as_it_is() -> None:
    gc.disable()  # someone else turned it off: not ours to turn on
    CollectionHold().release()
    assert not gc.isenabled()


def test_a_collector_turned_off_before_the_hold_stays_off() -> None:
    gc.disable()
    hold = CollectionHold()
    hold.hold()
    hold.release()
    assert not gc.isenabled()


class _Cycle:
    def __init__(self, size: int = 0) -> None:
        self.me = self
        self.load: list[list[int]] = [[] for _ in range(size)]  # tracked objects the cycle keeps alive


GARBAGE_OBJECTS = 10_000


def test_a_full_collection_frees_cycles_among_frozen_objects_and_freezes_the_survivors() -> None:
    gc.disable()  # only the collections this test makes
    kept = _Cycle()
    garbage = _Cycle(size=GARBAGE_OBJECTS)
    collect_and_freeze()
    assert gc.get_freeze_count() > GARBAGE_OBJECTS
    before = gc.get_freeze_count()
    del garbage  # a cycle frozen while alive, garbage now: the automatic collections never walk it

    took_s = collect_and_freeze()

    assert took_s >= 0
    # The frozen cycle was collected, not kept forever. By a wide margin: other threads of the test
    # process (the runner's) may leave a few new survivors frozen beside it.
    assert gc.get_freeze_count() < before - GARBAGE_OBJECTS // 2
    assert kept.me is kept


def test_the_delays_must_be_positive() -> None:
    with pytest.raises(ValueError, match="full_every_s"):
        CollectionPolicy(full_every_s=0)
    with pytest.raises(ValueError, match="first_after_s"):
        CollectionPolicy(first_after_s=0)
