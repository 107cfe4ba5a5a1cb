"""Domain errors raised by services; each transport turns them into its own answer.

The API maps them to HTTP statuses, the CLI to one line on stderr. A service raises before it
changes anything, or inside a transaction that the raise rolls back.
"""

from __future__ import annotations


class PortalError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(PortalError):
    """Bad input; ``field`` names what was wrong."""

    status_code = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(PortalError):
    status_code = 404


class Forbidden(PortalError):
    status_code = 403


class Conflict(PortalError):
    status_code = 409


class Unprocessable(PortalError):
    status_code = 422


class PayloadTooLarge(PortalError):
    status_code = 413


class RateLimited(PortalError):
    status_code = 429

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds
