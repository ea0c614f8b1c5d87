"""The directory: current actor ref by name, maintained by the supervisor.

Senders never keep a child's ref (refs change on restart); they send by name at send time. A missing
or dead receiver is a counted dead letter, never a reason for the sender to die.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka
from loguru import logger

from autohedge.core.actor_names import ActorName
from autohedge.core.metrics import Metrics

__all__ = ["Directory"]


class Directory:
    """Thread-safe name -> ActorRef map."""

    def __init__(self, metrics: Metrics) -> None:
        self._refs: dict[ActorName, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()
        self._metrics = metrics

    def register(self, name: ActorName, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._refs[name] = ref

    def unregister(self, name: ActorName, ref: pykka.ActorRef[Any] | None = None) -> None:
        """Remove ``name`` (only if it still points at ``ref`` when one is given)."""
        with self._lock:
            if ref is None or self._refs.get(name) is ref:
                self._refs.pop(name, None)

    def get(self, name: ActorName) -> pykka.ActorRef[Any] | None:
        with self._lock:
            return self._refs.get(name)

    def names(self) -> list[ActorName]:
        with self._lock:
            return list(self._refs)

    def tell(self, name: ActorName, message: object) -> bool:
        """Tell the current ``name``; False (and a dead letter counted) if it is absent or dead."""
        if self.get(name) is None:
            self._dead_letter(name, message, "no such actor")
            return False
        return self.tell_if_present(name, message)

    def tell_if_present(self, name: ActorName, message: object) -> bool:
        """Like ``tell`` but an absent receiver (not started yet, parked) is not a dead letter."""
        ref = self.get(name)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._dead_letter(name, message, "actor dead")
            return False
        return True

    def _dead_letter(self, name: ActorName, message: object, why: str) -> None:
        self._metrics.inc("dead_letters")
        logger.debug("dead letter to {} ({}): {}", name, why, type(message).__name__)
