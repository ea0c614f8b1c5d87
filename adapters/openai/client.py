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

from core.config import LlmConfig
from core.errors import LlmError, LlmRateLimited, LlmRefused, LlmServerError, LlmTimeout, LlmUnavailable

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
                response_format={"type": "json_schema", "json_schema": {"name": "signal", "schema": schema, "strict": True}},
            )
        except openai.APITimeoutError:
            raise LlmTimeout(f"no answer from {self._config.base_url} within {self._config.timeout_s}s") from None
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
        if not response.choices:
            raise LlmError("the model server returned no choices")
        message = response.choices[0].message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise LlmRefused(f"the model refused: {refusal[:200]}")
        usage = response.usage
        return LlmCompletion(
            content=message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def close(self) -> None:
        self._client.close()


def _short(exc: openai.APIStatusError) -> str:
    return str(exc.message)[:200]
