"""LlmGateway: model calls off the strategy actors' threads, with bounded concurrency.

* ``max_concurrent`` worker threads; a slow model delays nothing but its own decision.
* Per symbol only the newest pending request matters: a newer submit replaces one not started yet
  (the replaced one is counted as dropped).
* The throttle (per-symbol interval, calls per minute, daily token budget) is asked before a request
  is accepted; token usage from every response is added to it. Once the budget is spent the gateway
  pauses (one WARNING line) until the next UTC day.
* ``on_done`` runs on a worker thread and must only tell an actor.
* Every failure is an outcome with an ``error_kind`` (``LlmError.kind``; ``error`` for anything a
  client raised that is not an ``LlmError``), counted as ``error_<kind>`` and logged in one line.
* Driven (``threaded=False``, the backtest): no worker threads; the driver calls ``run_pending`` when
  the actor tree is idle, and every queued call is made and answered there, in submission order. With
  workers, which answer is told first depends on the model's latency; a replay must not.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from autohedge.adapters.openai.client import ChatClient
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import LlmError
from autohedge.core.strategy.llm import SIGNAL_JSON_SCHEMA, LlmOutcome, LlmThrottle, parse_reply

__all__ = ["LlmGateway"]


@dataclass
class _Request:
    symbol: str
    request_id: int
    messages: list[dict[str, str]]
    on_done: Callable[[LlmOutcome], None]


class LlmGateway:
    """Thread-safe. ``submit``, ``stats``, ``paused`` and ``close`` are called on any thread (actors,
    the API); model calls and ``on_done`` run on the gateway's own worker threads, or, when driven
    (``threaded=False``), on the thread calling ``run_pending``."""

    def __init__(
        self,
        client: ChatClient,
        *,
        max_concurrent: int,
        throttle: LlmThrottle,
        clock: Clock,
        threaded: bool = True,
    ) -> None:
        self._client = client
        self._clock = clock
        self._throttle = throttle
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Request] = OrderedDict()
        self._closed = False
        self._next_id = 0
        self._stats: Counter[str] = Counter()
        self._pause_logged = False
        self._workers = [
            threading.Thread(target=self._work, name=f"llm-worker-{i}", daemon=True)
            for i in range(max_concurrent if threaded else 0)
        ]
        for worker in self._workers:
            worker.start()

    # -- called on strategy actor threads -------------------------------------------------------------

    def submit(
        self, symbol: str, messages: list[dict[str, str]], on_done: Callable[[LlmOutcome], None]
    ) -> int | None:
        """Queue a request; returns its id, or None when throttled, paused or closed."""
        with self._cond:
            if self._closed:
                return None
            if self._throttle.paused:
                self._stats["paused_skips"] += 1
                if not self._pause_logged:
                    self._pause_logged = True
                    logger.warning(
                        "llm_paused: daily token budget spent ({} tokens); no model calls until UTC midnight",
                        self._throttle.tokens_today,
                    )
                return None
            if self._pause_logged:  # a new UTC day: the budget is back
                self._pause_logged = False
                logger.info("llm_resumed: new UTC day, token budget available again")
            if not self._throttle.may_ask(symbol):
                self._stats["throttled"] += 1
                return None
            self._throttle.record_call(symbol)
            self._next_id += 1
            if symbol in self._pending:
                self._stats["dropped"] += 1
                del self._pending[symbol]
            self._pending[symbol] = _Request(symbol, self._next_id, messages, on_done)
            self._cond.notify()
            return self._next_id

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._throttle.paused

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def stats(self) -> dict[str, int]:
        with self._cond:
            out = dict(self._stats)
            out["tokens_today"] = self._throttle.tokens_today
            out["pending"] = len(self._pending)
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=5)
        self._client.close()

    def run_pending(self) -> int:
        """Driver thread of a driven gateway: make every queued call now, oldest first, each answer
        delivered (``on_done``) before the next call is made. Returns how many calls were made."""
        if self._workers:
            raise RuntimeError("run_pending drives a gateway built with threaded=False")
        made = 0
        while True:
            with self._cond:
                if self._closed or not self._pending:
                    return made
                _, request = self._pending.popitem(last=False)
            self._call(request)
            made += 1

    # -- worker threads --------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._pending:
                    self._cond.wait()
                if self._closed:
                    return
                _, request = self._pending.popitem(last=False)
            self._call(request)

    def _call(self, request: _Request) -> None:
        started = self._clock.monotonic_ns()
        outcome: LlmOutcome
        try:
            completion = self._client.complete(request.messages, schema=SIGNAL_JSON_SCHEMA)
        except LlmError as exc:
            outcome = self._failed(request, exc, started)
        except Exception as exc:  # noqa: BLE001 - a worker must survive anything a client raises
            outcome = self._failed(request, LlmError(f"{type(exc).__name__}: {str(exc)[:200]}"), started)
        else:
            tokens = completion.prompt_tokens + completion.completion_tokens
            with self._cond:
                self._throttle.record_usage(tokens)
                self._stats["calls"] += 1
                self._stats["tokens"] += tokens
            try:
                reply = parse_reply(completion.content)
            except LlmError as exc:
                outcome = self._failed(
                    request, exc, started, completion.prompt_tokens, completion.completion_tokens
                )
            else:
                outcome = LlmOutcome(
                    symbol=request.symbol,
                    request_id=request.request_id,
                    reply=reply,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    latency_s=(self._clock.monotonic_ns() - started) / NS_PER_S,
                )
        with self._cond:
            if self._closed:
                return  # the actors are stopping: nobody is waiting for this answer
        try:
            request.on_done(outcome)
        except Exception:  # noqa: BLE001 - a worker must survive a failed delivery
            logger.exception("llm result delivery failed for {}", request.symbol)

    def _failed(
        self,
        request: _Request,
        exc: LlmError,
        started: int,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> LlmOutcome:
        with self._cond:
            self._stats[f"error_{exc.kind}"] += 1
        logger.warning("[{}] llm_no_trade: {} ({})", request.symbol, exc.kind, exc)
        return LlmOutcome(
            symbol=request.symbol,
            request_id=request.request_id,
            error_kind=exc.kind,
            error=str(exc),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=(self._clock.monotonic_ns() - started) / NS_PER_S,
        )
