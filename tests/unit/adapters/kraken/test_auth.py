"""Kraken's published API-Sign example reproduced; nonces strictly increasing across threads/restarts."""

import threading

import pytest
from pydantic import SecretStr

from autohedge.adapters.kraken.auth import NonceSource, decode_secret, encode_form, sign
from autohedge.core.clock import ManualClock
from autohedge.core.errors import AuthError

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


def test_auth_documented_example_signature() -> None:
    postdata = encode_form(
        [
            ("nonce", "1616492376594"),
            ("ordertype", "limit"),
            ("pair", "XBTUSD"),
            ("price", "37500"),
            ("type", "buy"),
            ("volume", "1.25"),
        ]
    )
    assert postdata == "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert sign("/0/private/AddOrder", "1616492376594", postdata, decode_secret(SecretStr(SECRET))) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_auth_secret_that_is_not_base64_names_the_variable() -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_KRAKEN_API_SECRET"):
        decode_secret(SecretStr("not base64!"))


def test_nonce_is_wall_time_in_microseconds() -> None:
    clock = ManualClock(start_wall_ns=1_700_000_000_123_456_789)
    assert NonceSource(clock).next() == 1_700_000_000_123_456


def test_nonce_strictly_increases_within_one_microsecond() -> None:
    nonces = NonceSource(ManualClock())
    first = nonces.next()
    assert [nonces.next() for _ in range(3)] == [first + 1, first + 2, first + 3]


def test_nonce_strictly_increases_across_threads() -> None:
    nonces = NonceSource(ManualClock())
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [nonces.next() for _ in range(500)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2000 and max(seen) == nonces.last


def test_nonce_after_restart_is_above_the_previous_run() -> None:
    clock = ManualClock()
    before = NonceSource(clock)
    last = max(before.next() for _ in range(100))  # a burst runs ahead of the clock by 99 us
    clock.advance(0.001)  # a restart takes far longer than the lead
    assert NonceSource(clock).next() > last


def test_nonce_floor_survives_a_clock_stepped_back() -> None:
    clock = ManualClock()
    persisted = NonceSource(clock).next() + 10_000_000
    assert NonceSource(clock, floor=persisted).next() == persisted + 1
