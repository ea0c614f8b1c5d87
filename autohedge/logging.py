"""Log setup: loguru to stderr, one line per event; the standard library's records (pykka's) routed in."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

from loguru import logger

__all__ = ["configure_logging"]

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level:<8} | {message}"


def _write_above_progress_bar(line: str) -> None:
    """The logging thread (any): one formatted line, its newline included."""
    # Imported here: only a command drawing a progress bar (backtest) writes through it.
    from tqdm import tqdm

    tqdm.write(line, end="", file=sys.stderr)


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info, depth=6).log(level, "{}: {}", record.name, record.getMessage())


def configure_logging(level: str = "INFO", *, above_progress_bar: bool = False) -> None:
    """Replace loguru's default sink; route stdlib logging (pykka, urllib3) through loguru.
    ``above_progress_bar``: lines go through tqdm, which writes them above a bar it is drawing on
    stderr and redraws the bar (instead of a line breaking the bar in two)."""
    logger.remove()
    sink: TextIO | Callable[[str], None] = sys.stderr
    if above_progress_bar:
        sink = _write_above_progress_bar
    logger.add(sink, level=level, format=LOG_FORMAT, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
