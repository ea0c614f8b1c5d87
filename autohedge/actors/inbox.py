"""The inbox of every actor in the tree: ``queue.SimpleQueue``, not the ``queue.Queue`` pykka gives.

``queue.Queue`` is written in Python: ``put`` and ``get`` hold its mutex for several bytecodes, and the
interpreter may hand its lock to another thread in between. The holder then keeps the mutex until it
gets the interpreter back, which while the trading threads are busy takes up to the switch interval
(5 ms), and every thread telling that actor waits meanwhile. With the rule firing on every symbol, the
executor spent 1.5 s in ``put`` to the journal's inbox while its own inbox grew to 960 messages.
``SimpleQueue`` is written in C: a put or a get is one step under the interpreter lock, and a put
never waits.
"""

from __future__ import annotations

import queue
from typing import Any

__all__ = ["new_inbox"]


def new_inbox() -> queue.SimpleQueue[Any]:
    """An actor's inbox (pykka's ``_create_actor_inbox``; runs in the thread that builds the actor)."""
    return queue.SimpleQueue()
