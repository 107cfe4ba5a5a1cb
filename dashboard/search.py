"""Search (/mod/search) for every staff role: people, threads and messages on one page, and the
picker the compliance forms use to take a person or a thread by name (``/mod/search/suggest``:
an HTML fragment of choices, asked by htmx as one types; without script the forms list the
same choices after a submit)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import hx_target, render
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.permissions import Capability
from portal.services import search as search_service

PICKER_KINDS: Final = ("user", "thread")
PICKER_SHOWN: Final = 8


async def picker_choices(
    db_session: AsyncSession, kind: str, text: str, *, shown: int = PICKER_SHOWN
) -> search_service.SearchResults:
    """People (``kind`` "user") or threads (``kind`` "thread") matching ``text``."""
    return await search_service.search(
        db_session,
        text,
        users=shown if kind == "user" else 0,
        threads=shown if kind == "thread" else 0,
        messages=0,
    )


@get(
    "/mod/search",
    name="mod.search",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def search_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    q: FromQuery[str] = "",
) -> Response[Any]:
    staff = await signed_in(request)
    results = await search_service.search(db_session, q)
    context = {"nav": "search", "q": q, "results": results}
    if hx_target(request) == "search-results":
        return render(request, "mod/_search_results.html", context)
    context["counts"] = await nav_counts(db_session, staff)
    return render(request, "mod/search.html", context)


@get(
    "/mod/search/suggest",
    name="mod.search.suggest",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def suggest(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    kind: FromQuery[str] = "user",
    field: FromQuery[str] = "q",
) -> Response[Any]:
    """The picker's choices for the value of the form field ``field`` (sent under its own
    name, as htmx sends an input's value)."""
    kind = kind if kind in PICKER_KINDS else "user"
    text = request.query_params.get(field, "") if field.isidentifier() else ""
    results = await picker_choices(db_session, kind, text)
    return render(
        request,
        "mod/_picker_options.html",
        {"kind": kind, "field": field, "text": text, "choices": results},
    )


SEARCH_HANDLERS: Final = (search_page, suggest)
