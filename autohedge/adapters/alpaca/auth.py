"""Alpaca authentication: two plain headers on every request (no signing)."""

from __future__ import annotations

from pydantic import SecretStr

__all__ = ["auth_headers", "ws_auth_message"]


def auth_headers(key_id: SecretStr, secret_key: SecretStr) -> dict[str, str]:
    return {
        "APCA-API-KEY-ID": key_id.get_secret_value(),
        "APCA-API-SECRET-KEY": secret_key.get_secret_value(),
    }


def ws_auth_message(key_id: SecretStr, secret_key: SecretStr) -> dict[str, str]:
    """The market-data stream's first message after ``connected``."""
    return {"action": "auth", "key": key_id.get_secret_value(), "secret": secret_key.get_secret_value()}
