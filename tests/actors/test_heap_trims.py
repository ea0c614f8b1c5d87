"""The engine gives freed heap memory back on its own clock: it looks at the resident size every few
seconds and trims after a rise or once a minute; it stops looking when it stops."""

from __future__ import annotations

import gc
import platform
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from autohedge.core.collection import CollectionPolicy
from autohedge.core.heap_trim import HeapTrimPolicy
from autohedge.memory import GlibcHeap
from tests.actors.harness import Harness

MIB = 1 << 20
POLICY = HeapTrimPolicy()


@dataclass
class FakeHeap:
    """A heap whose resident size the test sets; a trim gives back ``freed_bytes``."""

    rss: int = 50 * MIB
    freed_bytes: int = 0
    trims: list[int] = field(default_factory=list)

    def rss_bytes(self) -> int:
        return self.rss

    def trim(self) -> float:
        self.trims.append(self.rss)
        self.rss -= self.freed_bytes
        return 0.000_05


def test_a_rise_is_trimmed_at_the_next_look_and_a_quiet_heap_once_a_minute(
    make_harness: Callable[..., Harness],
) -> None:
    heap = FakeHeap()
    h = make_harness(heap=heap).start()

    h.advance(POLICY.check_s)
    assert heap.trims == []  # nothing grew
    heap.rss, heap.freed_bytes = 53 * MIB, 2 * MIB  # a burst ended: 2 MiB of it is free space
    h.advance(POLICY.check_s)
    assert heap.trims == [53 * MIB] and heap.rss == 51 * MIB
    assert h.metrics.get("heap_trims") == 1 and h.metrics.get("heap_trim_us") == 50

    heap.freed_bytes = 0
    for _ in range(round(POLICY.every_s / POLICY.check_s) - 1):
        h.advance(POLICY.check_s)
    assert len(heap.trims) == 1  # a minute has not passed since the trim
    h.advance(POLICY.check_s)
    assert len(heap.trims) == 2


def test_a_stopped_engine_stops_looking(make_harness: Callable[..., Harness]) -> None:
    heap = FakeHeap()
    h = make_harness(heap=heap).start()
    h.engine.stop()
    heap.rss = 60 * MIB
    h.clock.advance(POLICY.every_s * 2)
    assert heap.trims == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_on_glibc_the_engine_trims_the_process_heap(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    assert isinstance(h.engine._heap, GlibcHeap)
    h.start()
    h.advance(POLICY.every_s)
    assert h.metrics.get("heap_trims") >= 1


def test_the_engine_freezes_what_start_up_built_once_it_settled_and_collects_once_a_period(
    make_harness: Callable[..., Harness],
) -> None:
    policy = CollectionPolicy(first_after_s=5, full_every_s=600)
    gc.unfreeze()
    try:
        h = make_harness(collection=policy).start()
        h.advance(policy.first_after_s - 1)
        assert gc.get_freeze_count() == 0 and h.metrics.get("full_collections") == 0
        h.advance(1)
        assert gc.get_freeze_count() > 0 and h.metrics.get("full_collections") == 1
        assert h.metrics.get("full_collection_us") > 0

        h.advance(policy.full_every_s - 1)
        assert h.metrics.get("full_collections") == 1
        h.advance(1)
        assert h.metrics.get("full_collections") == 2
        h.stop()
        h.advance(policy.full_every_s)
        assert h.metrics.get("full_collections") == 2  # a stopped engine stops collecting
    finally:
        gc.unfreeze()  # this test's interpreter keeps no frozen objects
