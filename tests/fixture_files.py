"""The venues' documented payloads kept under ``tests/fixtures/<venue>/``, read as tests need them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["FIXTURES", "fixture_bytes", "fixture_json", "fixture_text"]

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_text(venue: str, name: str) -> str:
    return (FIXTURES / venue / name).read_text(encoding="utf-8")


def fixture_bytes(venue: str, name: str) -> bytes:
    return (FIXTURES / venue / name).read_bytes()


def fixture_json(venue: str, name: str) -> Any:
    return json.loads(fixture_text(venue, name))
