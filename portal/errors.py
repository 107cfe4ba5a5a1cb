"""Domain errors raised by services; each transport turns them into its own answer.

The API maps them to HTTP statuses, the CLI to one line on stderr. A service raises before it
changes anything, or inside a transaction that the raise rolls back.
"""

from __future__ import annotations

from datetime import datetime


class PortalError(Exception):
    """``code`` says what went wrong in one machine-readable word (the API's error ``code``);
    ``field`` names the input at fault, when one is."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(PortalError):
    """Bad input; ``field`` names what was wrong."""

    status_code = 400
    code = "validation_failed"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class NotFound(PortalError):
    status_code = 404
    code = "not_found"


class Forbidden(PortalError):
    status_code = 403
    code = "forbidden"


class Suspended(Forbidden):
    """The acting user's account is suspended."""

    code = "suspended"


class Blocked(Forbidden):
    """One of the two users has blocked the other."""

    code = "blocked"


class Conflict(PortalError):
    status_code = 409
    code = "conflict"


class Gone(PortalError):
    """What was asked for is no longer possible (an appeal after its window)."""

    status_code = 410
    code = "gone"


class Unprocessable(PortalError):
    status_code = 422
    code = "unprocessable"


class PayloadTooLarge(PortalError):
    status_code = 413
    code = "too_large"


class RateLimited(PortalError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class ServiceBusy(PortalError):
    """Too much of one kind of work at once (503); the client should retry shortly."""

    status_code = 503
    code = "busy"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class AlreadyDecided(Conflict):
    """A decision on a report someone already decided: names who, what and when."""

    code = "already_decided"

    def __init__(self, decided_by_name: str, decision: str, decided_at: datetime | None) -> None:
        when = f" at {decided_at.isoformat(timespec='seconds')}" if decided_at else ""
        super().__init__(f"already decided by {decided_by_name}: {decision}{when}")
        self.decided_by_name = decided_by_name
        self.decision = decision
        self.decided_at = decided_at


class SignInThrottled(PortalError):
    """Too many failed sign-ins for this account from this address, for this account from
    anywhere, or from this address; try again later."""

    status_code = 429
    code = "sign_in_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


class InvalidCredentials(PortalError):
    """Unknown email, wrong password or a deactivated account (deliberately indistinguishable)."""

    status_code = 401
    code = "invalid_credentials"
