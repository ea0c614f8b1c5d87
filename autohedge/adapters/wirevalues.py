"""Values out of a venue's wire data, checked: what every venue's ``parse.py`` shares.

Pure; a bad value raises ``MalformedMessage`` naming the venue and the field, so the stream counts and
skips the frame (or the REST call fails) with a message a reader can act on.
"""

from __future__ import annotations

import json
import math
from datetime import UTC
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autohedge.core.errors import MalformedMessage
from autohedge.core.validation import first_problem

__all__ = ["json_object", "retry_after_s", "validate_wire", "wire_decimal"]

_M = TypeVar("_M", bound=BaseModel)


def wire_decimal(raw: object, field: str, *, venue: str) -> Decimal:
    """A venue's decimal string (or JSON number already decoded as ``Decimal``) -> ``Decimal``. NaN and
    Infinity are no quantity or price: compared, they raise ``decimal.InvalidOperation``, which no reader
    counts and skips as a malformed frame."""
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(raw if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise MalformedMessage(f"{venue} {field} is not a decimal: {raw!r}") from None
    if not value.is_finite():
        raise MalformedMessage(f"{venue} {field} is not a finite decimal: {raw!r}")
    return value


def json_object(raw: str | bytes, what: str, *, venue: str, decimals: bool = False) -> dict[str, Any]:
    """A frame or body that must be one JSON object. ``decimals``: JSON numbers become ``Decimal``
    (venues that send prices as numbers), never float."""
    try:
        value = json.loads(raw, parse_float=Decimal) if decimals else json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON or UTF-8, or JSON no parser takes (digits, depth)
        raise MalformedMessage(f"{venue} {what} is not JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise MalformedMessage(f"{venue} {what} is not an object")
    return value


def validate_wire(model: type[_M], raw: object, what: str, *, venue: str) -> _M:
    """``model.model_validate(raw)`` with a ``MalformedMessage`` naming the first bad field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MalformedMessage(f"{venue} {what}: {first_problem(exc, whole='<body>')}") from None


def retry_after_s(raw: str | None, *, default_s: float, now_s: float) -> float:
    """A ``Retry-After`` header -> seconds to wait: delta-seconds, or an HTTP date (both are allowed)
    counted from ``now_s`` (wall clock, seconds). Absent or unreadable (a proxy's garbled header):
    ``default_s``, since the pushback must still become the venue's state, never an error of its own."""
    text = (raw or "").strip()
    if not text:
        return default_s
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return default_s
        seconds = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp() - now_s
    return max(seconds, 0.0) if math.isfinite(seconds) else default_s
