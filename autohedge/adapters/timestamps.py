"""RFC 3339 timestamps as venues send them -> int nanoseconds since the epoch (digits kept exactly)."""

from __future__ import annotations

import datetime as dt
import re

from autohedge.core.errors import MalformedMessage

__all__ = ["parse_rfc3339_ns"]

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE
)
_NS_PER_S = 1_000_000_000


def parse_rfc3339_ns(text: str, *, venue: str) -> int:
    """``2023-02-09T20:30:37.167359596Z`` -> ns. Fractions longer than 9 digits are truncated; no
    offset means UTC. An empty string is 0 (the venue did not say). Raises ``MalformedMessage``."""
    if not text:
        return 0
    match = _RFC3339.match(text.strip())
    if match is None:
        raise MalformedMessage(f"{venue} timestamp {text!r} is not RFC 3339")
    day, clock, fraction, offset = match.groups()
    zone = "+00:00" if offset is None or offset.upper() == "Z" else offset
    try:
        seconds = int(dt.datetime.fromisoformat(f"{day}T{clock}{zone}").timestamp())
    except ValueError:
        raise MalformedMessage(f"{venue} timestamp {text!r} is not a valid date") from None
    return seconds * _NS_PER_S + int(((fraction or "") + "000000000")[:9])
