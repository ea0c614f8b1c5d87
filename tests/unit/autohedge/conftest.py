import sys
from collections.abc import Iterator

import pytest
from loguru import logger


def _write_to_current_stderr(message: str) -> None:
    sys.stderr.write(message)  # looked up at each write: whatever stderr is in place then


@pytest.fixture(autouse=True)
def restore_log_sink() -> Iterator[None]:
    """``main`` points loguru at the stderr of the moment (a test's capture, closed after the test).
    Afterwards, log to the current stderr instead, so later tests' threads never write into a closed
    stream. Autouse fixtures are set up first, so this one is torn down after ``capsys``."""
    yield
    logger.remove()
    logger.add(_write_to_current_stderr)
