"""The error responses every route declares in OpenAPI, with one body shape for all of them."""

from __future__ import annotations

import msgspec
from litestar.openapi import ResponseSpec


class ErrorBody(msgspec.Struct):
    status_code: int
    detail: str


_DESCRIPTIONS = {
    400: "Bad input; `detail` names the field and why",
    401: "No token, or a token that is malformed, expired, wrongly signed or for an unknown user",
    403: "Not allowed",
    404: "No such thing (also: a path id that is not a UUID)",
    409: "Conflict",
    413: "Too large",
    422: "Idempotency key reused with a different request",
    429: "Rate limited; `Retry-After` says when to try again",
    503: "The database is unavailable or did not answer within its bounds; nothing was changed "
    "unless a retry with the same Idempotency-Key replays it. `Retry-After` says when to retry",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The given error responses, and 503, which any route that reaches the database can give."""
    return {
        status: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False)
        for status in (*statuses, 503)
    }
