"""Every venue folder has the same files with the same roles: a reader knows where signing, parsing or
the private stream of any venue lives before opening it."""

from pathlib import Path

import pytest

from autohedge.adapters.registry import VENUES

ADAPTERS = Path(__file__).resolve().parents[3] / "autohedge" / "adapters"
VENUE_FILES = {
    "__init__.py",
    "adapter.py",
    "auth.py",
    "constants.py",
    "parse.py",
    "rest.py",
    "user_ws.py",
    "wire.py",
    "ws.py",
}


VENUE_EXTRA_FILES = {"binance": {"ws_api.py"}}
"""What a venue has beyond the common files: Binance's order entry over the WebSocket API."""


@pytest.mark.parametrize("venue", sorted(name for name in VENUES if name != "paper"))
def test_layout_venue_folder_has_the_common_files(venue: str) -> None:
    expected = VENUE_FILES | VENUE_EXTRA_FILES.get(venue, set())
    assert {p.name for p in (ADAPTERS / venue).glob("*.py")} == expected
