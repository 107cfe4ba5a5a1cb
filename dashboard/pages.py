"""What every dashboard controller shares: rendering, redirects, form reading, error pages.

Pages work without script (plain forms, 303 redirects after a POST). With htmx the body is
boosted, so the same forms and redirects swap the page in place; a request that targets one
fragment (``HX-Target``) gets just that partial.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from litestar.exceptions import (
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.middleware.session.client_side import ClientSideSessionBackend
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.response.base import ASGIResponse
from litestar.template.base import csrf_token
from litestar.template.config import TemplateConfig
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from dashboard.staff_auth import current_staff, login_url, session_config, staff_of
from portal import permissions
from portal.database import request_session_scope
from portal.errors import InvalidInput, PortalError
from portal.services.suspensions import SUSPENSION_DAYS
from portal.settings import PROJECT_ROOT

TEMPLATE_DIR = PROJECT_ROOT / "templates"


def hx_target(request: Request[Any, Any, Any]) -> str | None:
    """The element id an htmx request wants to replace (None for full pages, boosted included)."""
    if request.headers.get("hx-request") != "true" or request.headers.get("hx-boosted"):
        return None
    return request.headers.get("hx-target")


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    return Template(
        template_name=template,
        context={"staff": staff_of(request), **(context or {})},
        status_code=status_code,
        headers={"vary": "HX-Request, HX-Target", **(headers or {})},
    )


def see_other(path: str) -> Redirect:
    """Post/redirect/get; htmx follows it and, the form being boosted, shows where it ended."""
    return Redirect(path=path, status_code=303)


async def read_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


def field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional_field(form: FormMultiDict, name: str) -> str | None:
    return field(form, name) or None


def suspension_days(value: str) -> int | None:
    """The duration field of a suspend form: 1, 3, 7, 30 days, or indefinite (None)."""
    if value == "indefinite":
        return None
    if value not in {str(days) for days in SUSPENSION_DAYS}:
        raise InvalidInput("days", "must be 1, 3, 7, 30 or indefinite")
    return int(value)


# --- template filters -------------------------------------------------------------------------


def age(value: datetime | None, now: datetime | None = None) -> str:
    """A short age: 45s, 12m, 5h, 3d."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    return duration(max(seconds, 0))


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def label(value: str | None) -> str:
    return (value or "").replace("_", " ")


_DECISION_NOUNS = {
    "removed": "removal",
    "warned": "warning",
    "suspended": "suspension",
    "dismissed": "dismissal",
}


def decision_noun(kind: str | None) -> str:
    """A decision's kind as a noun with its article: "a removal", "a dismissal"."""
    return "a " + _DECISION_NOUNS.get(kind or "", f"decision ({label(kind)})")


def csrf_field(context: Mapping[str, Any]) -> Markup:
    """Every form's hidden CSRF input (``{{ csrf_field() }}``), with this response's token.

    Litestar puts a ``csrf_input`` string into every template context, which would shadow a
    global of that name, so the dashboard's is called ``csrf_field``."""
    return Markup('<input type="hidden" name="_csrf_token" value="{}">').format(csrf_token(context))


def configure_engine(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(
        age=age, duration=duration, when=when, label=label, decision_noun=decision_noun
    )
    engine.register_template_callable("csrf_field", csrf_field)
    env.globals.update(permissions.TEMPLATE_GLOBALS)  # the rules pages show: may_decide(...)
    env.trim_blocks = True
    env.lstrip_blocks = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=Path(TEMPLATE_DIR), engine=JinjaTemplateEngine, engine_callback=configure_engine
    )


# --- errors on dashboard routes -------------------------------------------------------------


def sign_in_required_handler(
    request: Request[Any, Any, Any], exc: NotAuthorizedException
) -> Response[Any]:
    """Back to this page after sign-in; for a form post or an htmx fragment (the counts that poll),
    back to the page the browser was showing instead. safe_next keeps it on this site."""
    htmx = request.headers.get("hx-request") == "true"
    shown = request.headers.get("hx-current-url" if htmx else "referer", "")
    if htmx or request.method != "GET":
        page = urlsplit(shown)
        target = page.path + (f"?{page.query}" if page.query else "")
    else:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = login_url(target)
    if htmx:
        return Response(b"", status_code=401, headers={"HX-Redirect": location})
    return Redirect(path=location, status_code=303)


def html_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status_code: int = getattr(exc, "status_code", 500)
    detail: str = getattr(exc, "detail", "") or "error"
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        detail = "The form expired or did not come from this site. Reload the page and try again."
    return render(
        request,
        "mod/error.html",
        {"status_code": status_code, "detail": detail},
        status_code=status_code,
    )


HTML_EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: sign_in_required_handler,
    PermissionDeniedException: html_error_handler,
    NotFoundException: html_error_handler,
    PortalError: html_error_handler,
}


# --- a /mod URL no route answers --------------------------------------------------------------

CSRF_COOKIE = "portal_csrf"  # server/app.py's CSRFConfig names it


def is_dashboard_path(path: str) -> bool:
    return path == "/mod" or path.startswith("/mod/")


class _UnroutedAnswer(ASGIResponse):
    """The dashboard's error page (404, 405) for a URL under /mod that matched no route.

    Litestar answers such a request before any route's middleware runs: no staff session is
    read, no database session is open, no CSRF token is set. Exception handlers are synchronous,
    so this response does that work when it is sent: it reads the session cookie, finds who is
    signed in (through the request's database session, opened and closed here) and renders the
    error page in the dashboard's frame, or, signed out, a plain page with a sign-in link."""

    def __init__(
        self,
        request: Request[Any, Any, Any],
        status_code: int,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body=b"")
        self._request = request
        self._status_code = status_code
        self._detail = detail
        self._headers = headers or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        state = app.state
        token = self._request.cookies.get(CSRF_COOKIE)
        if token:
            ScopeState.from_scope(scope).csrf_token = token
        # the session as the cookie holds it, read only: a page that exists for nobody writes
        # no cookie (the session's "seen" moves on at the next real page)
        backend = ClientSideSessionBackend(session_config(state.settings))
        scope["session"] = await backend.load_from_connection(self._request)
        opened: dict[str, Any] = scope  # type: ignore[assignment]
        async with request_session_scope(opened, state.engine, state.sessionmaker):
            request: Request[Any, Any, Any] = app.request_class(scope, receive, send)
            with suppress(PermissionDeniedException):  # a post without its token: signed out
                await current_staff(request)
            response = render(
                request,
                "mod/error.html",
                {
                    "status_code": self._status_code,
                    "detail": self._detail,
                    "sign_in": login_url(None),
                },
                status_code=self._status_code,
                headers=self._headers,
            )
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)


class _UnroutedPage(Response[Any]):
    """What the exception handler returns: :class:`_UnroutedAnswer`, once it is sent."""

    def __init__(
        self,
        request: Request[Any, Any, Any],
        status_code: int,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content=b"", status_code=status_code)
        self._answer = _UnroutedAnswer(request, status_code, detail, headers)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        return self._answer


def unrouted_not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """The answer to a /mod URL no route matched (the app's 404 handler asks for it)."""
    return _UnroutedPage(request, 404, f"There is no page at {request.url.path}.")


def unrouted_wrong_method(
    request: Request[Any, Any, Any], exc: MethodNotAllowedException
) -> Response[Any]:
    """A /mod address visited with a method it does not take (a form's address, opened)."""
    allowed = (exc.headers or {}).get("allow", "")
    detail = f"{request.url.path} is not a page to open: a form sends to it."
    if request.method != "GET":
        detail = f"{request.url.path} does not take {request.method}."
    return _UnroutedPage(request, 405, detail, {"allow": allowed} if allowed else None)
