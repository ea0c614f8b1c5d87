"""Record every model request and response to JSONL, and replay them later without any server."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from autohedge.adapters.openai.client import ChatClient, LlmCompletion
from autohedge.core.clock import Clock
from autohedge.core.errors import LlmError, LlmInvalidReply, LlmUnavailable

__all__ = ["RecordingClient", "ReplayClient", "request_key"]

_ERRORS_BY_KIND: dict[str, type[LlmError]] = {cls.kind: cls for cls in LlmError.__subclasses__()}


def request_key(messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
    """A stable hash of what was asked (never includes a key: keys are not part of requests here)."""
    blob = json.dumps({"messages": messages, "schema": schema}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RecordingClient:
    """Wraps a client; appends ``{"ts_ns", "key", "request", "response" | "error"}`` per call."""

    def __init__(self, inner: ChatClient, path: Path, clock: Clock) -> None:
        self._inner = inner
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        record: dict[str, Any] = {
            "ts_ns": self._clock.wall_ns(),
            "key": request_key(messages, schema),
            "request": {"messages": messages},
        }
        try:
            completion = self._inner.complete(messages, schema=schema)
        except LlmError as exc:
            record["error"] = {"kind": exc.kind, "message": str(exc)}
            self._append(record)
            raise
        record["response"] = {
            "content": completion.content,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }
        self._append(record)
        return completion

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock, open(self._path, "a", encoding="utf-8") as handle:
            handle.write(line)

    def close(self) -> None:
        self._inner.close()


class ReplayClient:
    """Serves recorded responses: the one recorded for the same request if there is one, otherwise
    the next unused record in file order. Deterministic; needs no server."""

    def __init__(self, path: Path) -> None:
        self._records: list[dict[str, Any]] = []
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._records.append(json.loads(line))
        except (OSError, json.JSONDecodeError) as exc:
            raise LlmUnavailable(f"cannot read the LLM replay file {path}: {exc}") from None
        self._used = [False] * len(self._records)
        self._lock = threading.Lock()

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        key = request_key(messages, schema)
        with self._lock:
            index = next(
                (i for i, r in enumerate(self._records) if not self._used[i] and r.get("key") == key), None
            )
            if index is None:
                index = next((i for i, used in enumerate(self._used) if not used), None)
            if index is None:
                raise LlmUnavailable("the LLM replay file has no responses left")
            self._used[index] = True
            record = self._records[index]
        if "response" not in record:
            error = record.get("error", {})
            error_type = _ERRORS_BY_KIND.get(error.get("kind", ""), LlmInvalidReply)
            raise error_type(f"recorded failure: {error.get('message', '')}")
        response = record["response"]
        return LlmCompletion(
            content=response["content"],
            prompt_tokens=int(response.get("prompt_tokens", 0)),
            completion_tokens=int(response.get("completion_tokens", 0)),
        )

    def close(self) -> None:
        """Nothing to release."""
