"""What moderation decided, as the people it touches see it (DSA Art. 16, 17 and 20): the
decisions about the caller with their statements of reasons, the outcomes of the caller's own
reports, and the caller's appeals. Each handler calls one service and serialises; what a person
may see and appeal is decided in portal.services.notices and portal.services.appeals.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from api import schemas
from api.auth import CALLER, END_USERS
from api.messages import provide_request_session, provide_user
from api.responses import error_responses
from portal.principals import EndUser
from portal.services import appeals, notices

APPEAL_EXAMPLE = {
    "decision_id": "0190d5b2-7a8e-7c52-9a57-3f1f6c1e2b4d",
    "text": "The message was a genuine job offer; the fee it mentions is the client's, not mine.",
}


class ModerationNoticesController(Controller):
    path = "/moderation"
    tags = ["moderation"]  # noqa: RUF012 - Litestar reads these class attributes
    opt = {CALLER: END_USERS}  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "user": Provide(provide_user, sync_to_thread=False),
        "db_session": Provide(provide_request_session),
    }

    @get(
        "/decisions",
        summary="Moderation decisions about the caller",
        description="Newest first (the latest 200): each restriction of the caller's messages "
        "or account (a message removed, a warning, a suspension) and each reversal of one, "
        "with its statement of reasons as it was sent, the rule it applied, whether the caller "
        "can appeal it now and until when, and the caller's appeal if they made one. A "
        "decision that an appeal reversed is marked `overturned`. Nothing says who reported.",
        responses=error_responses(401, 403),
    )
    async def list_decisions(
        self, db_session: NamedDependency[AsyncSession], user: NamedDependency[EndUser]
    ) -> schemas.DecisionListOut:
        return schemas.decision_list_out(await notices.decisions_about(db_session, user))

    @get(
        "/reports",
        summary="The caller's reports and their outcomes",
        description="Newest first (the latest 200): each message the caller reported, with "
        "what they said, and its status: `received` (the receipt), `under_review`, then "
        "`action_taken` (with the rule applied) or `no_violation`, and the moderators' note to "
        "reporters if any. Never what the sanction was, nor anything about the other person's "
        "account. The caller can appeal a `no_violation` outcome (`appealable`, "
        "`appealable_until`).",
        responses=error_responses(401, 403),
    )
    async def list_reports(
        self, db_session: NamedDependency[AsyncSession], user: NamedDependency[EndUser]
    ) -> schemas.ReportListOut:
        return schemas.report_list_out(await notices.reports_by(db_session, user))

    @post(
        "/appeals",
        status_code=201,
        summary="Appeal a moderation decision",
        description="Appeals a decision about the caller, or the `no_violation` outcome of the "
        "caller's report, once per decision, within its window (`appealable_until`: at least "
        "six months from the decision). Someone other than the moderator who decided reviews "
        "it; the outcome is in `GET /api/v1/moderation/appeals/{appeal_id}` and, for a "
        "decision about the caller, in `GET /api/v1/moderation/decisions`.\n\n"
        "Refusals: 400 for bad input; 403 for a decision the caller may not appeal (not about "
        "them, or not the outcome of their report); 404 for an unknown decision; 409 for a "
        "second appeal, or a decision already overturned; 410 once the window has closed.",
        responses=error_responses(400, 401, 403, 404, 409, 410, 413, 415),
    )
    async def file_appeal(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        data: Annotated[
            schemas.AppealIn,
            Body(examples=[Example(summary="An appeal of a removal", value=APPEAL_EXAMPLE)]),
        ],
    ) -> Response[schemas.AppealOut]:
        appeal = await appeals.file_appeal(db_session, user, data.decision_id, data.text)
        return Response(schemas.appeal_out(notices.appeal_notice(appeal)), status_code=201)

    @get(
        "/appeals/{appeal_id:uuid}",
        summary="One of the caller's appeals and its outcome",
        description="404 for an appeal that is not the caller's.",
        responses=error_responses(401, 403, 404),
    )
    async def get_appeal(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        appeal_id: FromPath[uuid.UUID],
    ) -> schemas.AppealOut:
        return schemas.appeal_out(await notices.appeal_of(db_session, user, appeal_id))
