from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.actors.harness import Harness


@pytest.fixture
def make_harness() -> Iterator[Callable[..., Harness]]:
    """Build (not start) a harness; every one built is stopped at teardown."""
    built: list[Harness] = []

    def make(*args: Any, **kwargs: Any) -> Harness:
        h = Harness(*args, **kwargs)
        built.append(h)
        return h

    yield make
    for h in built:
        h.stop()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness().start()
