"""The start-up credentials check of the venues whose keys one signed account read proves (Alpaca,
Binance): the keys are there, then the venue accepts them. Each venue folder's ``check_credentials``
builds its REST client and hands it here."""

from __future__ import annotations

from typing import Protocol

from autohedge.core.errors import AuthError

__all__ = ["AccountRest", "check_account_keys"]


class AccountRest(Protocol):
    """A venue's REST client, as far as the check uses it."""

    @property
    def has_keys(self) -> bool: ...

    def account(self) -> object: ...

    def close(self) -> None: ...


def check_account_keys(rest: AccountRest, *, venue: str, hint: str) -> None:
    """Caller's thread, before any actor starts. ``AuthError`` naming the environment variables (``hint``)
    when the keys are missing, or the venue's own when it rejects them on the account read. Closes
    ``rest`` either way."""
    try:
        if not rest.has_keys:
            raise AuthError(f"{venue} needs API keys: {hint}", venue=venue)
        rest.account()
    finally:
        rest.close()
