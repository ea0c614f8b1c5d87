"""Actor names: the directory's keys, defined once.

A name is ``<kind>`` for the one-per-process actors (``executor``) and ``<kind>:<subject>`` for the
ones that exist per venue, source or symbol (``strategy:BTC/USDT``). Build names only with the
constants and constructors here and read them only with ``parse_actor_name``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NewType

__all__ = [
    "EXECUTOR",
    "JOURNAL",
    "MONITOR",
    "ORDER_READER",
    "STRATEGY_RUNNER",
    "SUPERVISOR",
    "ActorKind",
    "ActorName",
    "feed_name",
    "kind_of",
    "order_sender_name",
    "parse_actor_name",
    "strategy_name",
    "user_stream_name",
]


class ActorKind(StrEnum):
    SUPERVISOR = "supervisor"
    EXECUTOR = "executor"
    MONITOR = "monitor"
    JOURNAL = "journal"
    FEED = "feed"
    """One per market-data source (a venue's public stream, synthetic, replay)."""
    STRATEGY = "strategy"
    """One per symbol: its own actor, or a lane on the strategy runner."""
    STRATEGY_RUNNER = "strategy_runner"
    """Decides every HFT symbol's lane of a feed batch on one thread (``hft.shared_runner``)."""
    USER_STREAM = "user_stream"
    """One per venue: its private order/fill stream."""
    ORDER_SENDER = "order_sender"
    """A few per venue: they send the executor's entries, so independent ones go out concurrently."""
    ORDER_READER = "order_reader"
    """Reads the executor's resting entries by REST, so no read holds up a signal in the executor."""


ActorName = NewType("ActorName", str)

_SINGLETONS: Final = frozenset(
    {
        ActorKind.SUPERVISOR,
        ActorKind.EXECUTOR,
        ActorKind.MONITOR,
        ActorKind.JOURNAL,
        ActorKind.STRATEGY_RUNNER,
        ActorKind.ORDER_READER,
    }
)
_SEPARATOR: Final = ":"

SUPERVISOR: Final = ActorName(ActorKind.SUPERVISOR.value)
EXECUTOR: Final = ActorName(ActorKind.EXECUTOR.value)
MONITOR: Final = ActorName(ActorKind.MONITOR.value)
JOURNAL: Final = ActorName(ActorKind.JOURNAL.value)
STRATEGY_RUNNER: Final = ActorName(ActorKind.STRATEGY_RUNNER.value)
ORDER_READER: Final = ActorName(ActorKind.ORDER_READER.value)


def _qualified(kind: ActorKind, subject: str) -> ActorName:
    if not subject:
        raise ValueError(f"a {kind.value} actor name needs a subject")
    return ActorName(f"{kind.value}{_SEPARATOR}{subject}")


def feed_name(source: str) -> ActorName:
    """``feed:<source>``: the feed of one market-data source."""
    return _qualified(ActorKind.FEED, source)


def strategy_name(symbol: str) -> ActorName:
    """``strategy:<symbol>``."""
    return _qualified(ActorKind.STRATEGY, symbol)


def user_stream_name(venue: str) -> ActorName:
    """``user_stream:<venue>``: the venue's private stream."""
    return _qualified(ActorKind.USER_STREAM, venue)


def order_sender_name(venue: str, index: int) -> ActorName:
    """``order_sender:<venue>.<index>``: one of the venue's entry senders."""
    return _qualified(ActorKind.ORDER_SENDER, f"{venue}.{index}")


def parse_actor_name(name: str) -> tuple[ActorKind, str]:
    """(kind, subject) of a name; the subject is ``""`` for the one-per-process actors.

    Raises ``ValueError`` naming the text when it is not a name built by this module.
    """
    head, sep, subject = name.partition(_SEPARATOR)
    try:
        kind = ActorKind(head)
    except ValueError:
        raise ValueError(f"actor name {name!r}: unknown kind {head!r}") from None
    if (kind in _SINGLETONS) != (not sep):
        raise ValueError(f"actor name {name!r}: a {kind.value} name {'has no' if sep else 'needs a'} subject")
    if sep and not subject:
        raise ValueError(f"actor name {name!r}: empty subject")
    return kind, subject


def kind_of(name: str) -> ActorKind:
    """The kind of a name (see ``parse_actor_name``)."""
    return parse_actor_name(name)[0]
