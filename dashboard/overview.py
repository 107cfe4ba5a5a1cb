"""The day's figures (/mod/overview)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import render
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.permissions import Capability
from portal.services import appeals, moderation_records


@get(
    "/mod/overview",
    name="mod.overview",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def overview(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    figures = await moderation_records.overview(db_session)
    open_appeals, oldest_appeal = await appeals.open_appeals_summary(db_session)
    return render(
        request,
        "mod/overview.html",
        {
            "figures": figures,
            "open_appeals": open_appeals,
            "oldest_appeal": oldest_appeal,
            "nav": "overview",
            "counts": await nav_counts(db_session, staff),
        },
    )
