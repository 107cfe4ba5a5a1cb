"""Uploaded files with real bytes, on both databases and both attachment stores (local files and
a real S3-compatible server), scanned by a real clamd: upload, attach, download and its headers,
the limits, a renamed program, the EICAR test file, and who may download."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import AuditEvent, StoredAttachment
from portal.settings import Settings
from tests.api.helpers import auth, make_pair, make_user, send, send_ok
from tests.attachments.conftest import EICAR, EICAR_SIGNATURE
from tests.attachments.files import (
    BOUNDARY,
    PDF,
    TEXT,
    executable,
    multipart_stream,
    png,
    upload,
    uploaded_id,
)


async def test_a_file_is_uploaded_attached_and_downloaded_by_the_participants_only(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    employer, candidate = await make_pair(app)
    outsider = await make_user(app, "employer")
    image = png()
    response = await upload(client, settings, candidate, "photo.png", image, "text/html")
    assert response.status_code == 201, response.text
    uploaded = response.json()
    assert uploaded["content_type"] == "image/png"  # sniffed, not the client's text/html
    assert (uploaded["size_bytes"], uploaded["sha256"]) == (
        len(image),
        hashlib.sha256(image).hexdigest(),
    )
    assert uploaded["scan_status"] == "clean"
    letter = await uploaded_id(client, settings, candidate, "cover letter; v2 – é.txt", TEXT)

    sent = await send_ok(
        client,
        settings,
        candidate,
        employer,
        "My documents",
        attachment_ids=[uploaded["id"], letter],
    )
    files = sent["message"]["attachments"]
    assert [(f["id"], f["filename"], f["sha256"]) for f in files] == [
        (uploaded["id"], "photo.png", uploaded["sha256"]),
        (letter, "cover letter; v2 – é.txt", hashlib.sha256(TEXT).hexdigest()),
    ]
    assert files[0]["url"].endswith(f"/api/v1/attachments/{uploaded['id']}")

    # The recipient downloads: PNG inline, text as an attachment, the exact name in filename*.
    shown = await client.get(
        f"/api/v1/attachments/{uploaded['id']}", headers=auth(settings, employer)
    )
    assert shown.status_code == 200, shown.text
    assert shown.content == image
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"] == (
        "inline; filename=\"photo.png\"; filename*=UTF-8''photo.png"
    )
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-security-policy"] == "sandbox"
    saved = await client.get(f"/api/v1/attachments/{letter}", headers=auth(settings, employer))
    assert saved.status_code == 200, saved.text
    assert saved.content == TEXT
    assert saved.headers["content-disposition"] == (
        'attachment; filename="cover letter_ v2 _ _.txt"; '
        "filename*=UTF-8''cover%20letter%3B%20v2%20%E2%80%93%20%C3%A9.txt"
    )
    assert saved.headers["content-security-policy"] == "sandbox"

    # The sender too; anyone else gets the answer a file that does not exist gets.
    own = await client.get(f"/api/v1/attachments/{letter}", headers=auth(settings, candidate))
    assert own.status_code == 200
    for attempt in (letter, str(uuid.uuid4())):
        refused = await client.get(
            f"/api/v1/attachments/{attempt}", headers=auth(settings, outsider)
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "not_found")

    # A file is attached once, by its uploader only.
    again = await send(client, settings, candidate, employer, "again", attachment_ids=[letter])
    assert (again.status_code, again.json()["field"]) == (409, "attachment_ids[0]")
    mine = await uploaded_id(client, settings, candidate, "mine.pdf", PDF)
    stolen = await send(client, settings, employer, candidate, "hi", attachment_ids=[mine])
    assert (stolen.status_code, stolen.json()["field"]) == (404, "attachment_ids[0]")

    # The message.sent event carries each file's SHA-256 and size.
    event = await session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "message.sent",
            AuditEvent.subject_id == uuid.UUID(sent["message"]["id"]),
        )
    )
    assert event is not None
    assert event.details["files"] == [
        {"id": uploaded["id"], "sha256": uploaded["sha256"], "size_bytes": len(image)},
        {"id": letter, "sha256": hashlib.sha256(TEXT).hexdigest(), "size_bytes": len(TEXT)},
    ]
    assert event.details["attachments"] == 2


async def test_the_eicar_test_file_is_refused_kept_for_staff_and_audited(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    employer, candidate = await make_pair(app)
    response = await upload(client, settings, candidate, "notes.txt", EICAR)
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["code"], body["field"]) == ("infected", "file")
    assert EICAR_SIGNATURE in body["detail"]

    row = await session.scalar(select(StoredAttachment))
    assert row is not None
    assert (row.scan_status, row.sha256) == ("infected", hashlib.sha256(EICAR).hexdigest())
    assert row.scan_signature is not None and row.scan_signature.startswith(EICAR_SIGNATURE)
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.action == "attachment.infected")
    )
    assert event is not None
    assert (event.subject_id, event.details["sha256"]) == (row.id, row.sha256)

    # Never attached, never served, not even to its uploader.
    attach = await send(client, settings, candidate, employer, "x", attachment_ids=[str(row.id)])
    assert (attach.status_code, attach.json()["code"]) == (422, "infected")
    served = await client.get(f"/api/v1/attachments/{row.id}", headers=auth(settings, candidate))
    assert (served.status_code, served.json()["code"]) == (422, "infected")


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_types_are_sniffed_from_the_bytes_and_must_match_the_name(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    user = await make_user(app, "candidate")
    for filename, content, reason in [
        ("cv.pdf", executable(), "application/x-"),  # a program renamed .pdf
        ("cv.pdf", png(), "PNG"),  # a real image, but not what its name says
        ("cv.exe", PDF, "not an accepted kind of file"),
        ("page.txt", b"<html><script>alert(1)</script></html>", "text/html"),
    ]:
        response = await upload(client, settings, user, filename, content, "application/pdf")
        assert response.status_code == 415, (filename, response.text)
        body = response.json()
        assert (body["code"], body["field"]) == ("unsupported_media_type", "file")
        assert reason in body["detail"], body["detail"]
    assert (await upload(client, settings, user, "CV.PDF", PDF)).status_code == 201
    assert await session.scalar(select(StoredAttachment.content_type)) == "application/pdf"


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_at_most_five_files_per_message(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    ids = [
        await uploaded_id(client, settings, candidate, f"part-{n}.txt", TEXT + bytes([65 + n]))
        for n in range(6)
    ]
    sixth = await send(client, settings, candidate, employer, "six", attachment_ids=ids)
    assert sixth.status_code == 400, sixth.text
    assert (sixth.json()["code"], sixth.json()["field"]) == ("validation_failed", "attachment_ids")
    link = {
        "filename": "jd.pdf",
        "content_type": "application/pdf",
        "size_bytes": 10,
        "url": "https://files.example.com/jd.pdf",
    }
    mixed = await send(
        client, settings, candidate, employer, "mixed", attachment_ids=ids[:5], attachments=[link]
    )
    assert (mixed.status_code, mixed.json()["field"]) == (400, "attachment_ids")
    five = await send_ok(client, settings, candidate, employer, "five", attachment_ids=ids[:5])
    assert len(five["message"]["attachments"]) == 5


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_file_of_25_000_001_bytes_is_refused_as_it_streams_in(
    app: Litestar, settings: Settings, session: AsyncSession
) -> None:
    user = await make_user(app, "candidate")
    transport = httpx.ASGITransport(app=app)  # sends the body chunk by chunk, as a network would
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/api/v1/attachments",
            content=multipart_stream("big.txt", 25_000_001),
            headers={
                **auth(settings, user),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
        assert response.status_code == 413, response.text
        assert (response.json()["code"], response.json()["field"]) == ("too_large", "file")
        # A body whose announced length is already too much is refused before it is read.
        body = b"".join([chunk async for chunk in multipart_stream("big.txt", 25_100_000)])
        announced = await client.post(
            "/api/v1/attachments",
            content=body,
            headers={
                **auth(settings, user),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
        assert (announced.status_code, announced.json()["field"]) == (413, "file")
        assert "the request is 25,100,1" in announced.json()["detail"]
    assert await session.scalar(select(StoredAttachment.id)) is None
    incoming = settings.var_dir / "attachments" / ".incoming"
    assert not any(incoming.iterdir())  # the spool file is gone


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_requests_that_carry_no_usable_file_are_refused_with_the_field(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    user = await make_user(app, "candidate")
    headers = auth(settings, user)
    not_multipart = await client.post("/api/v1/attachments", json={}, headers=headers)
    assert (not_multipart.status_code, not_multipart.json()["code"]) == (
        415,
        "unsupported_media_type",
    )
    wrong_part = await client.post(
        "/api/v1/attachments", files={"document": ("a.txt", TEXT)}, headers=headers
    )
    assert (wrong_part.status_code, wrong_part.json()["field"]) == (400, "file")
    empty = await client.post(
        "/api/v1/attachments", files={"file": ("a.txt", b"")}, headers=headers
    )
    assert (empty.status_code, empty.json()["field"]) == (400, "file")
    no_token = await client.post("/api/v1/attachments", files={"file": ("a.txt", TEXT)})
    assert no_token.status_code == 401
