"""A pydantic validation failure in one line: what a clear error message about bad input says."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["first_problem"]


def first_problem(exc: ValidationError, *, whole: str) -> str:
    """The first problem found, as ``where: what`` (``where`` is ``whole`` when the value itself is wrong,
    not one of its fields)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"{where}: {first['msg']}"
