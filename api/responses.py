"""The error responses every route declares in OpenAPI, one plain object shape for each kind.

Every operation declares 400 (a malformed path id, query parameter or body can reach any of
them) and 500, with bodies a generated client can parse, instead of Litestar's default 400
schema whose ``extra`` is an "array with additionalProperties".
"""

from __future__ import annotations

from enum import StrEnum

import msgspec
from litestar.openapi import ResponseSpec


class ErrorCode(StrEnum):
    """What went wrong, in one machine-readable word: every error body's ``code``.

    A client branches on ``code`` (and ``field``), never on the words of ``detail``, which may
    change. The statuses each code comes with are in :data:`CODES_BY_STATUS`.
    """

    VALIDATION_FAILED = "validation_failed"  # a field (body, query, path, header) is invalid
    MALFORMED_BODY = "malformed_body"  # not JSON, not UTF-8, or nested too deep
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    SUSPENDED = "suspended"
    BLOCKED = "blocked"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    GONE = "gone"
    HELD_CONTENT = "held_content"
    ALREADY_DECIDED = "already_decided"
    IDEMPOTENCY_KEY_IN_PROGRESS = "idempotency_key_in_progress"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNPROCESSABLE = "unprocessable"
    INFECTED = "infected"  # the virus scanner flagged an uploaded file
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    SIGN_IN_THROTTLED = "sign_in_throttled"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    BUSY = "busy"


# The codes each status comes with on the API (invalid_credentials, already_decided and
# sign_in_throttled are the staff side's, never the API's).
CODES_BY_STATUS: dict[int, tuple[ErrorCode, ...]] = {
    400: (ErrorCode.VALIDATION_FAILED, ErrorCode.MALFORMED_BODY, ErrorCode.INVALID_REQUEST),
    401: (ErrorCode.UNAUTHORIZED,),
    403: (ErrorCode.FORBIDDEN, ErrorCode.SUSPENDED, ErrorCode.BLOCKED),
    404: (ErrorCode.NOT_FOUND,),
    405: (ErrorCode.METHOD_NOT_ALLOWED,),
    409: (
        ErrorCode.CONFLICT,
        ErrorCode.HELD_CONTENT,
        ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
    ),
    410: (ErrorCode.GONE,),
    413: (ErrorCode.TOO_LARGE,),
    415: (ErrorCode.UNSUPPORTED_MEDIA_TYPE,),
    422: (ErrorCode.UNPROCESSABLE, ErrorCode.IDEMPOTENCY_KEY_REUSED, ErrorCode.INFECTED),
    429: (ErrorCode.RATE_LIMITED,),
    500: (ErrorCode.INTERNAL_ERROR,),
    503: (ErrorCode.UNAVAILABLE, ErrorCode.BUSY),
}


class ErrorBody(msgspec.Struct):
    """``field`` names the input at fault (``recipient_id``, ``attachments[0].url``,
    ``Idempotency-Key``, …) when one is; otherwise it is absent."""

    status_code: int
    detail: str
    code: ErrorCode
    field: str | None = None


class Problem(msgspec.Struct):
    """One bad field: where it is (``body``, ``query``, ``path``, ``header``), its name, why."""

    message: str
    key: str | None = None
    source: str | None = None


class ValidationErrorBody(msgspec.Struct):
    """``field`` is the first bad field's name; ``extra`` lists each problem."""

    status_code: int
    detail: str
    code: ErrorCode
    field: str | None = None
    extra: list[Problem] | None = None


class ServerErrorBody(msgspec.Struct):
    """The failure is logged under ``request_id`` (also the ``X-Request-ID`` header)."""

    status_code: int
    detail: str
    code: ErrorCode
    request_id: str


_DESCRIPTIONS = {
    400: "Bad input: `detail` names the field (body, query or path parameter) and why; `extra` "
    "lists each problem. Also: a body that is not UTF-8 or nests more than 32 deep",
    401: "No token, or a token that is malformed, expired, not yet valid, wrongly signed or "
    "for an unknown user",
    403: "Not allowed",
    404: "No such thing",
    409: "Conflict",
    410: "No longer possible (an appeal after its window)",
    413: "Too large",
    415: "The body is not `application/json` (UTF-8)",
    422: "Idempotency key reused with a different request",
    429: "Rate limited; `Retry-After` says when to try again",
    500: "Unexpected failure; logged under `request_id`, which is also the `X-Request-ID` header",
    503: "The database is unavailable or did not answer within its bounds; nothing was changed "
    "unless a retry with the same Idempotency-Key replays it. `Retry-After` says when to retry",
}
_BODIES: dict[int, type[msgspec.Struct]] = {400: ValidationErrorBody, 500: ServerErrorBody}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """``statuses`` and, for every operation, 400, 500 and 503 (any route can reach the
    database)."""
    return {
        status: ResponseSpec(
            _BODIES.get(status, ErrorBody),
            description=_DESCRIPTIONS[status]
            + " (`code`: "
            + ", ".join(f"`{code}`" for code in CODES_BY_STATUS[status])
            + ")",
            generate_examples=False,
        )
        for status in sorted({400, 500, 503, *statuses})
    }
