"""Log setup: loguru to stderr, one line per event; the standard library's records (pykka's) routed in."""

from __future__ import annotations

import logging
import sys

from loguru import logger

__all__ = ["configure_logging"]

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level:<8} | {message}"


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info, depth=6).log(level, "{}: {}", record.name, record.getMessage())


def configure_logging(level: str = "INFO") -> None:
    """Replace loguru's default sink; route stdlib logging (pykka, urllib3) through loguru."""
    logger.remove()
    logger.add(sys.stderr, level=level, format=LOG_FORMAT, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
