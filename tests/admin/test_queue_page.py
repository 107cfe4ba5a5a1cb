"""The queue page renders with the same, small number of SQL statements for 3 reported messages
and for 10,000 open reports: no statement per item, reporter or sender."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from portal.settings import Settings
from tests.admin.seed import seed_open_reports
from tests.admin.support import make_world, sign_in
from tests.statements import statements

# the signed-in staff member, the queue page (items with the total, their reporters), the
# navigation counts with the open appeals, the active policies the bulk removal cites, the staff
# items can be assigned to, the viewer's saved views; SQLite adds the explicit BEGINs of its
# transactions (one per statement outside a transaction)
EXPECTED = {"sqlite": 14, "postgres": 8}


async def test_queue_page_statements_do_not_grow_with_the_queue(
    app: Litestar, session: AsyncSession, settings: Settings, backend: str
) -> None:
    world = await make_world(session, settings)
    counts = []
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        for seed in (0, 10_000):
            if seed:
                await seed_open_reports(session, seed)
            with statements(app.state.engine) as log:
                response = await client.get("/mod")
            assert response.status_code == 200
            counts.append(len(log))
        rows = response.text.count("<tr data-message-id=")
    assert rows == 50  # one page
    assert "5001 items" in response.text  # 5,000 seeded messages with 2 reports each, and one
    assert counts == [EXPECTED[backend]] * 2
