"""Bearer-token authentication (constant-time comparison)."""

from __future__ import annotations

import hmac
from typing import NoReturn

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from autohedge.core.config import LOOPBACK_HOSTS

__all__ = ["LOOPBACK_HOSTS", "BearerAuth"]


class BearerAuth:
    """FastAPI dependency. With no token configured every protected endpoint answers 401."""

    def __init__(self, token: SecretStr | None, token_env: str) -> None:
        self._token = token.get_secret_value().encode("utf-8") if token is not None else None
        self._token_env = token_env

    def __call__(self, request: Request) -> None:
        """Runs on the server's worker thread for each protected request; raises 401 or returns."""
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if self._token is None:
            self._deny(f"no API token configured: set {self._token_env} and restart")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            self._deny("missing or wrong bearer token")

    @staticmethod
    def _deny(detail: str) -> NoReturn:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
        )
