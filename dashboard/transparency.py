"""The transparency page (/mod/compliance/transparency) for the compliance and admin roles: the
DSA Art. 15 figures of a period (by default the last full calendar half-year), and the downloads
of the report (JSON, CSV) and of the period's statements of reasons for the Transparency
Database.

Reading the figures is a GET that writes nothing; each download is a POST form with the CSRF
token, recorded as an audit event by the service before the file is sent (as the other
compliance downloads, see ``dashboard.compliance``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.compliance import attachment
from dashboard.pages import field, read_form, render
from dashboard.queue import nav_counts, signed_in
from dashboard.staff_auth import requires
from portal.database import request_sessions
from portal.errors import InvalidInput
from portal.permissions import Capability
from portal.services import transparency
from portal.services.transparency import Period, TransparencyReport


def readable_seconds(seconds: int | None) -> str:
    """A median as people read it: 2 h 30 min, 3 d 4 h, 45 s; a dash for none."""
    if seconds is None:
        return "—"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append(f"{minutes} min" if minutes and not days else "")
    parts.append(f"{secs} s" if not (days or hours or minutes) else "")
    return " ".join(part for part in parts if part)


async def _page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    period: Period | None,
    form: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> Response[Any]:
    staff = await signed_in(request)
    report: TransparencyReport | None = None
    if period is not None:
        report = await transparency.build_report(db_session, period)
    context = {
        "nav": "compliance",
        "report": report,
        "form": form,
        "error": error,
        "formats": transparency.REPORT_FORMATS,
        "median": readable_seconds,
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/compliance_transparency.html", context, status_code=status_code)


def _form_of(period: Period) -> dict[str, str]:
    return {"from": str(period.first), "to": str(period.last)}


@get("/", name="mod.compliance.transparency")
async def transparency_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    """The figures of ``?from=YYYY-MM-DD&to=YYYY-MM-DD``, or of the last full half-year."""
    query = request.query_params
    if query.get("from") is None and query.get("to") is None:
        period = transparency.default_period()
        return await _page(request, db_session, period=period, form=_form_of(period))
    values = {name: (query.get(name) or "").strip() for name in ("from", "to")}
    try:
        period = transparency.parse_period(values["from"], values["to"])
    except InvalidInput as exc:
        return await _refused(request, db_session, values, exc)
    return await _page(request, db_session, period=period, form=values)


async def _refused(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    values: dict[str, str],
    exc: InvalidInput,
) -> Response[Any]:
    return await _page(
        request,
        db_session,
        period=None,
        form=values,
        error=exc.detail,
        status_code=exc.status_code,
    )


@post("/report", name="mod.compliance.transparency.report")
async def download_report(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("from", "to", "format")}
    try:
        period = transparency.parse_period(values["from"], values["to"])
        export = await transparency.export_report(
            request_sessions, period, values["format"], actor=staff
        )
    except InvalidInput as exc:
        return await _refused(request, db_session, values, exc)
    return attachment(export.filename, export.media_type, export.chunks)


@post("/statements", name="mod.compliance.transparency.statements")
async def download_statements(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("from", "to")}
    try:
        period = transparency.parse_period(values["from"], values["to"])
        export = await transparency.export_statements(request_sessions, period, actor=staff)
    except InvalidInput as exc:
        return await _refused(request, db_session, values, exc)
    return attachment(export.filename, export.media_type, export.chunks)


transparency_router = Router(
    path="/mod/compliance/transparency",
    guards=[requires(Capability.READ_COMPLIANCE)],
    route_handlers=[transparency_page, download_report, download_statements],
    include_in_schema=False,
)
