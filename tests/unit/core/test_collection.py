"""When the cycle collector may run: never inside a held block, and once a period over everything with
the survivors frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from autohedge.core.collection import CollectionPolicy, collect_and_freeze, collection_held


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_held_block_runs_without_automatic_collections_and_gives_them_back() -> None:
    gc.enable()
    with collection_held():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_held_block_gives_them_back_when_it_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collection_held():
        raise RuntimeError("a handler's bug")
    assert gc.isenabled()


def test_a_collector_turned_off_before_the_block_stays_off() -> None:
    gc.disable()
    with collection_held():
        pass
    assert not gc.isenabled()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_full_collection_frees_cycles_among_frozen_objects_and_freezes_the_survivors() -> None:
    gc.disable()  # only the collections this test makes
    kept = _Cycle()
    garbage = _Cycle()
    collect_and_freeze()
    assert gc.get_freeze_count() > 0
    before = gc.get_freeze_count()
    del garbage  # a cycle frozen while alive, garbage now: the automatic collections never walk it

    took_s = collect_and_freeze()

    assert took_s >= 0
    assert gc.get_freeze_count() < before  # the frozen cycle was collected, not kept forever
    assert kept.me is kept


def test_the_delays_must_be_positive() -> None:
    with pytest.raises(ValueError, match="full_every_s"):
        CollectionPolicy(full_every_s=0)
    with pytest.raises(ValueError, match="first_after_s"):
        CollectionPolicy(first_after_s=0)
