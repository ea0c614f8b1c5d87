from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.actors.harness import Harness

# Property tests run the same examples every time (a failure is one a rerun shows again) and are never
# failed by the machine's speed: on two loaded cores the default 200 ms deadline and the slow-input
# health check failed a test that had found nothing wrong.
settings.register_profile(
    "autohedge",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("autohedge")


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
