"""The open-tracking image in notification emails. Its signed token is the only credential, so
it sits outside bearer authentication; every request gets the same image, whatever the token,
so the answer reveals nothing about which tokens are real."""

from __future__ import annotations

import logging

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from portal.services.notifications import record_email_opened
from portal.settings import Settings

log = logging.getLogger(__name__)

TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE_HEADERS = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "Referrer-Policy": "no-referrer",
}
MAX_TOKEN_LENGTH = 200


@get("/email/opened/{filename:str}", include_in_schema=False)
async def email_opened(
    filename: FromPath[str],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    token = filename.removesuffix(".gif")
    if token != filename and len(token) <= MAX_TOKEN_LENGTH:
        try:
            await record_email_opened(db_session, settings, token)
        except Exception:
            # An open that cannot be recorded is not worth a broken image in someone's inbox.
            log.exception("could not record an email open")
    return Response(TRANSPARENT_GIF, media_type="image/gif", headers=NO_STORE_HEADERS)
