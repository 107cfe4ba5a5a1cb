"""The staff side: the moderation dashboard under /mod and SQLAdmin panels under /admin."""

from __future__ import annotations

from litestar import Router
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from admin import overview, queue, reports, sign_in, users
from admin.compliance import compliance_router
from admin.mount import admin_panels
from admin.pages import HTML_EXCEPTION_HANDLERS
from admin.staff_accounts import staff_router
from portal.settings import PROJECT_ROOT, Settings

STATIC_DIR = PROJECT_ROOT / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"


def static_routers() -> list[Router]:
    return [
        create_static_files_router(
            path="/static/vendor/htmx",
            directories=[NODE_MODULES / "htmx.org" / "dist"],
            name="vendor-htmx",
        ),
        create_static_files_router(
            path="/static/vendor/swagger-ui",
            directories=[NODE_MODULES / "swagger-ui-dist"],
            name="vendor-swagger-ui",
        ),
        create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
    ]


def admin_route_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    dashboard = Router(
        path="/",
        route_handlers=[
            sign_in.login_page,
            sign_in.login,
            sign_in.logout,
            queue.queue,
            queue.counts,
            queue.next_report,
            queue.bulk_page,
            queue.bulk,
            *reports.REPORT_HANDLERS,
            *users.USER_HANDLERS,
            overview.overview,
            staff_router,
            compliance_router,
        ],
        exception_handlers=HTML_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    return [dashboard, *static_routers(), admin_panels]
