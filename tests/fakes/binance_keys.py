"""The fake Binance's API keys: each key verifies signatures with what Binance holds for it, an HMAC
secret (hex HMAC-SHA256) or the Ed25519 public key registered for it (base64 Ed25519 signature), over
the same payload either way (REST: the query string as sent; WebSocket API: the parameters sorted by
name). Also the tests' fixed Ed25519 key pair, from a fixed seed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "ED25519_API_KEY",
    "ED25519_KEY",
    "ED25519_PRIVATE_PEM",
    "ED25519_SEED",
    "BinanceKeys",
    "ed25519_private_pem",
    "pkcs8_pem",
]

ED25519_API_KEY = "fake-binance-ed25519-key"
ED25519_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
"""RFC 8032 section 7.1, TEST 1's secret key: a fixed, public seed (never a real key)."""


def pkcs8_pem(key: PrivateKeyTypes) -> str:
    """The unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``) of any private key."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def ed25519_private_pem(seed: bytes) -> str:
    """The PKCS#8 PEM of the Ed25519 key with this 32-byte seed."""
    return pkcs8_pem(Ed25519PrivateKey.from_private_bytes(seed))


ED25519_KEY = Ed25519PrivateKey.from_private_bytes(ED25519_SEED)
ED25519_PRIVATE_PEM = pkcs8_pem(ED25519_KEY)


class BinanceKeys:
    """API key -> its HMAC secret or Ed25519 public key. Thread-safe (the fake's HTTP and websocket
    threads read it; a test registers keys)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hmac: dict[str, bytes] = {}
        self._ed25519: dict[str, Ed25519PublicKey] = {}

    def add_hmac(self, api_key: str, secret: str) -> None:
        with self._lock:
            self._hmac[api_key] = secret.encode("utf-8")

    def add_ed25519(self, api_key: str, public_key: Ed25519PublicKey) -> None:
        with self._lock:
            self._ed25519[api_key] = public_key

    def known(self, api_key: str) -> bool:
        with self._lock:
            return api_key in self._hmac or api_key in self._ed25519

    def is_ed25519(self, api_key: str) -> bool:
        with self._lock:
            return api_key in self._ed25519

    def verify(self, api_key: str, payload: str, signature: str) -> bool:
        """Is ``signature`` (as decoded from the request) this key's signature of ``payload``?"""
        with self._lock:
            secret, public_key = self._hmac.get(api_key), self._ed25519.get(api_key)
        if secret is not None:
            expected = hmac.new(secret, payload.encode("utf-8"), hashlib.sha256).hexdigest()
            return hmac.compare_digest(signature.encode("utf-8"), expected.encode("utf-8"))
        if public_key is None:
            return False
        try:
            public_key.verify(base64.b64decode(signature, validate=True), payload.encode("utf-8"))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True
