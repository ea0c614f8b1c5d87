"""Kraken REST signing and nonces.

``API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata)))`` where
``uri_path`` is ``/0/private/AddOrder`` (no host) and ``postdata`` is the form body exactly as sent.

Nonces must strictly increase per API key. ``NonceSource`` hands out ``max(last + 1, now_us)``: the
lock makes it strictly increasing across threads; across restarts it is derived from wall time in
microseconds, which is above every nonce a previous run issued because a run can only get ahead of
the clock by issuing more than one nonce per microsecond (Kraken's call counter caps us at a few
calls per second) and a restart takes far longer than that lead. Two things break it, and the caller
can pass ``floor`` (e.g. a persisted last nonce) for them: the wall clock stepped backwards, or another
client used the same key with larger nonces. One key per process: parallel processes on one key
would interleave nonces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from collections.abc import Sequence
from urllib.parse import urlencode

from pydantic import SecretStr

from autohedge.adapters.kraken.constants import VENUE
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError

__all__ = ["KEY_VARIABLE", "SECRET_VARIABLE", "NonceSource", "decode_secret", "encode_form", "sign"]

KEY_VARIABLE = "AUTOHEDGE_KRAKEN_API_KEY"
SECRET_VARIABLE = "AUTOHEDGE_KRAKEN_API_SECRET"
_NS_PER_US = 1_000


def decode_secret(secret: SecretStr) -> bytes:
    """The private key's bytes. Raises ``AuthError`` naming the variable when it is not base64."""
    try:
        raw = base64.b64decode(secret.get_secret_value().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(
            f"{SECRET_VARIABLE} is not base64 (copy the private key as shown)", venue=VENUE
        ) from None
    if not raw:
        raise AuthError(f"{SECRET_VARIABLE} is empty", venue=VENUE)
    return raw


def encode_form(params: Sequence[tuple[str, str]]) -> str:
    """The form body, in the given order: the signature covers exactly these bytes."""
    return urlencode(list(params))


def sign(uri_path: str, nonce: str, postdata: str, secret: bytes) -> str:
    """``API-Sign`` for one private request."""
    digest = hashlib.sha256((nonce + postdata).encode("utf-8")).digest()
    mac = hmac.new(secret, uri_path.encode("utf-8") + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


class NonceSource:
    """Strictly increasing microsecond nonces. Thread-safe."""

    def __init__(self, clock: Clock, *, floor: int = 0) -> None:
        self._clock = clock
        self._last = floor
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, self._clock.wall_ns() // _NS_PER_US)
            return self._last

    @property
    def last(self) -> int:
        """The last nonce handed out (persist it to survive a backwards clock step)."""
        with self._lock:
            return self._last
