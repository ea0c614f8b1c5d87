"""How fast the process protected each entry fill, read from its own log: from an entry's
``order_filled`` line to the next ``exit_armed`` line (TP resting and the SL guarded, or the venue's
OCO) or ``position_closing`` line (the stop already reached: the position, this fill included, is being
sold). Both times come from the same process clock."""

from __future__ import annotations

import re

__all__ = ["p99", "protection_delays_s"]

_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} (\d{2}):(\d{2}):(\d{2}\.\d{3}) \|")
_ENTRY_FILLED = re.compile(r"order_filled: \w+-e\w+-\w+ ")


def _seconds(line: str) -> float | None:
    match = _LINE.match(line)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def protection_delays_s(output: str, *, tail_s: float = 2.0) -> list[float]:
    """One delay per entry fill; fills in the last ``tail_s`` before the process began stopping are left
    out (their exit may meet the shutdown)."""
    fills: list[float] = []
    armed: list[float] = []
    stopping = float("inf")
    for line in output.splitlines():
        at = _seconds(line)
        if at is None:
            continue
        if _ENTRY_FILLED.search(line):
            fills.append(at)
        elif "exit_armed:" in line or "position_closing:" in line:
            armed.append(at)
        elif "the process is stopping" in line:
            stopping = min(stopping, at)
    delays = []
    for filled in fills:
        if filled > stopping - tail_s:
            continue
        after = [t for t in armed if t >= filled]
        delays.append(min(after) - filled if after else float("inf"))
    return sorted(delays)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
