"""RFC 3339 venue timestamps -> int nanoseconds."""

import pytest

from autohedge.adapters.timestamps import parse_rfc3339_ns
from autohedge.core.errors import MalformedMessage


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-02-09T20:30:37.167359596Z", 1_675_974_637_167_359_596),
        ("2025-02-10T02:55:15.922831Z", 1_739_156_115_922_831_000),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000_000_000),
        ("2024-01-01T01:00:00+01:00", 1_704_067_200_000_000_000),
        ("2024-01-01T00:00:00.1234567891Z", 1_704_067_200_123_456_789),
        ("", 0),
    ],
)
def test_timestamps_parse(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text, venue="x") == ns


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00Z"])
def test_timestamps_bad_text_names_the_venue(text: str) -> None:
    with pytest.raises(MalformedMessage, match="kraken"):
        parse_rfc3339_ns(text, venue="kraken")
