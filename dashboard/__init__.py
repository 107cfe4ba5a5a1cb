"""The moderation dashboard under /mod: queue, reports, users, compliance, staff accounts."""

from __future__ import annotations

from litestar import Router

from dashboard import (
    appeals,
    attachments,
    decisions,
    events,
    overview,
    policies,
    queue,
    reports,
    search,
    sign_in,
    threads,
    users,
)
from dashboard.compliance import compliance_router
from dashboard.pages import HTML_EXCEPTION_HANDLERS
from dashboard.retaliation import retaliation_router
from dashboard.staff_accounts import staff_router
from dashboard.transparency import transparency_router


def dashboard_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            sign_in.login_page,
            sign_in.login,
            sign_in.logout,
            queue.queue,
            queue.counts,
            events.queue_events,
            queue.next_report,
            queue.bulk_page,
            queue.bulk,
            *queue.QUEUE_WORK_HANDLERS,
            reports.report,
            users.user,
            *search.SEARCH_HANDLERS,
            *threads.THREAD_HANDLERS,
            *attachments.ATTACHMENT_HANDLERS,
            *decisions.DECISION_HANDLERS,
            *appeals.APPEAL_HANDLERS,
            *policies.POLICY_HANDLERS,
            overview.overview,
            staff_router,
            compliance_router,
            transparency_router,
            retaliation_router,
        ],
        exception_handlers=HTML_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
