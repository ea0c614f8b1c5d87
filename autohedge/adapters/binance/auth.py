"""Binance request signing with the key kind the secret holds: HMAC-SHA256 (hex) for a plain secret, or
Ed25519 (base64) for a PKCS#8 private key PEM. One signer per key kind behind ``BinanceSigner``, used by
REST (over the percent-encoded parameters exactly as sent) and by the WebSocket API (over the request's
parameters sorted by name, ``ws_signature_payload``).

An Ed25519 key may also log a WebSocket API session on (``session.logon``); HMAC keys cannot, so they
sign each user-stream subscription (``userDataStream.subscribe.signature``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from pydantic import SecretStr

from autohedge.adapters.binance.constants import VENUE
from autohedge.core.errors import AuthError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "SECRET_VARIABLE",
    "BinanceSigner",
    "Ed25519Signer",
    "HmacSigner",
    "KeyKind",
    "encode_params",
    "load_signer",
    "signed_query",
    "ws_request",
    "ws_signature_payload",
]

SECRET_VARIABLE = "AUTOHEDGE_BINANCE_API_SECRET"
_PEM_BEGIN = "-----BEGIN"


class KeyKind(StrEnum):
    HMAC = "hmac"
    ED25519 = "ed25519"


class BinanceSigner(Protocol):
    """Signs a payload with one API key's secret. Implementations are immutable: any thread."""

    @property
    def kind(self) -> KeyKind: ...

    def sign(self, payload: str) -> str:
        """The ``signature`` parameter's value for ``payload`` (its UTF-8 bytes), before URL encoding."""
        ...


class HmacSigner:
    """HMAC-SHA256 of the payload with the secret key, as lowercase hex."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: SecretStr) -> None:
        # Keyed once: each signature copies the keyed state instead of hashing the key again.
        self._keyed = hmac.new(secret.get_secret_value().encode("utf-8"), digestmod=hashlib.sha256)

    @property
    def kind(self) -> KeyKind:
        return KeyKind.HMAC

    def sign(self, payload: str) -> str:
        mac = self._keyed.copy()
        mac.update(payload.encode("utf-8"))
        return mac.hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(**********)"


class Ed25519Signer:
    """Ed25519 signature of the payload, base64 (standard alphabet, padded; case-sensitive)."""

    __slots__ = ("_key",)

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @property
    def kind(self) -> KeyKind:
        return KeyKind.ED25519

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode("utf-8"))).decode("ascii")

    def __repr__(self) -> str:
        return "Ed25519Signer(**********)"


def load_signer(secret: SecretStr) -> BinanceSigner:
    """The signer for what ``AUTOHEDGE_BINANCE_API_SECRET`` holds: a PEM (``-----BEGIN``) must be an
    unencrypted Ed25519 private key (PKCS#8); anything else is an HMAC secret. ``.env`` files often hold
    a PEM on one line with literal ``\\n``: those become newlines. Raises ``AuthError`` naming the
    variable (never quoting the secret) for a PEM that does not parse or holds another key type."""
    text = secret.get_secret_value().strip()
    if not text.startswith(_PEM_BEGIN):
        return HmacSigner(secret)
    # The key library is imported for a PEM only: an HMAC key (and the market data alone) never pays its
    # memory (about 6 MiB of every process).
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(text.replace("\\n", "\n").encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuthError(
            f"{SECRET_VARIABLE} holds a PEM that is not a readable unencrypted private key (expected an "
            "Ed25519 key, -----BEGIN PRIVATE KEY----- in PKCS#8, or an HMAC secret)",
            venue=VENUE,
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthError(
            f"{SECRET_VARIABLE} holds a private key of another kind "
            f"({type(key).__name__.removesuffix('PrivateKey')}); a binance secret is an Ed25519 private key "
            "(PKCS#8 PEM) or an HMAC secret",
            venue=VENUE,
        )
    return Ed25519Signer(key)


def encode_params(params: Sequence[tuple[str, str]]) -> str:
    """``k=v&k=v`` with every key and value percent-encoded (UTF-8), in the given order."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def signed_query(signer: BinanceSigner, params: Sequence[tuple[str, str]]) -> str:
    """The encoded parameters with ``signature`` appended: sign exactly what is sent. The signature is
    percent-encoded too (base64's ``+``, ``/`` and ``=`` would otherwise change meaning in a query)."""
    payload = encode_params(params)
    return f"{payload}&signature={quote(signer.sign(payload), safe='')}"


def ws_signature_payload(params: Mapping[str, object]) -> str:
    """WebSocket API: every parameter except ``signature``, sorted by name, as ``k=v&k=v`` (values as
    sent in the JSON request, not percent-encoded)."""
    return "&".join([f"{k}={v}" for k, v in sorted(params.items()) if k != "signature"])


def ws_request(
    method: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    request_id: str,
    timestamp_ms: int,
    recv_window_ms: int | None = None,
    api_key: str | None = None,
    signer: BinanceSigner | None = None,
) -> dict[str, Any]:
    """A WebSocket API request frame (before JSON encoding) carrying ``params`` (a mapping, or its
    items) and the ``timestamp`` (and ``recvWindow``). With ``api_key`` and ``signer`` it is signed on
    its own (HMAC keys, or any request on a session that has not logged on); without, it relies on the
    session's ``session.logon``. The signature covers the values as text; the JSON carries the timestamp
    and window as numbers, which the venue reads the same (an integer's text is its JSON)."""
    values: dict[str, Any] = dict(params)  # one copy, built in place (it is on every order's path)
    values["timestamp"] = timestamp_ms
    if recv_window_ms is not None:
        values["recvWindow"] = recv_window_ms
    if api_key is not None and signer is not None:
        values["apiKey"] = api_key
        values["signature"] = signer.sign(ws_signature_payload(values))
    return {"id": request_id, "method": method, "params": values}
