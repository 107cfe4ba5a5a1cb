"""Compliance pages (/mod/compliance) for the compliance and admin roles: a thread's audit report
downloads, legal holds, and the staff activity export.

Downloads are POST forms with the CSRF token even though they change no evidence: each export
is itself an audit event (``report.exported``, ``staff_activity.exported``), and no GET on the
dashboard writes anything. The export is finished and recorded before the response starts (an
export that fails answers an error page), then streams (Litestar ``Stream``) as an attachment
from its temporary file, at the browser's pace; the forms opt out
of htmx boosting so that the browser saves the file instead of swapping it into the page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from litestar import Request, Response, Router, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, optional_field, read_form, render, see_other
from dashboard.queue import nav_counts, signed_in
from dashboard.search import picker_choices
from dashboard.staff_auth import requires
from portal.database import request_sessions
from portal.errors import Conflict, InvalidInput, NotFound, PortalError
from portal.models.holds import HOLD_TYPES
from portal.permissions import Capability
from portal.services.compliance import holds as hold_service
from portal.services.compliance import summaries
from portal.services.compliance.reports import FORMATS as REPORT_FORMATS
from portal.services.compliance.reports import stream_report
from portal.services.compliance.staff_activity import FORMATS as ACTIVITY_FORMATS
from portal.services.compliance.staff_activity import export_staff_activity
from portal.services.search import SearchResults
from portal.settings import Settings

DONE: Final = {
    "placed": "hold placed",
    "lifted": "hold lifted",
    "disposition": "final disposition recorded",
}
HOLD_FIELDS: Final = (
    "thread_id",
    "user_id",
    "employer_id",
    "requisition_id",
    "reason",
    "case_reference",
    "hold_type",
    "charge_number",
    "charge_agency",
    "charging_party_id",
    "charge_filed_on",
    "final_disposition_on",
)


def parse_id(name: str, value: str | None) -> uuid.UUID | None:
    """An optional id from a form or query field; 400 naming the field when it is not one."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(name, "is not a valid id (a UUID)") from None


# The hold form's fields that take a person or a thread by name (the picker's kind of each).
PICKED: Final = {
    "thread_id": "thread",
    "user_id": "user",
    "employer_id": "user",
    "charging_party_id": "user",
}


def picked_id(name: str, values: list[str]) -> uuid.UUID | str | None:
    """A picker field's value: the id picked (the last id among its values: the typed text and
    the radio picked share the name), else the text typed (a name to look up), else None."""
    texts = [value.strip() for value in values if value and value.strip()]
    for value in reversed(texts):
        try:
            return uuid.UUID(value)
        except ValueError:
            continue
    if texts and PICKED.get(name) is None:
        raise InvalidInput(name, "is not a valid id (a UUID)")
    return texts[0] if texts else None


async def choices_for(db_session: AsyncSession, kind: str, text: str) -> SearchResults:
    return await picker_choices(db_session, kind, text, shown=20)


def parse_day(name: str, value: str) -> date:
    if not value:
        raise InvalidInput(name, "a date is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def activity_period(start: str, end: str) -> tuple[datetime, datetime]:
    """Both days included, in UTC: [start 00:00, the day after end 00:00)."""
    first, last = parse_day("from", start), parse_day("to", end)
    if last < first:
        raise InvalidInput("to", "must not be before from")
    return (
        datetime.combine(first, time(), tzinfo=UTC),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
    )


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value


def attachment(filename: str, media_type: str, chunks: AsyncIterator[bytes]) -> Stream:
    async def closing() -> AsyncIterator[bytes]:
        # the finished export waits in a temporary file, closed when sent or abandoned
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    return Stream(
        closing(),
        media_type=media_type,
        status_code=200,  # not a POST's default 201: nothing was created, a file is sent
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


# --- pages --------------------------------------------------------------------------------------


async def _index_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    thread_choices: SearchResults | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    today = datetime.now(UTC).date()
    context = {
        "nav": "compliance",
        "error": error,
        "thread_choices": thread_choices,
        "form": {"from": str(today - timedelta(days=30)), "to": str(today), **(form or {})},
        "activity_formats": ACTIVITY_FORMATS,
        "standing": sum(h.active for h in await summaries.hold_views(db_session)),
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/compliance.html", context, status_code=status_code)


@get("/", name="mod.compliance")
async def index(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    thread: FromQuery[str | None] = None,
) -> Response[Any]:
    """The compliance page; ``?thread=ID`` (the lookup form) opens that thread's page, and
    ``?thread=NAME`` lists the threads that name finds (subject or either person) to pick."""
    if thread is not None:
        picked = picked_id("thread_id", request.query_params.getall("thread", []))
        if isinstance(picked, str):
            choices = await choices_for(db_session, "thread", picked)
            return await _index_page(
                request,
                db_session,
                error=None if choices.threads else f"No thread matches “{picked}”.",
                status_code=200 if choices.threads else 404,
                form={"thread": picked},
                thread_choices=choices,
            )
        try:
            thread_id = picked
            if thread_id is None:
                raise InvalidInput("thread", "enter a thread id, a subject or a person's name")
            await summaries.thread_summary(db_session, thread_id)
        except (InvalidInput, NotFound) as exc:
            return await _index_page(
                request,
                db_session,
                error=exc.detail,
                status_code=exc.status_code,
                form={"thread": thread},
            )
        return see_other(f"/mod/compliance/threads/{thread_id}")
    return await _index_page(request, db_session)


async def _thread_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    thread_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    context = {
        "nav": "compliance",
        "thread": await summaries.thread_summary(db_session, thread_id),
        "report_formats": REPORT_FORMATS,
        "error": error,
        "done": DONE.get(done or ""),
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/compliance_thread.html", context, status_code=status_code)


@get("/threads/{thread_id:uuid}", name="mod.compliance.thread")
async def thread_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    thread_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _thread_page(request, db_session, thread_id, done=done)


@post("/threads/{thread_id:uuid}/report", name="mod.compliance.report")
async def download_report(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    thread_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        fmt = _choice("format", field(form, "format"), REPORT_FORMATS)
        export = await stream_report(
            request_sessions,
            thread_id,
            fmt,
            actor=staff,
            settings=settings,
        )
    except NotFound as exc:
        return await _index_page(request, db_session, error=exc.detail, status_code=exc.status_code)
    except InvalidInput as exc:
        return await _thread_page(
            request, db_session, thread_id, error=exc.detail, status_code=exc.status_code
        )
    return attachment(export.filename, export.media_type, export.chunks)


@post("/staff-activity", name="mod.compliance.staff_activity")
async def download_staff_activity(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in ("from", "to", "format")}
    try:
        fmt = _choice("format", values["format"], ACTIVITY_FORMATS)
        start, end = activity_period(values["from"], values["to"])
        export = await export_staff_activity(
            request_sessions,
            start=start,
            end=end,
            fmt=fmt,
            actor=staff,
        )
    except InvalidInput as exc:
        return await _index_page(
            request, db_session, error=exc.detail, status_code=exc.status_code, form=values
        )
    return attachment(export.filename, export.media_type, export.chunks)


# --- legal holds ----------------------------------------------------------------------------


async def _holds_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    lifting: uuid.UUID | None = None,
    choices: dict[str, SearchResults] | None = None,
) -> Response[Any]:
    staff = await signed_in(request)
    holds = await summaries.hold_views(db_session)
    context = {
        "nav": "compliance",
        "holds": holds,
        "choices": choices or {},
        "picked": PICKED,
        "standing": sum(h.active for h in holds),
        "done": DONE.get(done or ""),
        "error": error,
        "form": form or {},
        "lifting": lifting,
        "counts": await nav_counts(db_session, staff),
    }
    return render(request, "mod/compliance_holds.html", context, status_code=status_code)


@get("/holds", name="mod.compliance.holds")
async def holds_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    done: FromQuery[str | None] = None,
) -> Response[Any]:
    return await _holds_page(request, db_session, done=done)


def _hold_target(form: FormMultiDict) -> dict[str, Any]:
    """The hold's target: ids, or names still to pick (strings) for the picker fields."""
    return {
        **{name: picked_id(name, form.getall(name, [])) for name in PICKED},
        "requisition_id": optional_field(form, "requisition_id"),
    }


def _charge(form: FormMultiDict, charging_party: object) -> hold_service.Charge | None:
    """The EEOC charge the form names when its basis is ``eeoc_charge``; None for litigation."""
    if _choice("hold_type", field(form, "hold_type") or "litigation", HOLD_TYPES) == "litigation":
        return None
    if not isinstance(charging_party, uuid.UUID):
        raise InvalidInput("charging_party_id", "name the charging party (a candidate)")
    if not field(form, "charge_filed_on"):
        raise InvalidInput("charge_filed_on", "give the date the charge was filed")
    disposition = field(form, "final_disposition_on")
    return hold_service.Charge(
        charge_number=field(form, "charge_number"),
        agency=field(form, "charge_agency"),
        charging_party_id=charging_party,
        filed_on=parse_day("charge_filed_on", field(form, "charge_filed_on")),
        final_disposition_on=(
            parse_day("final_disposition_on", disposition) if disposition else None
        ),
    )


@post("/holds", name="mod.compliance.place_hold")
async def place_hold(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    values = {name: field(form, name) for name in HOLD_FIELDS}
    try:
        target = _hold_target(form)
        names = {name: value for name, value in target.items() if isinstance(value, str)}
        names.pop("requisition_id", None)
        if names:  # a name typed without a script's picker: list whom it finds, to pick
            values.update(names)
            choices = {
                name: await choices_for(db_session, PICKED[name], text)
                for name, text in names.items()
            }
            return await _holds_page(
                request,
                db_session,
                error="Pick whom or which thread you mean, then place the hold.",
                status_code=200,
                form=values,
                choices=choices,
            )
        charge = _charge(form, target.pop("charging_party_id"))
        hold = await hold_service.place_hold(
            db_session,
            actor=staff,
            reason=values["reason"],
            case_reference=values["case_reference"],
            charge=charge,
            **target,
        )
    except PortalError as exc:
        return await _holds_page(
            request, db_session, error=exc.detail, status_code=exc.status_code, form=values
        )
    if field(form, "return_to") == "thread" and hold.thread_id is not None:
        return see_other(f"/mod/compliance/threads/{hold.thread_id}?done=placed")
    return see_other(f"/mod/compliance/holds?done=placed#hold-{hold.id}")


@post("/holds/{hold_id:uuid}/lift", name="mod.compliance.lift_hold")
async def lift_hold(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    hold_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        await hold_service.lift_hold(db_session, hold_id, actor=staff, reason=field(form, "reason"))
    except (InvalidInput, NotFound, Conflict) as exc:
        return await _holds_page(
            request,
            db_session,
            error=exc.detail,
            status_code=exc.status_code,
            lifting=hold_id,
        )
    return see_other(f"/mod/compliance/holds?done=lifted#hold-{hold_id}")


@post("/holds/{hold_id:uuid}/disposition", name="mod.compliance.hold_disposition")
async def record_disposition(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    hold_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    form = await read_form(request)
    try:
        day = parse_day("final_disposition_on", field(form, "final_disposition_on"))
        await hold_service.record_final_disposition(db_session, hold_id, day, actor=staff)
    except PortalError as exc:
        return await _holds_page(
            request,
            db_session,
            error=exc.detail,
            status_code=exc.status_code,
            lifting=hold_id,
        )
    return see_other(f"/mod/compliance/holds?done=disposition#hold-{hold_id}")


compliance_router = Router(
    path="/mod/compliance",
    guards=[requires(Capability.READ_COMPLIANCE)],
    route_handlers=[
        index,
        thread_page,
        download_report,
        download_staff_activity,
        holds_page,
        place_hold,
        lift_hold,
        record_disposition,
    ],
    include_in_schema=False,
)
