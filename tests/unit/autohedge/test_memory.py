"""The process-wide malloc arena cap of ``autohedge run`` and the heap handle the engine trims."""

from __future__ import annotations

import platform
import sys

import pytest

from autohedge.memory import MALLOC_ARENAS, glibc_heap, limit_malloc_arenas


def test_a_malloc_arena_max_the_user_exported_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas")
def test_the_arena_cap_is_applied_with_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(MALLOC_ARENAS) is True


def test_off_linux_nothing_is_capped_or_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert glibc_heap() is None and limit_malloc_arenas() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_the_glibc_heap_reads_the_resident_size_and_trims() -> None:
    heap = glibc_heap()
    assert heap is not None
    blocks = [bytes(4096) for _ in range(2048)]  # 8 MiB resident, then freed: the trim may give it back
    assert heap.rss_bytes() > 8 << 20
    del blocks
    assert heap.trim() >= 0.0
