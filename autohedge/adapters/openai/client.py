"""Chat completions over the ``openai`` library, against any OpenAI-compatible server.

One call = one structured-output request (``response_format`` json_schema, strict). Every failure
becomes a typed ``core.errors.LlmError``; the library's own retries are off (the throttle and the
gateway decide when to ask again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, cast

import openai
from pydantic import SecretStr

from autohedge.core.config import LlmConfig
from autohedge.core.errors import (
    LlmInvalidReply,
    LlmRateLimited,
    LlmRefused,
    LlmServerError,
    LlmTimeout,
    LlmUnavailable,
)

__all__ = ["ChatClient", "LlmCompletion", "OpenAIChatClient", "api_key_from_env"]

LOCAL_SERVER_KEY = "not-needed"
"""Sent when no key is configured: local OpenAI-compatible servers accept any key."""


@dataclass(frozen=True)
class LlmCompletion:
    content: str
    prompt_tokens: int
    completion_tokens: int


class ChatClient(Protocol):
    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        """Blocking. Raises ``LlmError`` subclasses."""
        ...

    def close(self) -> None: ...


def api_key_from_env(config: LlmConfig) -> SecretStr | None:
    value = os.environ.get(config.api_key_env)
    return SecretStr(value) if value else None


class OpenAIChatClient:
    """Thread-safe (the openai client pools connections); called on gateway worker threads."""

    def __init__(self, config: LlmConfig, *, api_key: SecretStr | None) -> None:
        self._config = config
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=api_key.get_secret_value() if api_key is not None else LOCAL_SERVER_KEY,
            timeout=config.timeout_s,
            max_retries=0,
        )

    def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any]) -> LlmCompletion:
        try:
            response = self._client.chat.completions.create(
                model=self._config.model,
                messages=cast(Any, messages),
                temperature=self._config.temperature,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "signal", "schema": schema, "strict": True},
                },
            )
        except openai.APITimeoutError:
            raise LlmTimeout(
                f"no answer from {self._config.base_url} within {self._config.timeout_s}s"
            ) from None
        except openai.RateLimitError as exc:
            raise LlmRateLimited(f"429 from the model server: {_short(exc)}") from None
        except openai.InternalServerError as exc:
            raise LlmServerError(f"{exc.status_code} from the model server: {_short(exc)}") from None
        except openai.APIConnectionError:
            raise LlmUnavailable(f"cannot connect to {self._config.base_url}") from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise LlmServerError(f"{exc.status_code} from the model server: {_short(exc)}") from None
            hint = f"; set {self._config.api_key_env}" if exc.status_code in (401, 403) else ""
            raise LlmUnavailable(f"{exc.status_code} from the model server{hint}: {_short(exc)}") from None
        except openai.OpenAIError as exc:
            raise LlmUnavailable(f"model call failed: {type(exc).__name__}") from None
        except ValueError:
            # The library parses a 200 body without validating it; a body that is not JSON surfaces here.
            raise LlmInvalidReply("the model server's response body is not JSON") from None
        return _completion(response)

    def close(self) -> None:
        self._client.close()


def _completion(response: Any) -> LlmCompletion:
    """Reads the parts we use; the library does not validate a 200 body, so every access is checked."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LlmInvalidReply("the model server's response has no choices")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise LlmInvalidReply("the model server's response has no message")
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise LlmRefused(f"the model refused: {str(refusal)[:200]}")
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        raise LlmInvalidReply("the model server's message content is not text")
    usage = getattr(response, "usage", None)
    return LlmCompletion(
        content=content or "",
        prompt_tokens=_token_count(getattr(usage, "prompt_tokens", 0)),
        completion_tokens=_token_count(getattr(usage, "completion_tokens", 0)),
    )


def _token_count(value: object) -> int:
    # A server that omits usage (some local ones) costs nothing we can count.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _short(exc: openai.APIStatusError) -> str:
    return str(exc.message)[:200]
