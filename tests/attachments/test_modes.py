"""How attachments run without a scanner (`make run`), with presigned S3 downloads, and with a
scanner that does not answer; and the settings that production insists on."""

from __future__ import annotations

import socket
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import StoredAttachment
from portal.services.attachment_scan import parse_reply
from portal.settings import Settings, SettingsError, load_settings
from tests.api.helpers import auth, make_pair, make_user, send_ok
from tests.attachments.conftest import EICAR, Clamd
from tests.attachments.files import PDF, png, upload, uploaded_id


def _use(app: Litestar, settings: Settings) -> None:
    """This test's app runs with these settings (the app reads them from its state)."""
    app.state.settings = settings


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_without_a_scanner_files_are_accepted_after_sniffing_and_marked_unscanned(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    _use(app, replace(settings, clamd_url=None))
    employer, candidate = await make_pair(app)
    response = await upload(client, settings, candidate, "notes.txt", EICAR)
    assert response.status_code == 201, response.text
    assert response.json()["scan_status"] == "unscanned"
    row = await session.scalar(select(StoredAttachment))
    assert row is not None and (row.scan_status, row.scanned_at) == ("unscanned", None)
    sent = await send_ok(client, settings, candidate, employer, "x", attachment_ids=[str(row.id)])
    assert sent["message"]["attachments"][0]["sha256"] == row.sha256
    # Sniffing still refuses what is not on the list.
    refused = await upload(client, settings, candidate, "cv.pdf", png())
    assert refused.status_code == 415


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_clamd_is_reached_over_a_unix_socket_too(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, clamd: Clamd
) -> None:
    _use(app, replace(settings, clamd_url=clamd.unix_url))
    user = await make_user(app, "candidate")
    clean = await upload(client, settings, user, "cv.pdf", PDF)
    assert (clean.status_code, clean.json()["scan_status"]) == (201, "clean")
    infected = await upload(client, settings, user, "notes.txt", EICAR)
    assert (infected.status_code, infected.json()["code"]) == (422, "infected")


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_scanner_that_does_not_answer_leaves_the_upload_quarantined(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _use(app, replace(settings, clamd_url=f"tcp://127.0.0.1:{port}"))
    employer, candidate = await make_pair(app)
    response = await upload(client, settings, candidate, "cv.pdf", PDF)
    assert (response.status_code, response.json()["code"]) == (503, "busy")
    assert "Retry-After" in response.headers
    row = await session.scalar(select(StoredAttachment))
    assert row is not None and row.scan_status == "quarantined"
    refused = await client.post(
        "/api/v1/messages",
        json={"recipient_id": str(employer.id), "body": "x", "attachment_ids": [str(row.id)]},
        headers=auth(settings, candidate),
    )
    assert (refused.status_code, refused.json()["field"]) == (409, "attachment_ids[0]")
    served = await client.get(f"/api/v1/attachments/{row.id}", headers=auth(settings, candidate))
    assert served.status_code == 409


@pytest.mark.parametrize("store_kind", ["s3"], indirect=True)
async def test_s3_downloads_may_be_presigned_urls_of_at_most_a_minute(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    _use(app, replace(settings, storage_presign_seconds=30))
    employer, candidate = await make_pair(app)
    file_id = await uploaded_id(client, settings, candidate, "cv.pdf", PDF)
    await send_ok(client, settings, candidate, employer, "cv", attachment_ids=[file_id])
    response = await client.get(
        f"/api/v1/attachments/{file_id}", headers=auth(settings, employer), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["30"]
    assert query["response-content-disposition"][0].startswith("inline; filename=")
    async with httpx.AsyncClient() as plain:
        fetched = await plain.get(location)
    assert (fetched.status_code, fetched.content) == (200, PDF)
    outsider = await make_user(app, "employer")
    refused = await client.get(f"/api/v1/attachments/{file_id}", headers=auth(settings, outsider))
    assert refused.status_code == 404


def test_clamd_replies_are_read_exactly() -> None:
    assert parse_reply("stream: OK").infected is False
    found = parse_reply("stream: Portal.Test.EICAR.UNOFFICIAL FOUND")
    assert (found.infected, found.signature) == (True, "Portal.Test.EICAR.UNOFFICIAL")


def test_settings_refuse_a_long_presigned_url_and_a_bad_scanner_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTAL_STORAGE_PRESIGN_SECONDS", "61")
    with pytest.raises(SettingsError, match="at most 60"):
        load_settings()
    monkeypatch.setenv("PORTAL_STORAGE_PRESIGN_SECONDS", "60")
    monkeypatch.setenv("PORTAL_CLAMD_URL", "clamd:3310")
    with pytest.raises(SettingsError, match="PORTAL_CLAMD_URL must start with"):
        load_settings()
