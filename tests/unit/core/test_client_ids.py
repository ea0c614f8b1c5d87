import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autohedge.core.client_ids import CLIENT_ORDER_ID_MAX_LEN, ClientId
from autohedge.core.types import OrderPurpose

_VENUE_SAFE = re.compile(r"[a-z0-9-]+")
# The largest key the clock-derived key source produces for centuries (ms since 1970 fits 8 base-36 digits).
_MAX_KEY = 36**8 - 1

prefixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=4)
purposes = st.one_of(st.none(), st.sampled_from(OrderPurpose))


@given(prefixes, purposes, st.integers(0, _MAX_KEY), st.integers(0, 35))
def test_encode_decode_round_trip_within_venue_limits(
    prefix: str, purpose: OrderPurpose | None, key: int, attempt: int
) -> None:
    parts = ClientId(prefix, purpose, key, attempt)
    text = parts.encode()
    assert len(text) <= CLIENT_ORDER_ID_MAX_LEN
    assert _VENUE_SAFE.fullmatch(text)
    assert ClientId.decode(text) == parts
    assert ClientId.ours(text, prefix) == parts


@given(
    st.text(max_size=24) | st.from_regex(r"[a-z0-9]{1,5}-[a-z][0-9a-z]{1,10}-[0-9a-z]{1,3}", fullmatch=True)
)
def test_decode_accepts_exactly_the_encoder_output(text: str) -> None:
    parsed = ClientId.ours(text, text.split("-", 1)[0])
    if parsed is None:
        with pytest.raises(ValueError, match=re.escape(repr(text))):
            ClientId.decode(text)
    else:
        assert parsed.encode() == text


def test_same_inputs_same_id() -> None:
    assert ClientId("ah", OrderPurpose.ENTRY, 42, 1).encode() == "ah-e16-1"


def test_oco_list_id_shares_the_key_of_its_legs() -> None:
    take_profit = ClientId("ah", OrderPurpose.TAKE_PROFIT, 7)
    assert take_profit.oco_list().encode() == "ah-l7-0"
    assert ClientId.decode("ah-l7-0").purpose is None


def test_too_long_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds 18"):
        ClientId("abcd", OrderPurpose.ENTRY, 36**9, 36**2).encode()


@pytest.mark.parametrize("prefix", ["AH", "ah_", "", "abcde"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ClientId(prefix, OrderPurpose.ENTRY, 1)


def test_negative_key_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ClientId("ah", OrderPurpose.ENTRY, -1)


@pytest.mark.parametrize("text", ["ah-x1-0", "ah-e01-0", "ah-e1", "AH-e1-0", "ah-e1-0-"])
def test_malformed_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        ClientId.decode(text)


def test_someone_elses_id_is_not_ours() -> None:
    assert ClientId.ours("ah-e1-0", "zz") is None
    assert ClientId.ours("web-order-17", "ah") is None
