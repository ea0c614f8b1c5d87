"""The API token from the environment and the refusal to serve a non-loopback host without one."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from autohedge.api.app import create_app
from autohedge.api.server import ApiServer
from autohedge.cli import api_token
from autohedge.core.errors import ConfigError
from tests.actors.harness import make_config
from tests.api.fake_control import FakeEngineControl


def test_api_token_non_loopback_host_without_token_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOHEDGE_API_TOKEN", raising=False)
    config = make_config(api={"host": "0.0.0.0"})

    with pytest.raises(ConfigError) as raised:
        api_token(config)

    assert raised.value.key_path == "api.host" and "AUTOHEDGE_API_TOKEN" in str(raised.value)


def test_api_token_non_loopback_host_with_token_is_returned_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOHEDGE_API_TOKEN", "made-up-token")
    config = make_config(api={"host": "0.0.0.0"})

    token = api_token(config)

    assert isinstance(token, SecretStr) and token.get_secret_value() == "made-up-token"
    assert "made-up-token" not in repr(token)


def test_api_token_loopback_without_token_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOHEDGE_API_TOKEN", raising=False)

    token = api_token(make_config())

    assert token is None


def test_server_port_in_use_raises_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ApiServer(
            create_app(FakeEngineControl(), token=None, token_env="X"), host="127.0.0.1", port=port
        )

        with pytest.raises(ConfigError) as raised:
            server.start(timeout_s=5)

    assert raised.value.key_path == "api.port"
