"""The start-up credentials check the account-read venues share: pure, with a stand-in REST client."""

from __future__ import annotations

import pytest

from autohedge.adapters.credentials import check_account_keys
from autohedge.core.errors import AuthError


class _Rest:
    def __init__(self, *, has_keys: bool, refuse: bool = False) -> None:
        self.has_keys = has_keys
        self._refuse = refuse
        self.accounts_read = 0
        self.closed = False

    def account(self) -> object:
        self.accounts_read += 1
        if self._refuse:
            raise AuthError("venue says: invalid API key", venue="binance")
        return {}

    def close(self) -> None:
        self.closed = True


def test_missing_keys_name_the_variables_without_a_request() -> None:
    rest = _Rest(has_keys=False)
    with pytest.raises(AuthError, match="alpaca needs API keys: set AUTOHEDGE_X") as caught:
        check_account_keys(rest, venue="alpaca", hint="set AUTOHEDGE_X")
    assert caught.value.venue == "alpaca"
    assert (rest.accounts_read, rest.closed) == (0, True)


def test_keys_are_proved_by_one_account_read_and_the_client_closed() -> None:
    rest = _Rest(has_keys=True)
    check_account_keys(rest, venue="binance", hint="set AUTOHEDGE_X")
    assert (rest.accounts_read, rest.closed) == (1, True)


def test_rejected_keys_raise_the_venues_error_and_the_client_is_closed() -> None:
    rest = _Rest(has_keys=True, refuse=True)
    with pytest.raises(AuthError, match="invalid API key"):
        check_account_keys(rest, venue="binance", hint="set AUTOHEDGE_X")
    assert rest.closed
