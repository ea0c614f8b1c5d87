"""An exchange proxy that injects failures the paper fault model cannot express precisely."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from typing import Any

from autohedge.core.errors import OrderRefused, OutcomeUnknown, VenueError
from autohedge.core.messages import OrderRequest
from autohedge.core.ports import OrderAnswer

__all__ = ["FaultyExchange", "PipedExchange"]


class FaultyExchange:
    """Delegates to ``inner``; ``fail(method, ...)`` makes matching calls raise.

    ``thread_prefix`` limits a failure to calls made on threads whose name starts with it (pykka names
    actor threads after their class, e.g. ``ExecutorActor-3``).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._rules: list[tuple[str, Callable[[], BaseException], int, str, bool]] = []
        self._holds: list[tuple[str, Callable[[], object], bool]] = []
        self._lock = threading.Lock()
        self.calls: list[str] = []

    def hold(
        self, method: str, wait: Callable[[], object], *, times: int = 1, after_call: bool = False
    ) -> None:
        """The next ``times`` calls of ``method`` run ``wait()`` on the calling thread before the real call
        (with ``after_call``: after it, before the answer is returned) and then answer as usual."""
        with self._lock:
            self._holds += [(method, wait, after_call)] * times

    def _take_hold(self, method: str) -> tuple[Callable[[], object], bool] | None:
        with self._lock:
            for i, (m, wait, after) in enumerate(self._holds):
                if m == method:
                    del self._holds[i]
                    return wait, after
        return None

    def fail(
        self,
        method: str,
        error: Callable[[], BaseException],
        *,
        times: int = 1,
        thread_prefix: str = "",
        after_call: bool = False,
    ) -> None:
        """The next ``times`` calls of ``method`` raise ``error()``; with ``after_call`` the real call
        happens first (a lost response)."""
        with self._lock:
            self._rules.append((method, error, times, thread_prefix, after_call))

    def lose_response(self, method: str, *, times: int = 1) -> None:
        self.fail(
            method, lambda: OutcomeUnknown("response lost", venue="paper"), times=times, after_call=True
        )

    def _take_rule(self, method: str) -> tuple[Callable[[], BaseException], bool] | None:
        name = threading.current_thread().name
        with self._lock:
            for i, (m, error, times, prefix, after) in enumerate(self._rules):
                if m == method and name.startswith(prefix):
                    if times <= 1:
                        del self._rules[i]
                    else:
                        self._rules[i] = (m, error, times - 1, prefix, after)
                    return error, after
        return None

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            held = self._take_hold(name)
            if held is not None:
                wait, after = held
                if not after:
                    wait()
                answer = target(*args, **kwargs)
                if after:
                    wait()
                return answer
            rule = self._take_rule(name)
            if rule is None:
                return target(*args, **kwargs)
            error, after = rule
            if after:
                target(*args, **kwargs)
            raise error()

        return call


class PipedExchange(FaultyExchange):
    """A ``FaultyExchange`` that also takes bursts of orders like an order session (``core.ports.OrderPipe``):
    a written burst is answered on its own thread (the session's reader), one order after another, each
    through ``submit_order`` (so holds and failures apply). ``take`` limits how many of the next bursts'
    orders it writes (None: all; 0: the connection is down)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.take: int | None = None
        self.bursts: list[list[str]] = []
        """The client order ids of every burst written, in order."""
        self.collector_on_at_write: list[bool] = []
        """Per burst, whether the interpreter's cycle collector could have run during its write."""

    def pipe_orders(self, requests: Sequence[OrderRequest], on_answer: OrderAnswer) -> int:
        written = list(requests if self.take is None else requests[: self.take])
        if not written:
            return 0
        with self._lock:
            self.bursts.append([r.client_order_id for r in written])
            self.collector_on_at_write.append(gc.isenabled())
        threading.Thread(
            target=self._answer, args=(written, on_answer), name="pipe-reader", daemon=True
        ).start()
        return len(written)

    def _answer(self, written: list[OrderRequest], on_answer: OrderAnswer) -> None:
        for request in written:
            try:
                snapshot = self.submit_order(request)
            except (VenueError, OrderRefused) as exc:
                on_answer(request, None, exc)
                continue
            on_answer(request, snapshot, None)
