"""Client order ids: ours, deterministic, valid on every supported venue. One encoder, one decoder.

Format ``<prefix>-<code><key>-<attempt>``: ``prefix`` is 1-4 chars of ``[a-z0-9]`` (configured),
``code`` one letter for the order's purpose (or ``l`` for the venue's id of an OCO order list),
``key`` and ``attempt`` in lower-case base 36 without leading zeros. At most 18 characters of
``[a-z0-9-]``: Kraken's free-text ``cl_ord_id`` is the strictest of the venues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from autohedge.core.types import OrderPurpose

__all__ = [
    "CLIENT_ORDER_ID_MAX_LEN",
    "ClientId",
    "ClientOrderId",
]

ClientOrderId = str

CLIENT_ORDER_ID_MAX_LEN: Final = 18
_PREFIX_RE: Final = re.compile(r"[a-z0-9]{1,4}")
_BASE36: Final = r"(?:0|[1-9a-z][0-9a-z]*)"
_ID_RE: Final = re.compile(rf"([a-z0-9]{{1,4}})-([a-z])({_BASE36})-({_BASE36})")
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_OCO_LIST_CODE: Final = "l"
_CODES: Final[dict[OrderPurpose, str]] = {
    OrderPurpose.ENTRY: "e",
    OrderPurpose.TAKE_PROFIT: "t",
    OrderPurpose.STOP_LOSS: "s",
    OrderPurpose.CLOSE: "c",
}
_PURPOSES: Final = {code: purpose for purpose, code in _CODES.items()}
_VALID_PREFIXES: set[str] = set()
"""Prefixes already matched (a process uses one or two; every order's id checks its own)."""


def _valid_prefix(prefix: str) -> bool:
    if _PREFIX_RE.fullmatch(prefix) is None:
        return False
    _VALID_PREFIXES.add(prefix)
    return True


@dataclass(frozen=True, slots=True)
class ClientId:
    """The parts of one client id. ``purpose`` None: the id of an OCO order list, not of one order.

    ``key`` identifies the signal or position (a counter the caller persists or derives), ``attempt``
    the retry number, so the same logical order always gets the same id and a retry after an
    ambiguous error can ask the venue whether the order already exists.
    """

    prefix: str
    purpose: OrderPurpose | None
    key: int
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.prefix not in _VALID_PREFIXES and not _valid_prefix(self.prefix):
            raise ValueError(f"client order id prefix {self.prefix!r} must be 1-4 chars of [a-z0-9]")
        if self.key < 0 or self.attempt < 0:
            raise ValueError(f"client order id key and attempt must be >= 0 (got {self.key}, {self.attempt})")

    def encode(self) -> ClientOrderId:
        code = _OCO_LIST_CODE if self.purpose is None else _CODES[self.purpose]
        text = f"{self.prefix}-{code}{_base36(self.key)}-{_base36(self.attempt)}"
        if len(text) > CLIENT_ORDER_ID_MAX_LEN:
            raise ValueError(f"client order id {text!r} exceeds {CLIENT_ORDER_ID_MAX_LEN} characters")
        return text

    @classmethod
    def decode(cls, text: str) -> ClientId:
        """Inverse of ``encode``; ``ValueError`` naming the text when it is not one of our ids."""
        match = _ID_RE.fullmatch(text) if len(text) <= CLIENT_ORDER_ID_MAX_LEN else None
        if match is None:
            raise ValueError(f"client order id {text!r} is not of the form <prefix>-<purpose><key>-<attempt>")
        prefix, code, key, attempt = match.groups()
        if code == _OCO_LIST_CODE:
            purpose = None
        elif code in _PURPOSES:
            purpose = _PURPOSES[code]
        else:
            raise ValueError(f"client order id {text!r}: unknown purpose code {code!r}")
        return cls(prefix, purpose, int(key, 36), int(attempt, 36))

    @classmethod
    def ours(cls, text: str, prefix: str) -> ClientId | None:
        """The parts of ``text`` if it is one of our ids with this prefix; None for anyone else's."""
        try:
            parsed = cls.decode(text)
        except ValueError:
            return None
        return parsed if parsed.prefix == prefix else None

    def oco_list(self) -> ClientId:
        """The id of the OCO order list whose legs this id's key names."""
        return ClientId(self.prefix, None, self.key, self.attempt)


def _base36(n: int) -> str:
    if n < 36:
        return _DIGITS[n]
    # Keys count up (from the wall clock's milliseconds): all but the last digit repeat from one id to
    # the next, so they are kept rather than divided out again on every order.
    return _base36_of_high(n // 36) + _DIGITS[n % 36]


@lru_cache(maxsize=64)
def _base36_of_high(n: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_DIGITS[r])
    return "".join(reversed(out))
