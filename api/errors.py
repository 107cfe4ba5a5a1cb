"""How the API answers bad requests and its own failures.

- Validation errors (400) said in words naming each field instead of regular expressions: the
  request schemas publish exact patterns (so the OpenAPI document says precisely what is
  accepted); when one does not match, msgspec reports the pattern itself, which is no help to a
  client developer. This handler says what the pattern means, in the app's usual error shape.
- Request bodies: JSON only (415 otherwise), valid UTF-8, nested at most ``MAX_JSON_DEPTH`` deep
  (400 otherwise), checked where the body is decoded, so every JSON endpoint gets the same rules.
- A path parameter that does not parse (a malformed UUID) is a 400 naming it, not a bare 404.
- Anything unhandled is logged with its traceback, method, path and request id, and answered
  with a 500 that carries only the request id (``X-Request-ID`` and ``request_id``).

Every error body is ``{"status_code", "detail", "code"}``, with ``field`` when one input is at
fault: ``code`` is one word from :class:`api.responses.ErrorCode` (a domain error's own
``code``, or the status's), so clients branch on it rather than on ``detail``'s words.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import Scope
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.responses import ErrorCode
from api.schemas import APPEAL_TEXT_PATTERN
from portal.database import RETRY_AFTER_BUSY_SECONDS, unavailable_retry_after
from portal.errors import PortalError
from portal.log_text import loggable
from portal.services.messaging import (
    ATTACHMENT_URL_PATTERN,
    BODY_PATTERN,
    FILENAME_PATTERN,
    NO_NUL_PATTERN,
    NOT_BLANK_PATTERN,
)
from portal.services.validation import NOTE_PATTERN, ONE_LINE_PATTERN

log = logging.getLogger(__name__)


class RequestTimedOut(Exception):
    """The request did not start its answer within the configured bound."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"the request did not finish within {timeout_seconds:g} seconds")
        self.timeout_seconds = timeout_seconds


IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+(?![\s\S])"
MAX_JSON_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"
REQUEST_ID_HEADER = "X-Request-ID"
# A request id from the caller (a proxy or the platform's backend) is kept when it is this
# harmless in a log line; anything else gets a fresh one.
_CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
_REQUEST_ID_KEY = "portal_request_id"

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
    ONE_LINE_PATTERN: "must be one line of text, not blank, without control characters",
    NOTE_PATTERN: "must not contain NUL or other control characters (tab and line breaks are fine)",
    APPEAL_TEXT_PATTERN: "must not be blank or contain NUL or other control characters (tab and "
    "line breaks are fine)",
}
_PATTERN_MESSAGE = re.compile(
    r"^Expected `str` matching regex (?P<pattern>'.*')(?P<rest>.*)$", re.S
)


# The code of an error that carries none of its own, by status.
_STATUS_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    410: ErrorCode.GONE,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.UNPROCESSABLE,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    503: ErrorCode.UNAVAILABLE,
}


def error_body(
    status_code: int, detail: str, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """An error's JSON body: ``code`` defaults to the status's, ``field`` only when given."""
    body: dict[str, Any] = {
        "status_code": status_code,
        "detail": detail,
        "code": str(code or _STATUS_CODES.get(status_code, ErrorCode.INVALID_REQUEST)),
    }
    if field is not None:
        body["field"] = field
    return body


def portal_error_handler(_: Request[Any, Any, Any], exc: PortalError) -> Response[Any]:
    """A domain refusal: its status, ``detail``, ``code`` and ``field``; Retry-After when it
    says when to try again (rate limited, key in flight, busy)."""
    headers = {}
    retry_after = getattr(exc, "retry_after_seconds", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        error_body(exc.status_code, exc.detail, exc.code, exc.field),
        status_code=exc.status_code,
        headers=headers,
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own HTTP errors (401, 403, 405, 415, a malformed body, …) in the API's shape,
    with their ``code``; a page that answers HTML keeps Litestar's answer."""
    try:
        media_type = str(request.route_handler.media_type)
    except (KeyError, AttributeError):  # no route resolved
        media_type = ""
    if media_type.startswith("text/"):
        return create_exception_response(request, exc)
    body = error_body(exc.status_code, exc.detail, getattr(exc, "code", None))
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=exc.headers)


def _readable(message: str) -> str:
    match = _PATTERN_MESSAGE.match(message)
    if match is None:
        return message
    for pattern, meaning in _MEANINGS.items():
        if match["pattern"] == repr(pattern):
            return meaning + match["rest"]
    return message


def _problem(problem: Any) -> Any:
    # What Litestar says when a handler that takes a body gets none.
    if isinstance(problem, dict) and (problem.get("key"), problem.get("message")) == (
        "data",
        "'data'",
    ):
        return {**problem, "message": "the request has no body; send a JSON object"}
    if isinstance(problem, dict) and isinstance(problem.get("message"), str):
        return {**problem, "message": _readable(problem["message"])}
    return problem


_MISSING_FIELD = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _field(problem: dict[str, Any]) -> str:
    """The field a problem is about: its key, or for a body missing a required field (which
    Litestar keys as ``data``) that field's name."""
    missing = _MISSING_FIELD.search(str(problem.get("message", "")))
    if problem.get("key") == "data" and missing is not None:
        return missing["name"]
    return str(problem["key"])


def validation_error_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """400 with ``detail`` naming each bad field and why, as the rest of the app answers."""
    problems = [_problem(p) for p in exc.extra] if isinstance(exc.extra, list) else []
    named = [
        f"{p.get('key') or p.get('source') or 'request'}: {p.get('message')}"
        for p in problems
        if isinstance(p, dict)
    ]
    fields = [_field(p) for p in problems if isinstance(p, dict) and p.get("key")]
    body = error_body(
        400,
        "; ".join(named) or exc.detail,
        ErrorCode.VALIDATION_FAILED,
        fields[0] if fields else None,
    )
    if problems:
        body["extra"] = problems
    return Response(body, status_code=400)


class UnsupportedMediaType(ClientException):
    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class MalformedBody(ClientException):
    """The body is not JSON, not UTF-8, or nested too deeply."""

    status_code = HTTP_400_BAD_REQUEST
    code = ErrorCode.MALFORMED_BODY


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` deep, without recursion."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused with 415 or 400, never a 500, when it is not JSON,
    not UTF-8, or nested too deeply to be anything this API takes."""

    async def json(self) -> Any:
        media_type, options = self.content_type
        charset = options.get("charset", "utf-8").lower()
        if media_type.lower() != JSON_MEDIA_TYPE or charset not in ("utf-8", "utf8"):
            given = self.headers.get("Content-Type")
            raise UnsupportedMediaType(
                detail=f"Content-Type must be {JSON_MEDIA_TYPE} (UTF-8); "
                + (f"got {given!r}" if given else "none was given")
            )
        too_deep = MalformedBody(
            detail=f"request body nests arrays and objects more than {MAX_JSON_DEPTH} deep"
        )
        try:
            value = await super().json()
        except UnicodeDecodeError as exc:
            raise _not_utf8(exc) from None
        except RecursionError:  # msgspec gives up before MAX_JSON_DEPTH would be checked
            raise too_deep from None
        except SerializationException as exc:
            # msgspec < 0.23 raised UnicodeDecodeError for invalid UTF-8; later releases report
            # it as invalid JSON. Whichever it did, the answer names the bad byte.
            try:
                (await self.body()).decode("utf-8")
            except UnicodeDecodeError as decode_error:
                raise _not_utf8(decode_error) from None
            raise MalformedBody(detail=f"request body is not valid JSON: {exc.detail}") from None
        if _nesting_exceeds(value, MAX_JSON_DEPTH):
            raise too_deep
        return value


def _not_utf8(exc: UnicodeDecodeError) -> ClientException:
    return MalformedBody(
        detail=f"request body is not valid UTF-8 ({exc.reason}: byte 0x{exc.object[exc.start]:02x} "
        f"at offset {exc.start})"
    )


def request_id(scope: Scope) -> str:
    """This request's id: the caller's ``X-Request-ID`` when it is a plain token, else a new one;
    the same for the whole request."""
    state = scope.setdefault("state", {})
    if _REQUEST_ID_KEY not in state:
        given = ""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1")
                break
        state[_REQUEST_ID_KEY] = given if _CALLER_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return str(state[_REQUEST_ID_KEY])


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """500 for anything unhandled: logged in full here, and nothing of it in the response."""
    rid = request_id(request.scope)
    log.error(
        "unhandled %s in %s %s (request %s)",
        type(exc).__name__,
        loggable(request.method),
        loggable(request.url.path),
        rid,
        exc_info=exc,
    )
    return Response(
        {**error_body(500, "Internal Server Error"), "request_id": rid},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        headers={REQUEST_ID_HEADER: rid},
    )


def _unparsable_path_parameter(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    """The name and type of the path parameter that made routing fail, if one did."""
    components = [part for part in request.scope["path"].split("/") if part]
    for route in request.app.routes:
        if len(route.path_components) != len(components):
            continue
        failed = None
        for template, value in zip(route.path_components, components, strict=True):
            if isinstance(template, str):
                if template.strip("/") != value:
                    break
                continue
            try:
                if template.parser is not None:
                    template.parser(value)
            except ValueError:
                failed = failed or (template.name, getattr(template.type, "__name__", "value"))
        else:
            if failed is not None:
                return failed
    return None


def not_found_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """404, except for a path parameter that does not parse: that is a 400 naming it."""
    if isinstance(exc, NotFoundException) and isinstance(exc.__cause__, ValueError):
        failed = _unparsable_path_parameter(request)
        if failed is not None:
            name, kind = failed
            problem = {"key": name, "source": "path", "message": f"Invalid {kind}"}
            return validation_error_handler(
                request, ValidationException(detail="invalid path parameter", extra=[problem])
            )
    return http_error_handler(request, exc)


def database_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """503 with Retry-After when the database is unreachable or did not answer within its bounds
    (or the request ran out of time), instead of a 500: the client should retry, not give up."""
    retry_after = unavailable_retry_after(exc) or RETRY_AFTER_BUSY_SECONDS
    if isinstance(exc, RequestTimedOut):
        detail = "the service could not answer in time; try again shortly"
    elif retry_after == RETRY_AFTER_BUSY_SECONDS:
        detail = "the database is busy and did not answer in time; try again shortly"
    else:
        detail = "the database is unavailable; try again shortly"
    log.warning(
        "%s %s: 503, %s: %s",
        loggable(request.method),
        loggable(request.url.path),
        type(exc).__name__,
        loggable(str(exc).splitlines()[0]) if str(exc) else "",
    )
    return Response(
        error_body(503, detail, ErrorCode.UNAVAILABLE),
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    RequestTimedOut,
)
