"""Files as evidence, on both databases and both stores: a legal hold keeps a file through the
retention purge, which deletes an unheld one and leaves its digest in the tombstone; `portal
audit check` verifies every stored file and catches one changed in the store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.models import AuditEvent, MessageThread, StoredAttachment
from portal.models.base import utcnow
from portal.services.compliance.content_integrity import check_message_contents
from portal.services.compliance.holds import place_hold
from portal.services.compliance.integrity import check_all_chains
from portal.services.compliance.reports import stream_report
from portal.services.compliance.retention import purge_expired
from portal.services.compliance.verify import verify_export
from portal.settings import Settings, get_settings
from tests.api.helpers import auth, make_pair, send_ok
from tests.attachments.conftest import BUCKET, stored_path
from tests.attachments.files import PDF, TEXT, uploaded_id
from tests.conftest import TEST_JWT_SECRET
from tests.independent_verifier import audit_verifier
from tests.portal.test_cli import run

OFFICER = Actor.system()


async def _thread_with_file(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, content: bytes
) -> tuple[uuid.UUID, str]:
    employer, candidate = await make_pair(app)
    file_id = await uploaded_id(client, settings, candidate, "cv.pdf", content)
    sent = await send_ok(client, settings, candidate, employer, "my cv", attachment_ids=[file_id])
    return uuid.UUID(sent["thread"]["id"]), file_id


async def _download(
    client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession, file_id: str
) -> tuple[int, bytes]:
    uploader = await session.scalar(
        select(StoredAttachment.uploader_id).where(StoredAttachment.id == uuid.UUID(file_id))
    )
    assert uploader is not None
    response = await client.get(f"/api/v1/attachments/{file_id}", headers=auth(settings, uploader))
    return response.status_code, response.content


async def test_a_held_file_survives_retention_and_an_unheld_one_is_purged_with_its_digest(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    held_thread, held_file = await _thread_with_file(app, client, settings, PDF)
    old_thread, old_file = await _thread_with_file(app, client, settings, PDF + b"%old\n")
    past = utcnow() - timedelta(days=400)
    async with session.begin():
        await session.execute(
            update(MessageThread)
            .where(MessageThread.id.in_([held_thread, old_thread]))
            .values(last_message_at=past, created_at=past)
        )
    # The app's sessions carry its settings, and so its store, to the purge.
    async with app.state.sessionmaker() as purging:
        await place_hold(
            purging, actor=OFFICER, reason="charge", case_reference="EEOC-1", thread_id=held_thread
        )
        result = await purge_expired(purging, 365, actor=OFFICER)
    assert (result.threads, result.held_threads) == (1, [held_thread])

    assert await _download(client, settings, session, held_file) == (200, PDF)
    status, _ = await _download(client, settings, session, old_file)
    assert status == 410
    purged = await session.get(StoredAttachment, uuid.UUID(old_file))
    assert purged is not None and purged.purged_at is not None
    if settings.storage_url is None:
        assert not stored_path(settings, purged.storage_key).exists()
        assert stored_path(settings, await _key(session, held_file)).exists()
    else:
        listed = _s3(settings).list_objects_v2(Bucket=BUCKET, Prefix=purged.storage_key)
        assert listed.get("KeyCount", 0) == 0

    tombstone = await session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "message.purged", AuditEvent.thread_id == old_thread
        )
    )
    assert tombstone is not None
    digest = hashlib.sha256(PDF + b"%old\n").hexdigest()
    assert tombstone.details["files"] == [
        {"id": old_file, "sha256": digest, "size_bytes": len(PDF) + 5}
    ]
    checked = await check_message_contents(session, await check_all_chains(session))
    assert checked.problems == []


async def _key(session: AsyncSession, file_id: str) -> str:
    key = await session.scalar(
        select(StoredAttachment.storage_key).where(StoredAttachment.id == uuid.UUID(file_id))
    )
    assert key is not None
    return key


def _s3(settings: Settings) -> object:
    return boto3.client(
        "s3",
        endpoint_url=settings.storage_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def check_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`portal` commands see this test's database, var dir and store."""
    env = {
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_VAR_DIR": str(settings.var_dir),
        "PORTAL_JWT_SECRET": TEST_JWT_SECRET,
    }
    if settings.storage_url is not None:
        env.update(
            PORTAL_STORAGE_URL=settings.storage_url,
            PORTAL_STORAGE_BUCKET=BUCKET,
            PORTAL_STORAGE_ACCESS_KEY_ID="test",
            PORTAL_STORAGE_SECRET_ACCESS_KEY="test",
        )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_audit_check_verifies_stored_files_and_catches_a_changed_one(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    settings: Settings,
    session: AsyncSession,
    check_env: None,
) -> None:
    _, file_id = await _thread_with_file(app, client, settings, PDF)
    await uploaded_id(client, settings, (await make_pair(app))[1], "notes.txt", TEXT)
    checked = await asyncio.to_thread(run, "audit", "check")
    assert checked.exit_code == 0, checked.stderr
    assert "verified 2 stored files against their SHA-256" in checked.stdout

    key = await _key(session, file_id)
    changed = PDF.replace(b"Count 0", b"Count 1")
    if settings.storage_url is None:
        stored_path(settings, key).write_bytes(changed)
    else:
        _s3(settings).put_object(Bucket=BUCKET, Key=key, Body=changed)  # type: ignore[attr-defined]
    failed = await asyncio.to_thread(run, "audit", "check")
    assert failed.exit_code == 2
    assert f"FAILED: attachment {file_id}" in failed.stderr
    assert hashlib.sha256(changed).hexdigest() in failed.stderr
    assert "altered since" in failed.stderr


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_the_audit_report_carries_each_files_digest_and_both_verifiers_accept_it(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    thread_id, file_id = await _thread_with_file(app, client, settings, PDF)
    report = await stream_report(
        app.state.sessionmaker, thread_id, "json", actor=OFFICER, settings=settings
    )
    data = b"".join([chunk async for chunk in report.chunks])
    assert verify_export(data).events > 0
    audit_verifier.verify(data)
    (message,) = json.loads(data)["report"]["messages"]
    (entry,) = message["content"]["attachments"]
    assert (entry["id"], entry["sha256"], entry["size_bytes"]) == (
        file_id,
        hashlib.sha256(PDF).hexdigest(),
        len(PDF),
    )
    sent = [
        e for e in json.loads(data)["report"]["chain"]["events"] if e["action"] == "message.sent"
    ]
    assert sent[0]["details"]["files"] == [
        {"id": file_id, "sha256": entry["sha256"], "size_bytes": len(PDF)}
    ]
