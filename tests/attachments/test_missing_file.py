"""A stored file that has gone from the store (deleted by hand, a bucket emptied) is a 404 that
names it, before any byte of a 200 goes out (the dashboard's download reads the store through
the same Download.body)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.settings import Settings
from tests.attachments.conftest import stored_path
from tests.attachments.files import PDF
from tests.attachments.test_evidence import _download, _key, _thread_with_file


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_a_file_gone_from_the_store_is_a_404_naming_it(
    app: Litestar, client: AsyncTestClient[Litestar], settings: Settings, session: AsyncSession
) -> None:
    _, file_id = await _thread_with_file(app, client, settings, PDF)
    assert (await _download(client, settings, session, file_id)) == (200, PDF)

    stored_path(settings, await _key(session, file_id)).unlink()
    status, body = await _download(client, settings, session, file_id)
    assert status == 404
    assert b"its stored file is missing" in body
