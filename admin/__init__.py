"""The staff side: the moderation dashboard under /mod and SQLAdmin panels under /admin."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from admin import overview, queue, reports, sign_in, users
from admin.compliance import compliance_router
from admin.mount import admin_panels
from admin.pages import HTML_EXCEPTION_HANDLERS
from admin.staff_accounts import staff_router
from admin.static_files import static_routers
from portal.settings import Settings


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
