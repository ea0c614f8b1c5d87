"""The process-wide malloc arena cap of ``autohedge run``."""

from __future__ import annotations

import platform

import pytest

from autohedge.memory import MALLOC_ARENAS, limit_malloc_arenas


def test_a_malloc_arena_max_the_user_exported_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas")
def test_the_arena_cap_is_applied_with_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(MALLOC_ARENAS) is True
