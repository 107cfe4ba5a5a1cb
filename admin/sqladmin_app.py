"""SQLAdmin at /admin, mounted into the Litestar app by hand (the third-party plugin is stale).

- One staff sign-in: :class:`StaffAuthentication` reads the dashboard's session cookie through
  ``current_staff``; a signed-out visit goes to ``/mod/login?next=…``; signing out here records
  ``staff.signed_out`` (which ends every session of the account) and clears the cookie, so /mod
  is signed out too. SQLAdmin's own Starlette session is not used.
- Roles: :class:`RoleAuthorization` asks each panel (``PanelView.allows``) what a role may do;
  a panel a role may not read is hidden from its menu and answers 403.
- No state change on GET: SQLAdmin's GET routes that change things are re-registered as POST
  (sign-out, list exports) and row actions are POST forms (``/admin/{panel}/do/{slug}/{pk}``).
  Every POST passes the app's CSRF check; :class:`BufferedBody` reads the body once before that
  check so that SQLAdmin can read it again.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Litestar, asgi
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqladmin import Admin
from sqladmin.authentication import AuthenticationBackend, login_required
from sqladmin.authorization import AuthorizationBackend
from starlette import status
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from admin.panels.actions import sessions
from admin.panels.base import STAFF_STATE, PanelView, staff_of_request
from admin.panels.views import PANELS
from dashboard.pages import TEMPLATE_DIR, html_error_handler, sign_in_required_handler
from dashboard.staff_auth import current_staff, login_url, sign_out
from portal import permissions
from portal.database import request_sessions
from portal.errors import PortalError
from portal.models import StaffUser
from portal.services.panel_exports import record_panel_export
from portal.services.staff import record_sign_out

PRODUCT: Final = "Moderation"
BASE_URL: Final = "/admin"
MAX_FORM_BYTES: Final = 1024 * 1024
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
FORGED: Final = "The form expired or did not come from this site. Reload the page and try again."


def _connection(request: Request) -> ASGIConnection[Any, Any, Any, Any]:
    # Starlette's scope is a plain mapping; Litestar's connection types it as its TypedDict
    return ASGIConnection(scope=request.scope)  # type: ignore[arg-type]


async def _current_staff(request: Request) -> StaffUser | None:
    try:
        return await current_staff(_connection(request))
    except PermissionDeniedException:  # a CSRF token this session was not given
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=FORGED) from None


class StaffAuthentication(AuthenticationBackend):
    def __init__(self) -> None:
        self.middlewares = []  # the dashboard's cookie session, not a second one

    async def authenticate(self, request: Request) -> Response | bool:
        staff = await _current_staff(request)
        if staff is None:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(login_url(request.url.path + query), status_code=303)
        setattr(request.state, STAFF_STATE, staff)
        return True

    async def get_user_id(self, request: Request) -> Any:
        staff = staff_of_request(request)
        return staff.id if staff is not None else None

    async def login(self, request: Request) -> Response | bool:
        return RedirectResponse(login_url(BASE_URL), status_code=303)

    async def logout(self, request: Request) -> Response | bool:
        connection = _connection(request)
        staff = await _current_staff(request)
        if staff is not None:
            async with sessions(request)() as db:
                await record_sign_out(db, staff)
        sign_out(connection)
        return RedirectResponse("/mod/login", status_code=303)


class RoleAuthorization(AuthorizationBackend):
    def setup(self, admin: Any) -> None:
        self._admin = admin

    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        staff = staff_of_request(request)
        if staff is None:
            return False
        for view in self._admin.views:
            if isinstance(view, PanelView) and view.identity == identity:
                return view.allows(staff.role, action)
        return False


def _csrf_token(request: Request) -> str:
    # Starlette's scope is a plain mapping; Litestar's ScopeState types it as its TypedDict
    token = ScopeState.from_scope(request.scope).csrf_token  # type: ignore[arg-type]
    return token if isinstance(token, str) else ""


class PortalAdmin(Admin):
    def __init__(self, litestar_app: Litestar) -> None:
        super().__init__(
            Starlette(),
            session_maker=request_sessions,  # type: ignore[arg-type]
            base_url=BASE_URL,
            title=PRODUCT,
            templates_dir=str(TEMPLATE_DIR),
            authentication_backend=StaffAuthentication(),
            authorization_backend=RoleAuthorization(),
        )
        self.templates.env.globals.update(
            csrf_token=_csrf_token,
            product=PRODUCT,
            staff_of=staff_of_request,
            # the Litestar app's URLs (the dashboard, the static files) by route name
            portal_url=litestar_app.route_reverse,
        )
        self.templates.env.globals.update(permissions.TEMPLATE_GLOBALS)
        routes = []
        for route in self.admin.router.routes:
            name = getattr(route, "name", None)
            if name == "login":
                route = Route("/login", endpoint=self.login, name="login", methods=["GET"])
            elif name == "logout":
                route = Route("/logout", endpoint=self.logout, name="logout", methods=["POST"])
            elif name == "export":
                route = Route(
                    "/{identity}/export/{export_type}",
                    endpoint=self.export,
                    name="export",
                    methods=["POST"],
                )
            routes.append(route)
        routes.append(
            Route(
                "/{identity}/do/{slug}/{pk}",
                endpoint=self.panel_action,
                name="panel_action",
                methods=["POST"],
            )
        )
        self.admin.router.routes = routes
        for panel in PANELS:
            self.add_view(panel)

    async def login(self, request: Request) -> Response:
        return RedirectResponse(login_url(BASE_URL), status_code=303)

    @login_required
    async def export(self, request: Request) -> Response:
        """A list export (compliance and admin only), recorded before it is produced."""
        await self._export(request)
        identity, export_type = request.path_params["identity"], request.path_params["export_type"]
        view = self._find_model_view(identity)
        rows = await view.get_model_objects(request=request, limit=view.export_max_rows)
        staff = staff_of_request(request)
        if staff is None:  # pragma: no cover - login_required saw to it
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN)
        async with sessions(request)() as db:
            await record_panel_export(
                db, actor=staff, panel=identity, export_format=export_type, rows=len(rows)
            )
        return await view.export_data(rows, export_type=export_type, request=request)

    @login_required
    async def panel_action(self, request: Request) -> Response:
        view = self._find_model_view(request.path_params["identity"])
        staff = staff_of_request(request)
        if not isinstance(view, PanelView) or staff is None or not view.is_accessible(request):
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN)
        action = view.find_action(request.path_params["slug"])
        if not permissions.may(staff, action.capability):
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN)
        try:
            pk = uuid.UUID(request.path_params["pk"])
        except ValueError:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND) from None
        row = await view.get_object_for_details(request)
        if row is None:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)
        form = await request.form()
        try:
            result = await action.run(request, staff, pk, form)
        except PortalError as exc:
            # the refusal rolled the request's session back: read the row as it now stands
            row = await view.get_object_for_details(request)
            context = {
                **await view.details_context(request),
                "model_view": view,
                "model": row,
                "title": view.name,
                "action_error": exc.detail,
                "failed_action": action.slug,
                "action_values": {key: str(value) for key, value in form.items()},
            }
            return await self.templates.TemplateResponse(
                request, view.details_template, context, status_code=exc.status_code
            )
        if isinstance(result, Response):
            return result
        url = request.url_for("admin:details", identity=view.identity, pk=str(pk))
        return RedirectResponse(f"{url}?done={action.slug}", status_code=303)


class BufferedBody:
    """Reads a state-changing request's body up front (bounded) and keeps it where Litestar's
    CSRF check looks for it, then replays it to SQLAdmin, which reads it again."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: the client has gone
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                too_large = PlainTextResponse("form too large", status_code=413)
                # Starlette's ASGI callables take its own scope types, not Litestar's
                await too_large(scope, receive, send)  # type: ignore[arg-type]
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        ScopeState.from_scope(scope).body = body
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _admin_app(scope: Scope) -> ASGIApp:
    app: Litestar = scope["litestar_app"]
    built = app.state.get("sqladmin")
    if built is None:
        built = app.state["sqladmin"] = PortalAdmin(app).app
    # SQLAdmin's Starlette app: an ASGI app under Starlette's types rather than Litestar's
    return built  # type: ignore[return-value]


def _full_path(scope: Scope) -> str:
    """Litestar hands a mount the rest of the path with a slash appended; SQLAdmin's routes need
    the path as requested."""
    path = BASE_URL + scope["path"]
    raw = scope.get("raw_path")
    if isinstance(raw, bytes | bytearray) and not bytes(raw).split(b"?", 1)[0].endswith(b"/"):
        path = path.rstrip("/") or "/"
    return path


@asgi(
    BASE_URL,
    is_mount=True,
    copy_scope=True,
    include_in_schema=False,
    middleware=[BufferedBody],
    exception_handlers={
        NotAuthorizedException: sign_in_required_handler,
        PermissionDeniedException: html_error_handler,
    },
)
async def admin_panels(scope: Scope, receive: Receive, send: Send) -> None:
    scope["path"] = _full_path(scope)
    # a key Litestar sets but its Scope TypedDict does not declare
    scope.pop("router", None)  # type: ignore[typeddict-item]
    # The session dict is shared with Litestar's session middleware, which writes the cookie;
    # a sign-in check that replaces or clears the session (a refresh, an expiry, a sign-out)
    # must land in that same dict.
    session = scope.get("session")

    async def send_with_session(message: Message) -> None:
        if message["type"] == "http.response.start" and isinstance(session, dict):
            current = scope.get("session")
            if current is not session:
                session.clear()
                if isinstance(current, dict):
                    session.update(current)
        await send(message)

    await _admin_app(scope)(scope, receive, send_with_session)
