"""A message's uploaded file for staff (``POST /mod/attachments/{id}``), offered on the report
and thread pages: a POST with the CSRF token, like every dashboard download, because each one is
recorded on the thread's chain (no GET writes); always saved (``attachment``), in a sandbox.
The rules are portal.services.attachments.staff_download's."""

from __future__ import annotations

import uuid
from typing import Any, Final

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.queue import signed_in
from dashboard.staff_auth import requires
from portal.permissions import Capability
from portal.services import attachments
from portal.settings import Settings


@post(
    "/mod/attachments/{attachment_id:uuid}",
    status_code=200,
    name="mod.attachment",
    guards=[requires(Capability.READ_QUEUE)],
    include_in_schema=False,
)
async def staff_attachment(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    attachment_id: FromPath[uuid.UUID],
) -> Response[Any]:
    staff = await signed_in(request)
    settings: Settings = request.app.state.settings
    download = await attachments.staff_download(
        db_session, attachment_id, actor=staff, settings=settings
    )
    row = download.attachment
    body = await download.body()
    headers = download.headers(inline=False) | {"Content-Length": str(row.size_bytes)}
    return Stream(body, media_type=row.content_type, headers=headers)


ATTACHMENT_HANDLERS: Final = (staff_attachment,)
