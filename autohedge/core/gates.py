"""Entry gates: named reasons that block new entries while any of them is closed.

A gate is a ``GateKind`` and, for the per-symbol and per-venue kinds, a subject. Its text form
(``kill_switch``, ``parked:ETH/USDT``, ``venue_stale:binance``) is produced only by ``Gate.encode`` and
read only by ``Gate.decode``. Exits never pass through gates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "KILL_SWITCH",
    "MONITOR_DOWN",
    "STARTUP",
    "STOPPED",
    "Gate",
    "GateKind",
    "start_refusal",
]


class GateKind(StrEnum):
    STARTUP = "startup"
    """Until the first start-up reconciliation."""
    STOPPED = "stopped"
    """The operator stopped trading."""
    KILL_SWITCH = "kill_switch"
    """The executor or the monitor is in a crash loop."""
    MONITOR_DOWN = "monitor_down"
    """The monitor is restarting: a fill now would reach nobody."""
    PARKED = "parked"
    """Per symbol: its strategy is in a crash loop. Blocks that symbol only."""
    VENUE_STALE = "venue_stale"
    """Per market-data source: no data for too long."""
    VENUE_DEGRADED = "venue_degraded"
    """Per market-data source: its feed is in a crash loop."""
    USER_STREAM_DEGRADED = "user_stream_degraded"
    """Per trading venue: its private order stream is in a crash loop (orders are polled meanwhile)."""

    @property
    def has_subject(self) -> bool:
        return self in _WITH_SUBJECT


_WITH_SUBJECT: Final = frozenset(
    {GateKind.PARKED, GateKind.VENUE_STALE, GateKind.VENUE_DEGRADED, GateKind.USER_STREAM_DEGRADED}
)
_DEGRADING: Final = frozenset(
    {GateKind.MONITOR_DOWN, GateKind.VENUE_STALE, GateKind.VENUE_DEGRADED, GateKind.USER_STREAM_DEGRADED}
)
_SEPARATOR: Final = ":"


@dataclass(frozen=True, slots=True, order=True)
class Gate:
    kind: GateKind
    subject: str = ""
    """The symbol (``parked``), the market-data source (``venue_*``) or the trading venue
    (``user_stream_degraded``); empty for the others."""

    def __post_init__(self) -> None:
        if self.kind.has_subject != bool(self.subject):
            need = "needs a subject" if self.kind.has_subject else "takes no subject"
            raise ValueError(f"entry gate {self.kind.value} {need} (got {self.subject!r})")

    @classmethod
    def parked(cls, symbol: str) -> Gate:
        return cls(GateKind.PARKED, symbol)

    @classmethod
    def venue_stale(cls, source: str) -> Gate:
        return cls(GateKind.VENUE_STALE, source)

    @classmethod
    def venue_degraded(cls, source: str) -> Gate:
        return cls(GateKind.VENUE_DEGRADED, source)

    @classmethod
    def user_stream_degraded(cls, venue: str) -> Gate:
        return cls(GateKind.USER_STREAM_DEGRADED, venue)

    def encode(self) -> str:
        """The text form: ``<kind>`` or ``<kind>:<subject>``."""
        return f"{self.kind.value}{_SEPARATOR}{self.subject}" if self.subject else self.kind.value

    @classmethod
    def decode(cls, text: str) -> Gate:
        """Inverse of ``encode``; ``ValueError`` naming the text when it is not a gate."""
        head, sep, subject = text.partition(_SEPARATOR)
        try:
            kind = GateKind(head)
        except ValueError:
            raise ValueError(f"entry gate {text!r}: unknown kind {head!r}") from None
        if sep and not subject:
            raise ValueError(f"entry gate {text!r}: empty subject")
        return cls(kind, subject)

    def blocks(self, symbol: str) -> bool:
        """Whether this closed gate blocks a new entry on ``symbol`` (a parked gate blocks only its own)."""
        return self.kind is not GateKind.PARKED or self.subject == symbol

    @property
    def degrades_health(self) -> bool:
        """Closed, it is a reason for ``degraded`` health (parking and the kill switch report apart)."""
        return self.kind in _DEGRADING

    def __str__(self) -> str:
        return self.encode()


STARTUP: Final = Gate(GateKind.STARTUP)
STOPPED: Final = Gate(GateKind.STOPPED)
KILL_SWITCH: Final = Gate(GateKind.KILL_SWITCH)
MONITOR_DOWN: Final = Gate(GateKind.MONITOR_DOWN)


def start_refusal(gates: Mapping[Gate, str], *, shutting_down: bool) -> str | None:
    """Why the operator's start cannot open entries now (None: it can). Nothing opens the kill switch
    but a restart, and a stop once begun is for good: a start then would report trading that is not."""
    if shutting_down:
        return "the process is stopping: trading cannot be started again"
    if KILL_SWITCH in gates:
        return f"kill switch on ({gates[KILL_SWITCH]}): entries stay closed until the process restarts"
    return None
