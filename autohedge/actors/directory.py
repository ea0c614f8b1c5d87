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
    """Thread-safe name -> ActorRef map.

    Every tell of the process looks a name up here, so a lookup takes no lock: writers (a start or a
    restart, rare) replace the whole map under the lock, and a reader gets one map or the next, each
    whole (a dict read and an attribute read are each one step under the interpreter lock). A lock
    around every lookup was a convoy: a holder that lost the interpreter lock inside it parked every
    other teller on it, and the executor's inbox grew for seconds."""

    def __init__(self, metrics: Metrics) -> None:
        self._refs: dict[ActorName, pykka.ActorRef[Any]] = {}
        self._write_lock = threading.Lock()
        self._metrics = metrics

    def register(self, name: ActorName, ref: pykka.ActorRef[Any]) -> None:
        with self._write_lock:
            self._refs = {**self._refs, name: ref}

    def unregister(self, name: ActorName, ref: pykka.ActorRef[Any] | None = None) -> None:
        """Remove ``name`` (only if it still points at ``ref`` when one is given)."""
        with self._write_lock:
            if name in self._refs and (ref is None or self._refs[name] is ref):
                self._refs = {n: r for n, r in self._refs.items() if n != name}

    def get(self, name: ActorName) -> pykka.ActorRef[Any] | None:
        return self._refs.get(name)

    def names(self) -> list[ActorName]:
        return list(self._refs)

    def tell(self, name: ActorName, message: object) -> bool:
        """Tell the current ``name``; False (and a dead letter counted) if it is absent or dead."""
        ref = self._refs.get(name)
        if ref is None:
            self._dead_letter(name, message, "no such actor")
            return False
        return self._tell(ref, name, message)

    def tell_if_present(self, name: ActorName, message: object) -> bool:
        """Like ``tell`` but an absent receiver (not started yet, parked) is not a dead letter."""
        ref = self._refs.get(name)
        if ref is None:
            return False
        return self._tell(ref, name, message)

    def _tell(self, ref: pykka.ActorRef[Any], name: ActorName, message: object) -> bool:
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._dead_letter(name, message, "actor dead")
            return False
        return True

    def _dead_letter(self, name: ActorName, message: object, why: str) -> None:
        self._metrics.inc("dead_letters")
        logger.debug("dead letter to {} ({}): {}", name, why, type(message).__name__)
