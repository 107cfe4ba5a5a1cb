"""Validation errors (400), said in words naming each field instead of regular expressions.

The request schemas publish exact patterns (so the OpenAPI document says precisely what is
accepted); when one does not match, msgspec reports the pattern itself, which is no help to a
client developer. This handler says what the pattern means, in the app's usual error shape.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException

from portal.services.messaging import (
    ATTACHMENT_URL_PATTERN,
    BODY_PATTERN,
    FILENAME_PATTERN,
    NO_NUL_PATTERN,
    NOT_BLANK_PATTERN,
)

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+(?![\s\S])"

_MEANINGS = {
    BODY_PATTERN: "must be 1 to 10,000 characters once leading and trailing white space is "
    "trimmed, with no NUL characters",
    NO_NUL_PATTERN: "must not contain NUL characters",
    NOT_BLANK_PATTERN: "must not be blank or contain NUL characters",
    FILENAME_PATTERN: "must not be blank or contain NUL or bidirectional control characters",
    ATTACHMENT_URL_PATTERN: "must be an absolute http or https URL naming a public host (not an "
    "IP address, localhost, *.localhost, *.local or *.internal), without white space or "
    "bidirectional control characters",
    IDEMPOTENCY_KEY_PATTERN: "must be 1 to 255 printable ASCII characters without spaces",
}
_PATTERN_MESSAGE = re.compile(
    r"^Expected `str` matching regex (?P<pattern>'.*')(?P<rest>.*)$", re.S
)


def _readable(message: str) -> str:
    match = _PATTERN_MESSAGE.match(message)
    if match is None:
        return message
    for pattern, meaning in _MEANINGS.items():
        if match["pattern"] == repr(pattern):
            return meaning + match["rest"]
    return message


def _problem(problem: Any) -> Any:
    if isinstance(problem, dict) and isinstance(problem.get("message"), str):
        return {**problem, "message": _readable(problem["message"])}
    return problem


def validation_error_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """400 with ``detail`` naming each bad field and why, as the rest of the app answers."""
    problems = [_problem(p) for p in exc.extra] if isinstance(exc.extra, list) else []
    named = [
        f"{p.get('key') or p.get('source') or 'request'}: {p.get('message')}"
        for p in problems
        if isinstance(p, dict)
    ]
    body: dict[str, Any] = {"status_code": 400, "detail": "; ".join(named) or exc.detail}
    if problems:
        body["extra"] = problems
    return Response(body, status_code=400)
