"""The app factory: one Litestar application for the API, the dashboard and the admin panels."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.database import (
    RETRY_AFTER_UNREACHABLE_SECONDS,
    create_engine,
    create_sessionmaker,
    request_session,
)
from portal.errors import PortalError
from portal.events.hub import EventHub
from portal.principals import KnownUsers
from portal.services.users import ACTIVITY_REFRESH
from portal.settings import Settings, get_settings
from portal.tokens import VerifiedTokens
from server.allowed_hosts import AllowedHostsMiddleware
from server.request_session import RequestSessionMiddleware
from server.request_timeout import RequestTimeoutMiddleware
from server.workers import checkpoint_loop_running, delivery_loop_running


async def provide_db_session() -> AsyncSession:
    """The request's one session (RequestSessionMiddleware closes it)."""
    return await request_session()


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


@get(
    "/health/live",
    tags=["operations"],
    summary="Liveness: the process answers",
    description="Never touches the database, so a slow or absent database does not make an "
    "orchestrator restart a healthy process.",
    sync_to_thread=False,
)
def health_live() -> dict[str, str]:
    return {"status": "ok"}


_NOT_READY = {
    HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
        dict[str, str],
        description='`{"status": "unavailable", "database": <error class>}` with Retry-After',
        generate_examples=False,
    )
}


async def _readiness(state: State) -> Response[dict[str, str]]:
    settings: Settings = state.settings
    try:
        async with asyncio.timeout(settings.readiness_timeout_ms / 1000):
            async with state.readiness_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure or timeout means "not ready", never a 500
        return Response(
            {"status": "unavailable", "database": type(exc).__name__},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_UNREACHABLE_SECONDS)},
        )
    return Response({"status": "ok", "database": "ok"}, status_code=HTTP_200_OK)


@get(
    "/health/ready",
    tags=["operations"],
    summary="Readiness: the database answers within a short bound",
    description="A `SELECT 1` on a connection of its own (not the API's pool), bounded by "
    "`PORTAL_READINESS_TIMEOUT_MS`; 503 with Retry-After when the database is not there.",
    responses=_NOT_READY,
)
async def health_ready(state: State) -> Response[dict[str, str]]:
    return await _readiness(state)


@get(
    "/health",
    tags=["operations"],
    summary="Readiness (kept for existing probes)",
    description="The same check as /health/ready.",
    responses=_NOT_READY,
)
async def health(state: State) -> Response[dict[str, str]]:
    return await _readiness(state)


def readiness_engine_for(settings: Settings) -> AsyncEngine:
    """A one-connection engine for readiness probes, so that a probe never queues behind the
    API's pool and fails within its own short bound."""
    bound_ms = settings.readiness_timeout_ms
    bounds = replace(
        settings.database_bounds,
        statement_timeout_ms=bound_ms,
        lock_timeout_ms=bound_ms,
        pool_timeout_ms=bound_ms,
        connect_timeout_seconds=max(1, math.ceil(bound_ms / 1000)),
        sqlite_busy_timeout_ms=bound_ms,
        pool_size=1,
        max_overflow=1,
    )
    return create_engine(settings.database_url, bounds=bounds)


def database_state(
    settings: Settings, engine: AsyncEngine, readiness_engine: AsyncEngine
) -> dict[str, object]:
    """The app's state for one database (and the settings naming it): its engines, sessions and
    the caches of users and tokens seen in it. Everything else the factory builds depends on
    none of these, so the tests build an app once and give each test's database its own state."""
    sessionmaker = create_sessionmaker(engine, settings)
    return {
        "settings": settings,
        "engine": engine,
        "sessionmaker": sessionmaker,
        # real-time events (portal/events): its sessions publish through it after commit
        "events": EventHub(settings, sessionmaker),
        "readiness_engine": readiness_engine,
        "known_users": KnownUsers(ttl=ACTIVITY_REFRESH.total_seconds()),
        "verified_tokens": VerifiedTokens(settings),
    }


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    readiness_engine: AsyncEngine | None = None,
) -> Litestar:
    """The application. ``engine`` (and ``readiness_engine``) may be given, already made for
    ``settings.database_url``: the app then uses them and leaves disposing of them to the caller
    (the tests, which make them per test); otherwise it makes its own and disposes of them at
    shutdown."""
    from admin import admin_panels
    from api import create_api_router
    from api.errors import (
        DATABASE_UNAVAILABLE_ERRORS,
        database_unavailable_handler,
        http_error_handler,
        internal_error_handler,
        not_found_handler,
        portal_error_handler,
        validation_error_handler,
    )
    from api.openapi import StrictStructSchemaPlugin, operation_id
    from dashboard import dashboard_router
    from dashboard.pages import (
        is_dashboard_path,
        template_config,
        unrouted_not_found,
        unrouted_wrong_method,
    )
    from dashboard.staff_auth import session_config, set_rotated_csrf_cookie
    from server.api_docs import LocalSwaggerRenderPlugin
    from server.inbox import inbox_router
    from server.metrics import (
        RequestMetricsMiddleware,
        mark_process_dead,
        metrics,
        observe_moderation,
        watch_pool,
        watch_streams,
    )
    from server.security_headers import add_response_headers
    from server.static_files import favicon, static_routers

    def page_or_api_not_found(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        """A /mod URL no route answers gets the dashboard's page; everything else the API's."""
        if isinstance(exc, NotFoundException) and is_dashboard_path(request.url.path):
            return unrouted_not_found(request, exc)
        return not_found_handler(request, exc)

    def page_or_api_http_error(
        request: Request[Any, Any, Any], exc: HTTPException
    ) -> Response[Any]:
        """A /mod address opened with a method it does not take gets the dashboard's page."""
        if isinstance(exc, MethodNotAllowedException) and is_dashboard_path(request.url.path):
            return unrouted_wrong_method(request, exc)
        return http_error_handler(request, exc)

    settings = settings or get_settings()
    owned: list[AsyncEngine] = []
    if engine is None:
        engine = create_engine(
            settings.database_url, echo=settings.database_echo, bounds=settings.database_bounds
        )
        owned.append(engine)
    if readiness_engine is None:
        readiness_engine = readiness_engine_for(settings)
        owned.append(readiness_engine)

    async def dispose_engine() -> None:
        for made in owned:
            await made.dispose()

    watch_pool(engine, settings)
    observe_moderation()
    state = database_state(settings, engine, readiness_engine)
    hub = state["events"]
    assert isinstance(hub, EventHub)
    watch_streams(hub)

    return Litestar(
        route_handlers=[
            health_live,
            health_ready,
            health,
            create_api_router(settings),
            dashboard_router(),
            *static_routers(),
            favicon,
            admin_panels,
            metrics,
            inbox_router(settings),  # the reference end-user inbox (issue 22)
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers={
            PortalError: portal_error_handler,
            ValidationException: validation_error_handler,
            HTTPException: page_or_api_http_error,
            HTTP_404_NOT_FOUND: page_or_api_not_found,
            HTTP_500_INTERNAL_SERVER_ERROR: internal_error_handler,
            **dict.fromkeys(DATABASE_UNAVAILABLE_ERRORS, database_unavailable_handler),
        },
        before_send=[add_response_headers, set_rotated_csrf_cookie],
        state=State(state),
        on_shutdown=[dispose_engine, mark_process_dead],
        lifespan=[
            lambda app: delivery_loop_running(app.state.settings, app.state.sessionmaker),
            lambda app: checkpoint_loop_running(app.state.settings, app.state.sessionmaker),
            lambda app: app.state.events.run(),
        ],
        openapi_config=OpenAPIConfig(
            title="Messaging portal API",
            version="1.0.0",
            description=(
                "Employer–candidate messaging for hiring platforms. End-user endpoints live "
                "under /api/v1 and take a JWT bearer token."
            ),
            path="/schema",
            operation_id_creator=operation_id,
            render_plugins=[LocalSwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="A user token (`portal token USER_ID`) or, for "
                        "provisioning, a service token (`portal token --service`).",
                    )
                }
            ),
        ),
        plugins=[StrictStructSchemaPlugin()],
        template_config=template_config(),
        csrf_config=CSRFConfig(
            secret=settings.session_secret,
            cookie_name="portal_csrf",
            cookie_httponly=True,
            cookie_samesite="lax",
            cookie_secure=settings.base_url.startswith("https://"),
            # Bearer-token API (no cookies to forge with) and the email-open pixel under it; the
            # probes (no form, no cookie: a token made and signed for each probe went unused).
            exclude=["^/api/", "^/health"],
        ),
        middleware=[
            RequestMetricsMiddleware,
            DefineMiddleware(AllowedHostsMiddleware, hosts=settings.allowed_hosts),
            DefineMiddleware(
                RequestTimeoutMiddleware, timeout_seconds=settings.request_timeout_ms / 1000
            ),
            session_config(settings).middleware,
            RequestSessionMiddleware,
        ],
        debug=False,
    )
