"""The error responses every route declares in OpenAPI, one plain object shape for each kind.

Every operation declares 400 (a malformed path id, query parameter or body can reach any of
them) and 500, with bodies a generated client can parse, instead of Litestar's default 400
schema whose ``extra`` is an "array with additionalProperties".
"""

from __future__ import annotations

import msgspec
from litestar.openapi import ResponseSpec


class ErrorBody(msgspec.Struct):
    status_code: int
    detail: str


class Problem(msgspec.Struct):
    """One bad field: where it is (``body``, ``query``, ``path``, ``header``), its name, why."""

    message: str
    key: str | None = None
    source: str | None = None


class ValidationErrorBody(msgspec.Struct):
    status_code: int
    detail: str
    extra: list[Problem] | None = None


class ServerErrorBody(msgspec.Struct):
    """The failure is logged under ``request_id`` (also the ``X-Request-ID`` header)."""

    status_code: int
    detail: str
    request_id: str


_DESCRIPTIONS = {
    400: "Bad input: `detail` names the field (body, query or path parameter) and why; `extra` "
    "lists each problem. Also: a body that is not UTF-8 or nests more than 32 deep",
    401: "No token, or a token that is malformed, expired, not yet valid, wrongly signed or "
    "for an unknown user",
    403: "Not allowed",
    404: "No such thing",
    409: "Conflict",
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
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({400, 500, 503, *statuses})
    }
