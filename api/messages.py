"""The ten messaging endpoints of SPEC §4, plus the caller's blocklist. Each handler parses,
calls one service, and serialises; the rules live in portal.services."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, HttpMethod, Request, Response, delete, get, patch, post, put, route
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from api import schemas
from api.auth import CALLER, END_USERS
from api.errors import IDEMPOTENCY_KEY_PATTERN
from api.responses import error_responses
from portal.database import request_session
from portal.principals import EndUser
from portal.services import blocks, flags, idempotency, messaging, threads
from portal.settings import Settings

MAX_PAGE = 1_000_000

Page = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="1-based page number")]

SEND_EXAMPLE = {
    "recipient_id": "0190d5b2-7a8e-7c52-9a57-3f1f6c1e2b4d",
    "application_id": None,
    "subject": "Interview for Senior Backend Engineer",
    "body": "Hello Sam, thanks for applying. Are you free for a call on Tuesday?",
    "body_format": "plain",
    "message_type": "interview_invitation",
    "attachments": [
        {
            "filename": "job-description.pdf",
            "content_type": "application/pdf",
            "size_bytes": 48213,
            "url": "https://files.example.com/job-description.pdf",
        }
    ],
}


@dataclass
class SendOperation(Operation):
    """The send's OpenAPI operation, with the Retry-After header its 429 always carries."""

    def __post_init__(self) -> None:
        too_many = (self.responses or {}).get("429")
        if isinstance(too_many, OpenAPIResponse):
            too_many.headers = {
                "Retry-After": OpenAPIHeader(
                    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
                    description="Seconds until the oldest message in the window leaves it",
                    required=True,
                )
            }


def provide_user(request: Request[Any, Any, Any]) -> EndUser:
    """The caller (an end user: the controller's ``opt`` has the auth middleware refuse service
    tokens), once the query names only parameters the endpoint takes (400 otherwise)."""
    _refuse_undeclared_query_parameters(request, request.route_handler)
    user: EndUser = request.user
    return user


async def provide_request_session(user: NamedDependency[EndUser]) -> AsyncSession:
    """The request's session (server/request_session.py closes it).

    It takes ``user`` to be resolved after it: Litestar resolves the dependencies of one level
    concurrently in an anyio task group, and runs each guard on a copy of the handler, which
    showed in the profile of requests as short as an unread count. So the caller's checks are
    the ``user`` dependency and the auth middleware rather than guards, and the session hangs
    off ``user``, one level each.
    """
    del user
    return await request_session()


def _refuse_undeclared_query_parameters(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """400 for a query parameter the endpoint does not take: a misspelt filter (``?unread=1``)
    would otherwise be ignored without a word, and the answer look like a valid one."""
    unknown = set(connection.query_params)
    if not unknown:
        return
    undeclared = sorted(unknown - _declared_query_parameters(handler))
    if undeclared:
        problems = [
            {"key": name, "source": "query", "message": "is not a parameter of this endpoint"}
            for name in undeclared
        ]
        raise ValidationException(detail="unknown query parameter", extra=problems)


@functools.cache
def _declared_query_parameters(handler: BaseRouteHandler) -> frozenset[str]:
    return frozenset(
        field.kwarg_definition.name or name
        for name, field in handler.parsed_fn_signature.parameters.items()
        if isinstance(field.kwarg_definition, QueryParameter)
    )


class MessagesController(Controller):
    path = "/messages"
    tags = ["messages"]  # noqa: RUF012 - Litestar reads these class attributes
    opt = {CALLER: END_USERS}  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "user": Provide(provide_user, sync_to_thread=False),
        "db_session": Provide(provide_request_session),
    }

    @route(
        "/threads/{thread_id:uuid}",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        sync_to_thread=False,
    )
    def allow_for_thread(self) -> Response[None]:
        # Litestar builds the automatic OPTIONS answer when the first handler of a path is
        # registered, so for a path shared by two handlers its Allow header misses one of them.
        # Named to sort first: a controller's handlers are registered in name order.
        return Response(None, status_code=204, headers={"Allow": "DELETE, GET, OPTIONS"})

    @post(
        "/",
        status_code=201,
        summary="Send a message",
        description="Sends to an employer or candidate (the other role), creating the thread on "
        "the pair's first message. At most `rate_limit_messages` sends per rolling window; "
        "the refused attempt gets 429 with Retry-After (whole seconds, rounded up, until the "
        "oldest message in the window leaves it) and is recorded for staff. An optional "
        "Idempotency-Key makes retries safe: the same key and body get the first answer, and a "
        "send that failed (a 503, a dropped connection) stored nothing, so its retry sends.\n\n"
        "If the caller or the recipient deleted their live thread but the other did not, the "
        "message goes into that same thread and brings it back for whoever deleted it, "
        "holding only the messages sent since their deletion. Once both have deleted it, "
        "the message starts a new thread.\n\n"
        "Refusals: 400 naming the field for bad input, including a recipient of the caller's "
        "own role (the answer says only that messages go between an employer and a "
        "candidate), an `html` body longer than "
        f"{messaging.MAX_STORED_HTML_LENGTH:,} characters once sanitised, an attachment URL "
        "whose host is an IP address or a local name (`localhost`, `*.localhost`, `*.local`, "
        "`*.internal`) and a file name "
        "with bidirectional control characters; 403 for a suspended sender or a blocked "
        f"pair; 413 for attachments over {messaging.MAX_ATTACHMENTS_TOTAL_BYTES:,} bytes "
        "(25 MB) in total.",
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
        operation_class=SendOperation,
    )
    async def send_message(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        state: State,
        data: Annotated[
            schemas.SendMessageIn,
            Body(
                examples=[Example(summary="A first message with an attachment", value=SEND_EXAMPLE)]
            ),
        ],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                required=False,
                min_length=1,
                max_length=idempotency.MAX_KEY_LENGTH,
                pattern=IDEMPOTENCY_KEY_PATTERN,
                description="Optional; a retry with the same key and body returns the first "
                "response and sends nothing new.",
            ),
        ] = None,
    ) -> Response[schemas.SendMessageOut]:
        draft = data.to_draft()
        settings: Settings = state.settings
        if idempotency_key is None:
            sent = await messaging.send_message(
                db_session, sender_id=user.id, draft=draft, settings=settings
            )
            return Response(schemas.sent_out(sent), status_code=201)
        return await _send_once(db_session, settings, user, data, idempotency_key)

    @get(
        "/threads",
        summary="List the caller's threads",
        description="The caller's threads, newest activity first, without those the caller "
        "deleted (until a new message brings one back). `archived=false` (default) is the "
        "inbox, `archived=true` the caller's archive. `unread_count` is the caller's total "
        "over all of them.",
        responses=error_responses(400, 401, 403),
    )
    async def list_threads(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        application_id: FromQuery[uuid.UUID | None] = None,
        unread_only: FromQuery[bool] = False,
        archived: FromQuery[bool] = False,
        page: Page = 1,
        limit: Annotated[
            int, QueryParameter(ge=1, le=threads.MAX_PAGE_SIZE, description="Threads per page")
        ] = threads.DEFAULT_THREAD_PAGE_SIZE,
    ) -> schemas.ThreadListOut:
        result = await threads.list_threads(
            db_session,
            user,
            application_id=application_id,
            unread_only=unread_only,
            archived=archived,
            page=page,
            limit=limit,
        )
        return schemas.thread_list_out(result)

    @get(
        "/threads/{thread_id:uuid}",
        summary="A thread with its messages, oldest first",
        description="Participants only. Deleted messages are left out; a message removed by a "
        "moderator is shown with its body withheld. A participant who deleted the thread "
        "gets 404, or, once a new message brought it back, only the messages sent since "
        "their deletion. `is_flagged`/`flagged_reason` show the caller's own report only.\n\n"
        "Pages: `page` counts from the start (kept for existing clients; a deep page is read "
        "past every message before it), or `after` gives the page after a message, read "
        "straight from the index however long the thread (`page` then counts from there): "
        "pass the answer's `next_after`, which is null on the last page. 404 for an `after` "
        "that is not a message in the caller's view of the thread.",
        responses=error_responses(400, 401, 403, 404),
    )
    async def get_thread(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        thread_id: FromPath[uuid.UUID],
        page: Page = 1,
        limit: Annotated[
            int, QueryParameter(ge=1, le=threads.MAX_PAGE_SIZE, description="Messages per page")
        ] = threads.DEFAULT_MESSAGE_PAGE_SIZE,
        after: Annotated[
            uuid.UUID | None,
            QueryParameter(description="A message of the thread: the page after it"),
        ] = None,
    ) -> schemas.ThreadDetailOut:
        detail = await threads.thread_detail(
            db_session, user, thread_id, page=page, limit=limit, after=after
        )
        return schemas.thread_detail_out(detail)

    @put(
        "/{message_id:uuid}/read",
        summary="Mark a message read",
        description="Recipient only. Marking it read again changes nothing. 404 for a message "
        "the caller no longer sees because they deleted its thread.",
        responses=error_responses(401, 403, 404),
    )
    async def mark_read(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        message_id: FromPath[uuid.UUID],
    ) -> schemas.ReadReceiptOut:
        message = await messaging.mark_read(db_session, user, message_id)
        return schemas.read_receipt_out(message)

    @get(
        "/unread-count",
        summary="The caller's unread messages and threads",
        responses=error_responses(401, 403),
    )
    async def unread_count(
        self, db_session: NamedDependency[AsyncSession], user: NamedDependency[EndUser]
    ) -> schemas.UnreadCountOut:
        return schemas.unread_count_out(await threads.unread_summary(db_session, user))

    @post(
        "/block",
        status_code=200,
        summary="Block a user",
        description="One-way: neither of you can message the other afterwards. Blocking an "
        "already blocked user succeeds and keeps the latest reason.",
        responses=error_responses(400, 401, 403, 404, 413, 415),
    )
    async def block_user(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        data: Annotated[
            schemas.BlockIn,
            Body(
                examples=[
                    Example(
                        summary="Block for spam",
                        value={"user_id": "0190d5b2-7a8e-7c52-9a57-3f1f6c1e2b4d", "reason": "spam"},
                    )
                ]
            ),
        ],
    ) -> schemas.BlockOut:
        block = await blocks.block_user(
            db_session, user, data.user_id, reason=data.reason, note=data.note
        )
        return schemas.BlockOut(success=True, blocked_user_id=block.blocked_id, reason=data.reason)

    @delete(
        "/block/{user_id:uuid}",
        status_code=204,
        summary="Unblock a user",
        description="Idempotent: 204 whether or not the caller had blocked this user; 404 for "
        "a user that does not exist.",
        responses=error_responses(401, 403, 404),
    )
    async def unblock_user(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        user_id: FromPath[uuid.UUID],
    ) -> None:
        await blocks.unblock_user(db_session, user, user_id)

    @get("/blocks", summary="The users the caller has blocked", responses=error_responses(401, 403))
    async def list_blocks(
        self, db_session: NamedDependency[AsyncSession], user: NamedDependency[EndUser]
    ) -> schemas.BlockListOut:
        return schemas.block_list_out(await blocks.list_blocks(db_session, user))

    @patch(
        "/threads/{thread_id:uuid}/archive",
        summary="Archive a thread for the caller",
        description="Archives for the caller only (`archived=false` brings it back). A new "
        "message in the thread brings it back to its recipient's inbox.",
        responses=error_responses(400, 401, 403, 404),
    )
    async def archive_thread(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        thread_id: FromPath[uuid.UUID],
        archived: FromQuery[bool] = True,
    ) -> schemas.ThreadOut:
        view = await threads.archive_thread(db_session, user, thread_id, archived=archived)
        return schemas.thread_out(view)

    @delete(
        "/threads/{thread_id:uuid}",
        status_code=204,
        summary="Delete a thread",
        description="Deletes the thread for the caller only: it leaves the caller's list and "
        "unread count, and its messages so far leave the caller's view for good (404 for "
        "the thread and those messages). The other participant keeps the thread with its "
        "unread count and can still read, mark read and flag in it. A new message in either "
        "direction brings the same thread back for the caller, holding only the messages "
        "sent after the deletion. Once both participants have deleted it, the thread is "
        "deleted for good and the pair's next message starts a new one. Nothing is erased: "
        "staff and compliance reports see every message, and who deleted when. A suspended "
        "user may delete (it hides the thread only from themselves).",
        responses=error_responses(401, 403, 404),
    )
    async def delete_thread(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        thread_id: FromPath[uuid.UUID],
    ) -> None:
        await threads.delete_thread(db_session, user, thread_id)

    @post(
        "/{message_id:uuid}/flag",
        status_code=200,
        summary="Flag a message for moderation",
        description="The message's recipient only: flagging one's own message is 403. One "
        "report per reporter and message; flagging again updates the caller's report (the "
        "reason, and the note if given). The answer's `is_flagged`/`flagged_reason` are the "
        "caller's own report; the sender is never shown that, or why, they were reported. "
        "404 for a message the caller no longer sees because they deleted its thread.\n\n"
        "A notice that the content is illegal (DSA Art. 16) adds `legal_ground`, the law it "
        "breaks, with `good_faith=true`, the reporter's statement that the notice is made in "
        "good faith (400 naming `good_faith` without it). Flagging again keeps the report's "
        "legal ground unless a new one is given.\n\n"
        "`report` is the caller's receipt: the report's id and what its status now is "
        "(`received` for a new report). Its outcome, once moderators decide, is in "
        "`GET /api/v1/moderation/reports`.",
        responses=error_responses(400, 401, 403, 404),
    )
    async def flag_message(
        self,
        db_session: NamedDependency[AsyncSession],
        user: NamedDependency[EndUser],
        message_id: FromPath[uuid.UUID],
        reason: FromQuery[schemas.FlagReason],
        note: Annotated[
            str | None,
            QueryParameter(max_length=flags.MAX_NOTE_LENGTH, pattern=schemas.NOTE_PATTERN),
        ] = None,
        legal_ground: Annotated[
            str | None,
            QueryParameter(
                max_length=flags.MAX_LEGAL_GROUND_LENGTH,
                pattern=schemas.NOTE_PATTERN,
                description="A notice of illegal content: the law the message breaks "
                "(requires `good_faith=true`).",
            ),
        ] = None,
        good_faith: Annotated[
            bool | None,
            QueryParameter(
                description="The reporter's statement that the notice is made in good faith; "
                "required true with `legal_ground`."
            ),
        ] = None,
    ) -> schemas.FlaggedMessageOut:
        flagged = await flags.flag_message(
            db_session,
            user,
            message_id,
            reason=reason,
            note=note,
            legal_ground=legal_ground,
            good_faith=good_faith,
        )
        return schemas.flagged_message_out(flagged)


async def _send_once(
    db_session: AsyncSession,
    settings: Settings,
    user: EndUser,
    data: schemas.SendMessageIn,
    key: str,
) -> Response[schemas.SendMessageOut]:
    outcome = await messaging.send_message_once(
        db_session,
        sender_id=user.id,
        draft=data.to_draft(),
        settings=settings,
        idempotency_key=key,
        request_hash=idempotency.fingerprint(msgspec.to_builtins(data)),
        response_body=lambda sent: msgspec.to_builtins(schemas.sent_out(sent)),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        stored = msgspec.convert(outcome.body, schemas.SendMessageOut)
        return Response(stored, status_code=outcome.status)
    return Response(schemas.sent_out(outcome), status_code=201)
