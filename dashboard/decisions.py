"""The decisions staff take from a report's page or a user's page, as one table.

Each row names the decision's URL (``POST /mod/reports/{id}/<name>``, route ``mod.report.<name>``),
the form fields it reads, the service call it makes, the word shown once it is done, and the
capability that may post it. One handler serves every row: it reads the fields, makes the call, and
then opens the next item ("submit and next") or the same page with ``?done=<word>``. A decision
someone else took first, or bad input, shows the page again with the reason and changes nothing
(the refused form's values kept, under its word). Every action is one call into
``portal.services``, which records its audit event.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import field, read_form, see_other, suspension_days
from dashboard.queue import signed_in
from dashboard.reports import OWN_DONE, report_page
from dashboard.reports import PATH as REPORT_PATH
from dashboard.staff_auth import requires
from dashboard.users import PATH as USER_PATH
from dashboard.users import user_page
from portal.errors import AlreadyDecided, Conflict, InvalidInput
from portal.models import ModerationDecision, StaffUser
from portal.permissions import Capability
from portal.services import moderation, moderation_queue, suspensions, undo

Values = Mapping[str, str]
Call = Callable[[AsyncSession, uuid.UUID, StaffUser, Values], Awaitable[object]]


class Page(Protocol):
    """Shows the subject's page again, with why the decision was refused."""

    async def __call__(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        staff: StaffUser,
        subject_id: uuid.UUID,
        /,
        *,
        error: str,
        status_code: int,
        form: dict[str, dict[str, str]] | None = None,
    ) -> Response[Any]: ...


@dataclass(frozen=True)
class Subject:
    """What a decision is taken on: its page's route and path parameter."""

    route: str  # the page's route name; a decision's is "<route>.<name>"
    path: str
    parameter: str
    page: Page


REPORT: Final = Subject("mod.report", REPORT_PATH, "message_id", report_page)
USER: Final = Subject("mod.user", USER_PATH, "user_id", user_page)


@dataclass(frozen=True)
class Decision:
    subject: Subject
    name: str  # the URL's last segment
    fields: tuple[str, ...]  # the form fields the call reads (and a refusal keeps)
    call: Call
    done: str  # shown once it is done: "Done: <done>."
    may: Capability  # who may post it (the service checks the item's stage too)
    then_next: bool = False  # open the next item of the queue afterwards
    # offer to undo it on the page that opens next (``?undo=<decision id>``, portal.services.undo)
    undoable: bool = False

    @property
    def route(self) -> str:
        return f"{self.subject.route}.{self.name}"


# The fields of a restriction's statement: the policy cited, the explanation, the public note.
GROUNDS: Final = ("policy", "explanation", "public_note")


def _decision_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("decision_id", "must be a decision id") from None


def grounds(values: Values) -> moderation.Grounds:
    return moderation.Grounds(
        policy=values["policy"] or None,
        explanation=values["explanation"] or None,
        public_note=values["public_note"] or None,
    )


DECISIONS: Final = (
    # on a reported message
    Decision(
        REPORT,
        "claim",
        (),
        lambda db, mid, staff, _: moderation.claim(db, mid, actor=staff),
        "claimed",
        Capability.CLAIM,
    ),
    Decision(
        REPORT,
        "unclaim",
        (),
        lambda db, mid, staff, _: moderation.unclaim(db, mid, actor=staff),
        "unclaimed",
        Capability.CLAIM,
    ),
    Decision(
        REPORT,
        "dismiss",
        ("note", "public_note"),
        lambda db, mid, staff, v: moderation.dismiss(
            db, mid, actor=staff, note=v["note"] or None, public_note=v["public_note"] or None
        ),
        "dismissed",
        Capability.DECIDE,
        then_next=True,
        undoable=True,
    ),
    Decision(
        REPORT,
        "remove",
        ("reason", *GROUNDS),
        lambda db, mid, staff, v: moderation.remove_message(
            db, mid, actor=staff, reason=v["reason"], grounds=grounds(v)
        ),
        "removed",
        Capability.DECIDE,
        then_next=True,
        undoable=True,
    ),
    Decision(
        REPORT,
        "warn",
        ("reason", *GROUNDS),  # one restriction form: its internal note is "reason"
        lambda db, mid, staff, v: moderation.warn_sender(
            db, mid, actor=staff, note=v["reason"], grounds=grounds(v)
        ),
        "warned",
        Capability.DECIDE,
        then_next=True,
        undoable=True,
    ),
    Decision(
        REPORT,
        "suspend",
        ("reason", "days", *GROUNDS),
        lambda db, mid, staff, v: moderation.suspend_sender(
            db,
            mid,
            actor=staff,
            reason=v["reason"],
            days=suspension_days(v["days"]),
            grounds=grounds(v),
        ),
        "suspended",
        Capability.DECIDE,
        then_next=True,
        undoable=True,
    ),
    Decision(
        REPORT,
        "escalate",
        ("note",),
        lambda db, mid, staff, v: moderation.escalate(db, mid, actor=staff, note=v["note"] or None),
        "escalated",
        Capability.ESCALATE,
        then_next=True,
    ),
    Decision(
        REPORT,
        "send_back",
        ("note",),
        lambda db, mid, staff, v: moderation.send_back(db, mid, actor=staff, note=v["note"]),
        "sent_back",
        Capability.DECIDE_ESCALATED,
        then_next=True,
    ),
    Decision(
        REPORT,
        "undo",
        ("decision_id",),
        lambda db, mid, staff, v: undo.undo(
            db, _decision_id(v["decision_id"]), actor=staff, message_id=mid
        ),
        "undone",
        Capability.DECIDE,
    ),
    Decision(
        REPORT,
        "notes",
        ("body",),
        lambda db, mid, staff, v: moderation.add_note(
            db, actor=staff, body=v["body"], message_id=mid
        ),
        "noted",
        Capability.ADD_NOTE,
    ),
    # on a user
    Decision(
        USER,
        "suspend",
        ("reason", "days", "policy", "explanation"),
        lambda db, uid, staff, v: suspensions.suspend_user(
            db,
            uid,
            actor=staff,
            reason=v["reason"],
            days=suspension_days(v["days"]),
            policy=v["policy"] or None,
            explanation=v["explanation"] or None,
        ),
        "suspended",
        Capability.MODERATE_USERS,
    ),
    Decision(
        USER,
        "lift",
        ("reason",),
        lambda db, uid, staff, v: suspensions.lift_suspension(
            db, uid, actor=staff, reason=v["reason"]
        ),
        "lifted",
        Capability.MODERATE_USERS,
    ),
    Decision(
        USER,
        "notes",
        ("body",),
        lambda db, uid, staff, v: moderation.add_note(db, actor=staff, body=v["body"], user_id=uid),
        "noted",
        Capability.ADD_NOTE,
    ),
)


async def decide(
    request: Request[Any, Any, Any], db_session: AsyncSession, decision: Decision
) -> Response[Any]:
    staff = await signed_in(request)
    subject_id: uuid.UUID = request.path_params[decision.subject.parameter]
    form = await read_form(request)
    values = {name: field(form, name) for name in decision.fields}
    try:
        result = await decision.call(db_session, subject_id, staff, values)
    except AlreadyDecided as exc:
        return await decision.subject.page(
            request, db_session, staff, subject_id, error=exc.detail, status_code=409
        )
    except (InvalidInput, Conflict) as exc:
        return await decision.subject.page(
            request,
            db_session,
            staff,
            subject_id,
            error=exc.detail,
            status_code=exc.status_code,
            form={decision.done: values},
        )
    offers_undo = decision.undoable and isinstance(result, ModerationDecision)
    if decision.then_next and (offers_undo or decision.done in OWN_DONE):
        # the next item, offering to undo this one there; with none left, this item again
        following_id = await moderation_queue.next_item(
            db_session, viewer=staff, after_message_id=subject_id
        )
        page = request.app.route_reverse(
            decision.subject.route, **{decision.subject.parameter: following_id or subject_id}
        )
        offer = f"&undo={result.id}" if isinstance(result, ModerationDecision) else ""
        return see_other(f"{page}?done={decision.done}{offer}")
    if decision.then_next:
        following = request.app.route_reverse("mod.next")
        return see_other(f"{following}?after={subject_id}&done={decision.done}")
    page = request.app.route_reverse(
        decision.subject.route, **{decision.subject.parameter: subject_id}
    )
    return see_other(f"{page}?done={decision.done}")


def _handler(decision: Decision) -> HTTPRouteHandler:
    async def handler(
        request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        return await decide(request, db_session, decision)

    handler.__name__ = handler.__qualname__ = decision.route.replace(".", "_")
    return post(
        f"{decision.subject.path}/{decision.name}",
        name=decision.route,
        guards=[requires(decision.may)],
        include_in_schema=False,
    )(handler)


@post(
    "/mod/bulk/undo",
    name="mod.bulk.undo",
    guards=[requires(Capability.DECIDE)],
    include_in_schema=False,
)
async def bulk_undo(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Response[Any]:
    """Undoes a bulk dismissal just taken (each item on its own); back to the queue, where the
    items are open again. Those refused (too late, changed since) stay as they are."""
    staff = await signed_in(request)
    form = await read_form(request)
    ids = [_decision_id(str(value)) for value in form.getall("decision_id", [])]
    if not ids:
        raise InvalidInput("decision_id", "name at least one decision")
    if len(ids) > 500:
        raise InvalidInput("decision_id", "at most 500 decisions at once")
    await undo.undo_many(db_session, ids, actor=staff)
    return see_other(request.app.route_reverse("mod.queue"))


DECISION_HANDLERS: Final = [_handler(decision) for decision in DECISIONS] + [bulk_undo]
