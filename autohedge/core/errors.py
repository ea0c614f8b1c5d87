"""The exception tree. The type carries the retry policy; callers catch classes, never strings.

::

    AutohedgeError
    ├── ConfigError                 bad config file or value (exit code 2); fatal
    ├── VenueError                  something a venue (or the paper exchange) answered or failed to answer
    │   ├── RetryableError          safe to retry the same request after ``retry_after_s``
    │   │   ├── RateLimited         429 / venue throttle; ``banned`` for Binance 418 (stop everything)
    │   │   └── VenueUnavailable    the request surely did not execute (connect refused, 503 before accept)
    │   ├── OutcomeUnknown          timeout, 5xx, dropped connection, Binance -1007: the order MAY exist;
    │   │                           resolve by querying the client order id, never by blind resubmission
    │   ├── DefinitiveError         the venue said no; retrying the same request gives the same answer
    │   │   ├── InsufficientFunds
    │   │   ├── OrderRejected       filters, minimums, post-only would cross, ...
    │   │   └── UnknownOrder        no such order (get/cancel)
    │   └── FatalVenueError         bad keys, permissions, IP ban: stop trading this venue, tell the user
    │       └── AuthError
    ├── OrderRefused                our own pre-trade checks said no before anything was sent
    │   └── InsufficientBalance     not enough free quote balance for the entry
    ├── MalformedMessage            a frame or payload we cannot parse (counted and skipped)
    └── LlmError                    a model call that produced no usable signal: always "no trade"
        ├── LlmInvalidReply         not JSON, or not the signal schema
        ├── LlmRefused              the model refused
        ├── LlmTimeout              no answer within llm.timeout_s
        ├── LlmRateLimited          429 from the server
        ├── LlmServerError          5xx from the server
        ├── LlmUnavailable          connection failed, or any other client error (bad key, bad model)
        └── LlmBudgetSpent          the daily token budget is used up
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "AutohedgeError",
    "ConfigError",
    "DefinitiveError",
    "DuplicateOrder",
    "FatalVenueError",
    "InsufficientBalance",
    "InsufficientFunds",
    "LlmBudgetSpent",
    "LlmError",
    "LlmInvalidReply",
    "LlmRateLimited",
    "LlmRefused",
    "LlmServerError",
    "LlmTimeout",
    "LlmUnavailable",
    "MalformedMessage",
    "OrderRefused",
    "OrderRejected",
    "OutcomeUnknown",
    "RateLimited",
    "RetryableError",
    "UnknownOrder",
    "VenueError",
    "VenueUnavailable",
]


class AutohedgeError(Exception):
    """Root of every error autohedge raises on purpose."""


class ConfigError(AutohedgeError):
    """A configuration problem; ``key_path`` names the offending key (``defaults.stop_loss_pct``)."""

    def __init__(self, key_path: str, problem: str) -> None:
        super().__init__(f"{key_path}: {problem}")
        self.key_path = key_path
        self.problem = problem


class VenueError(AutohedgeError):
    """Raised by exchange adapters. ``venue`` and the venue's own ``code`` travel with it."""

    def __init__(self, message: str, *, venue: str = "", code: str | int | None = None) -> None:
        super().__init__(message)
        self.venue = venue
        self.code = code


class RetryableError(VenueError):
    """The request did not execute; retrying the same request after ``retry_after_s`` is safe."""

    def __init__(
        self, message: str, *, venue: str = "", code: str | int | None = None, retry_after_s: float = 1.0
    ) -> None:
        super().__init__(message, venue=venue, code=code)
        self.retry_after_s = retry_after_s


class RateLimited(RetryableError):
    """Request budget exceeded. ``banned`` (Binance 418) means: send nothing until the ban ends."""

    def __init__(
        self,
        message: str,
        *,
        venue: str = "",
        code: str | int | None = None,
        retry_after_s: float = 1.0,
        banned: bool = False,
    ) -> None:
        super().__init__(message, venue=venue, code=code, retry_after_s=retry_after_s)
        self.banned = banned


class VenueUnavailable(RetryableError):
    """The venue refused before doing anything (connection refused, maintenance)."""


class OutcomeUnknown(VenueError):
    """The request may or may not have executed. Query by client order id before anything else."""


class DefinitiveError(VenueError):
    """The venue answered no. Retrying the identical request is pointless."""


class InsufficientFunds(DefinitiveError):
    """Not enough free balance for the order."""


class OrderRejected(DefinitiveError):
    """The venue rejected the order (filters, minimums, market closed, ...)."""


class DuplicateOrder(OrderRejected):
    """The venue refused the order because its client order id is taken: an order by that id exists."""


class UnknownOrder(DefinitiveError):
    """The venue has no order with that id."""


class FatalVenueError(VenueError):
    """Trading on this venue cannot continue without the user's help."""


class AuthError(FatalVenueError):
    """Keys missing, wrong or lacking permission. The message names the variable to set."""


class OrderRefused(AutohedgeError):
    """Our own pre-trade checks refused an order before anything was sent (balance, rules, limits)."""


class InsufficientBalance(OrderRefused):
    """Our balance check found too little free quote currency for the entry."""


class MalformedMessage(AutohedgeError):
    """A venue frame or payload that does not parse; counted and skipped by the receiver."""


class LlmError(AutohedgeError):
    """A model call gave no usable signal. ``kind`` is a short label for counters and logs."""

    kind = "error"


class LlmInvalidReply(LlmError):
    kind = "invalid_reply"


class LlmRefused(LlmError):
    kind = "refused"


class LlmTimeout(LlmError):
    kind = "timeout"


class LlmRateLimited(LlmError):
    kind = "rate_limited"


class LlmServerError(LlmError):
    kind = "server_error"


class LlmUnavailable(LlmError):
    kind = "unavailable"


class LlmBudgetSpent(LlmError):
    kind = "budget_spent"
