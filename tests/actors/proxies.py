"""An exchange proxy that injects failures the paper fault model cannot express precisely."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from autohedge.core.errors import OutcomeUnknown

__all__ = ["FaultyExchange"]


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
