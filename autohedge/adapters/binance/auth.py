"""Binance request signing: HMAC-SHA256 over the percent-encoded parameters exactly as sent (REST), or
over the WebSocket API request's parameters sorted by name (``ws_signature_payload``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import quote

__all__ = ["encode_params", "sign", "signed_query", "ws_signature_payload", "ws_signed_params"]


def encode_params(params: Sequence[tuple[str, str]]) -> str:
    """``k=v&k=v`` with every key and value percent-encoded (UTF-8), in the given order."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` (query string, or query string + body) with the secret key."""
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: Sequence[tuple[str, str]]) -> str:
    """The encoded parameters with ``signature`` appended: sign exactly what is sent."""
    payload = encode_params(params)
    return f"{payload}&signature={sign(secret, payload)}"


def ws_signature_payload(params: Mapping[str, str]) -> str:
    """WebSocket API: every parameter except ``signature``, sorted by name, as ``k=v&k=v`` (values as
    sent in the JSON request, not percent-encoded)."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def ws_signed_params(secret: str, params: Mapping[str, str]) -> dict[str, str]:
    """``params`` with the HMAC ``signature`` added (``userDataStream.subscribe.signature``, ...)."""
    return {**params, "signature": sign(secret, ws_signature_payload(params))}
