"""The app factory: one Litestar application for the API, the dashboard and the admin panels."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import create_engine, create_sessionmaker
from portal.email_delivery import delivery_loop_running
from portal.errors import PortalError, RateLimited
from portal.settings import Settings, get_settings


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    async with state.sessionmaker() as session:
        yield session


def provide_settings(state: State) -> Settings:
    return state.settings


def portal_error_handler(_: Request, exc: PortalError) -> Response[dict[str, object]]:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return Response(
        {"status_code": exc.status_code, "detail": exc.detail},
        status_code=exc.status_code,
        headers=headers,
    )


@get("/health", tags=["operations"], summary="Liveness with a database round-trip")
async def health(state: State) -> Response[dict[str, str]]:
    try:
        async with state.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy", never a 500
        return Response(
            {"status": "unavailable", "database": type(exc).__name__},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    return Response({"status": "ok", "database": "ok"}, status_code=HTTP_200_OK)


def create_app(settings: Settings | None = None) -> Litestar:
    from admin import admin_route_handlers
    from admin.api_docs import LocalSwaggerRenderPlugin
    from admin.pages import template_config
    from admin.security_headers import SecurityHeadersMiddleware
    from admin.staff_auth import session_config
    from api import create_api_router
    from api.errors import validation_error_handler
    from api.openapi import StrictStructSchemaPlugin

    settings = settings or get_settings()
    engine = create_engine(settings.database_url, echo=settings.database_echo)
    sessionmaker = create_sessionmaker(engine)

    async def dispose_engine() -> None:
        await engine.dispose()

    return Litestar(
        route_handlers=[health, create_api_router(settings), *admin_route_handlers(settings)],
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers={
            PortalError: portal_error_handler,
            ValidationException: validation_error_handler,
        },
        state=State({"settings": settings, "engine": engine, "sessionmaker": sessionmaker}),
        on_shutdown=[dispose_engine],
        lifespan=[lambda _app: delivery_loop_running(settings, sessionmaker)],
        openapi_config=OpenAPIConfig(
            title="Messaging portal API",
            version="1.0.0",
            description=(
                "Employer–candidate messaging for hiring platforms. End-user endpoints live "
                "under /api/v1 and take a JWT bearer token."
            ),
            path="/schema",
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
            # Bearer-token API (no cookies to forge with) and the email-open pixel under it.
            exclude=["^/api/"],
        ),
        middleware=[
            DefineMiddleware(SecurityHeadersMiddleware),
            session_config(settings).middleware,
        ],
        debug=False,
    )
