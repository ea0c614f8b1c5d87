"""Coinbase (CDP API key) authentication: an ES256 JWT per REST request and per websocket subscribe.

JOSE header ``{"alg":"ES256","kid":<key name>,"nonce":<random hex>,"typ":"JWT"}``; claims
``{"sub":<key name>,"iss":"cdp","nbf":now,"exp":now+120,"uri":"<METHOD> <host><path>"}`` where the
websocket JWT has no ``uri``. The query string is never part of ``uri``. ECDSA signatures are
randomised, so tests verify a token with the public key rather than compare strings.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from autohedge.adapters.coinbase.constants import JWT_LIFETIME_S, VENUE
from autohedge.core.errors import AuthError

__all__ = ["KEY_VARIABLE", "SECRET_VARIABLE", "CoinbaseSigner", "jwt_uri", "load_private_key"]

KEY_VARIABLE = "AUTOHEDGE_COINBASE_API_KEY"
SECRET_VARIABLE = "AUTOHEDGE_COINBASE_API_SECRET"


def load_private_key(pem: SecretStr) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 private key from its PEM text. ``.env`` files often hold the PEM on one line with
    literal ``\\n``: those are turned back into newlines. Raises ``AuthError`` naming the variable."""
    text = pem.get_secret_value().strip().replace("\\n", "\n")
    try:
        key = serialization.load_pem_private_key(text.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise AuthError(
            f"{SECRET_VARIABLE} is not a PEM private key (expected -----BEGIN EC PRIVATE KEY-----)",
            venue=VENUE,
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise AuthError(f"{SECRET_VARIABLE} must be an EC P-256 (ES256) private key", venue=VENUE)
    return key


def jwt_uri(method: str, rest_url: str, path: str) -> str:
    """``POST api.coinbase.com/api/v3/brokerage/orders``: method, host[:port] and the full path of
    the endpoint under ``rest_url``, without the query string."""
    base = urlsplit(rest_url)
    endpoint = path.split("?", 1)[0]
    return f"{method.upper()} {base.netloc}{base.path.rstrip('/')}{endpoint}"


class CoinbaseSigner:
    """Makes JWTs. Thread-safe (immutable; every token gets a fresh nonce)."""

    def __init__(self, key_name: SecretStr, private_key_pem: SecretStr) -> None:
        name = key_name.get_secret_value().strip()
        if not name:
            raise AuthError(f"{KEY_VARIABLE} is empty (expected the CDP key name)", venue=VENUE)
        self._name = name
        self._key = load_private_key(private_key_pem)

    def _token(self, claims: dict[str, object], nonce: str | None) -> str:
        headers = {"kid": self._name, "nonce": nonce or secrets.token_hex()}
        return jwt.encode(claims, self._key, algorithm="ES256", headers=headers)

    def _claims(self, now_s: int) -> dict[str, object]:
        return {"sub": self._name, "iss": "cdp", "nbf": now_s, "exp": now_s + JWT_LIFETIME_S}

    def rest_jwt(self, uri: str, *, now_s: int, nonce: str | None = None) -> str:
        """The bearer token of one REST request (``uri`` from ``jwt_uri``); valid 120 s."""
        return self._token({**self._claims(now_s), "uri": uri}, nonce)

    def ws_jwt(self, *, now_s: int, nonce: str | None = None) -> str:
        """The ``jwt`` of one websocket subscribe message (no ``uri``); a new one for every message."""
        return self._token(self._claims(now_s), nonce)
