"""Values out of a venue's wire data, checked: what every venue's ``parse.py`` shares.

Pure; a bad value raises ``MalformedMessage`` naming the venue and the field, so the stream counts and
skips the frame (or the REST call fails) with a message a reader can act on.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from autohedge.core.errors import MalformedMessage
from autohedge.core.validation import first_problem

__all__ = ["validate_wire", "wire_decimal"]

_M = TypeVar("_M", bound=BaseModel)


def wire_decimal(raw: object, field: str, *, venue: str) -> Decimal:
    """A venue's decimal string (or JSON number already decoded as ``Decimal``) -> ``Decimal``."""
    if isinstance(raw, Decimal):
        return raw
    try:
        return Decimal(raw if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise MalformedMessage(f"{venue} {field} is not a decimal: {raw!r}") from None


def validate_wire(model: type[_M], raw: object, what: str, *, venue: str) -> _M:
    """``model.model_validate(raw)`` with a ``MalformedMessage`` naming the first bad field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MalformedMessage(f"{venue} {what}: {first_problem(exc, whole='<body>')}") from None
