"""Bearer-token authentication (constant-time comparison), independent of the web framework."""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from autohedge.core.config import LOOPBACK_HOSTS

__all__ = ["LOOPBACK_HOSTS", "BearerAuth"]


class BearerAuth:
    """With no token configured every protected endpoint answers 401."""

    def __init__(self, token: SecretStr | None, token_env: str) -> None:
        self._token = token.get_secret_value().encode("utf-8") if token is not None else None
        self._token_env = token_env

    def denial(self, authorization: str) -> str | None:
        """Why a request whose ``Authorization`` header is ``authorization`` is refused (401), or None.
        Runs on the server's threads, once per protected request."""
        scheme, _, given = authorization.partition(" ")
        if self._token is None:
            return f"no API token configured: set {self._token_env} and restart"
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            return "missing or wrong bearer token"
        return None
