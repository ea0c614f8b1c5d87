"""The real openai client against the local fake server."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import openai
import pytest
from pydantic import SecretStr

from autohedge.adapters.openai.client import OpenAIChatClient
from autohedge.adapters.openai.gateway import LlmGateway
from autohedge.core.clock import ManualClock
from autohedge.core.config import LlmConfig
from autohedge.core.errors import (
    LlmInvalidReply,
    LlmRateLimited,
    LlmRefused,
    LlmServerError,
    LlmTimeout,
    LlmUnavailable,
)
from autohedge.core.strategy.llm import SIGNAL_JSON_SCHEMA, LlmOutcome, LlmThrottle
from tests.fakes.openai_server import FakeOpenAIServer, Reply, signal_json

MESSAGES = [{"role": "user", "content": "decide"}]

MakeClient = Callable[..., OpenAIChatClient]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def make_client(fake: FakeOpenAIServer) -> Iterator[MakeClient]:
    made: list[OpenAIChatClient] = []

    def make(timeout_s: float = 5.0, api_key: SecretStr | None = None) -> OpenAIChatClient:
        made.append(
            OpenAIChatClient(
                LlmConfig(base_url=fake.base_url, model="test-model", timeout_s=timeout_s), api_key=api_key
            )
        )
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_client_structured_request_returns_content_and_usage(
    fake: FakeOpenAIServer, make_client: MakeClient
) -> None:
    fake.script(Reply(content=signal_json("hold", 0.5), prompt_tokens=11, completion_tokens=7))

    completion = make_client().complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)

    assert '"hold"' in completion.content and (completion.prompt_tokens, completion.completion_tokens) == (
        11,
        7,
    )
    sent = fake.requests[0]
    assert sent["model"] == "test-model" and sent["messages"] == MESSAGES
    assert sent["response_format"]["json_schema"]["schema"] == SIGNAL_JSON_SCHEMA
    assert sent["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(status=429), LlmRateLimited),
        (Reply(status=500), LlmServerError),
        (Reply(status=503), LlmServerError),
        (Reply(status=401), LlmUnavailable),
        (Reply(refusal="I cannot help with trading"), LlmRefused),
        (Reply(raw_body=b"<html>bad gateway</html>"), LlmInvalidReply),
        (Reply(raw_body=b'{"choices": "none"}'), LlmInvalidReply),
        (Reply(raw_body=b'{"choices": []}'), LlmInvalidReply),
        (
            Reply(raw_body=b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": 5}}]}'),
            LlmInvalidReply,
        ),
    ],
)
def test_client_failure_is_a_typed_error(
    fake: FakeOpenAIServer, make_client: MakeClient, reply: Reply, error: type[Exception]
) -> None:
    fake.script(reply)
    with pytest.raises(error):
        make_client().complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)


def test_client_response_without_usage_counts_zero_tokens(
    fake: FakeOpenAIServer, make_client: MakeClient
) -> None:
    body = (
        '{"choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, '
        '"finish_reason": "stop"}]}'
    )
    fake.script(Reply(raw_body=body.encode()))

    completion = make_client().complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)

    assert (completion.content, completion.prompt_tokens, completion.completion_tokens) == ("{}", 0, 0)


def test_client_slow_server_times_out(fake: FakeOpenAIServer, make_client: MakeClient) -> None:
    fake.script(Reply(content=signal_json(), delay_s=1.0))
    with pytest.raises(LlmTimeout):
        make_client(timeout_s=0.2).complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)


def test_client_unreachable_server_is_unavailable() -> None:
    unreachable = OpenAIChatClient(LlmConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2), api_key=None)
    try:
        with pytest.raises(LlmUnavailable):
            unreachable.complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)
    finally:
        unreachable.close()


def test_client_sends_the_configured_key_or_a_dummy(fake: FakeOpenAIServer, make_client: MakeClient) -> None:
    make_client().complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)
    make_client(api_key=SecretStr("sk-made-up-test-key")).complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)

    assert fake.authorizations == ["Bearer not-needed", "Bearer sk-made-up-test-key"]


def test_fake_server_rejects_a_request_without_a_json_schema(fake: FakeOpenAIServer) -> None:
    raw = openai.OpenAI(base_url=fake.base_url, api_key="not-needed", max_retries=0)
    try:
        with pytest.raises(openai.BadRequestError):
            raw.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_object"},
            )
    finally:
        raw.close()


def test_fake_server_exit_with_a_delayed_reply_in_flight_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    with FakeOpenAIServer() as server:
        server.script(Reply(content=signal_json(), delay_s=30.0))
        client = OpenAIChatClient(LlmConfig(base_url=server.base_url, timeout_s=0.2), api_key=None)
        with pytest.raises(LlmTimeout):
            client.complete(MESSAGES, schema=SIGNAL_JSON_SCHEMA)  # the handler is still waiting

    leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    client.close()
    assert leaked == []


def test_client_malformed_content_through_the_gateway_is_a_counted_no_trade(fake: FakeOpenAIServer) -> None:
    fake.script(Reply(content="BUY NOW!!!"))
    config = LlmConfig(base_url=fake.base_url, min_interval_per_symbol_s=0)
    gateway = LlmGateway(
        OpenAIChatClient(config, api_key=None),
        max_concurrent=1,
        throttle=LlmThrottle(config, ManualClock()),
        clock=ManualClock(),
    )
    outcomes: queue.Queue[LlmOutcome] = queue.Queue()

    gateway.submit("BTC/USDT", MESSAGES, outcomes.put)
    outcome = outcomes.get(timeout=5)
    stats = gateway.stats()
    gateway.close()

    assert outcome.reply is None and outcome.error_kind == "invalid_reply"
    assert stats["error_invalid_reply"] == 1 and stats["tokens"] == 120
