"""/mod/search for every staff role, the picker the compliance forms use (with htmx and without
script), and the audit event panel naming people."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.database import read_transaction
from portal.models import LegalHold
from portal.settings import Settings
from tests.admin.support import ROLES, make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import staff
from tests.statements import statements


async def test_every_role_finds_people_threads_and_messages(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings, body="Send the invoice tomorrow")
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/mod/search?q=Erin", follow_redirects=False)
        assert response.status_code in (302, 303) and "/mod/login" in response.headers["location"]
        for role in ROLES:
            await sign_in(client, world.account(role))
            before = await snapshot(session)
            page = (await client.get("/mod/search", params={"q": "erin employer"})).text
            assert f'href="/mod/users/{world.sender.id}"' in page, role
            assert world.sender.email in page
            assert f'href="/mod/threads/{world.message.thread_id}"' in page
            by_email = (await client.get("/mod/search", params={"q": world.recipient.email})).text
            assert f'href="/mod/users/{world.recipient.id}"' in by_email
            by_id = (await client.get("/mod/search", params={"q": str(world.sender.id)})).text
            assert f'href="/mod/users/{world.sender.id}"' in by_id
            words = (await client.get("/mod/search", params={"q": "invoice"})).text
            assert "Send the invoice tomorrow" in words
            # the message was reported: it links its report page and its place in the thread
            assert f'href="/mod/reports/{world.message.id}"' in words
            assert f"/mod/threads/{world.message.thread_id}#m-{world.message.id}" in words
            nothing = (await client.get("/mod/search", params={"q": "zebra%_"})).text
            assert "Nothing matches" in nothing
            assert await snapshot(session) == before  # searching writes nothing
        # as one types, htmx asks for the results alone
        fragment = await client.get(
            "/mod/search",
            params={"q": "invoice"},
            headers={"hx-request": "true", "hx-target": "search-results"},
        )
        assert fragment.text.lstrip().startswith('<div id="search-results"')
        assert "<html" not in fragment.text


async def test_the_search_page_takes_the_same_statements_for_a_larger_database(
    app: Litestar, session: AsyncSession, settings: Settings, backend: str
) -> None:
    from tests.admin.seed import seed_open_reports

    world = await make_world(session, settings, body="bulk words")
    counts = []
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        for seeded in (0, 2000):
            if seeded:
                await seed_open_reports(session, seeded)
            with statements(app.state.engine) as seen:
                response = await client.get("/mod/search", params={"q": "bulk"})
            assert response.status_code == 200
            counts.append(len(seen))
    assert response.text.count('<td class="excerpt">') == 30  # the section's cap
    assert counts[0] == counts[1]


async def test_the_picker_suggests_people_and_threads_by_name(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        people = (
            await client.get(
                "/mod/search/suggest",
                params={"kind": "user", "field": "user_id", "user_id": "cody"},
            )
        ).text
        assert f'<input type="radio" name="user_id" value="{world.recipient.id}">' in people
        assert "Erin" not in people
        threads = (
            await client.get(
                "/mod/search/suggest",
                params={"kind": "thread", "field": "thread_id", "thread_id": "Erin"},
            )
        ).text
        assert f'name="thread_id" value="{world.message.thread_id}"' in threads
        none = (
            await client.get(
                "/mod/search/suggest", params={"kind": "user", "field": "user_id", "user_id": "zz"}
            )
        ).text
        assert "No person matches" in none


async def test_compliance_forms_take_a_name_without_script(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    thread_id = world.message.thread_id
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.compliance)
        # the thread lookup: a name lists the threads it finds, each a choice
        listed = await client.get("/mod/compliance", params={"thread": "Cody Candidate"})
        assert listed.status_code == 200
        assert f'name="thread" value="{thread_id}"' in listed.text
        # picking one sends the typed name and the id: the id wins
        picked = await client.get(
            f"/mod/compliance?thread=Cody+Candidate&thread={thread_id}", follow_redirects=False
        )
        assert picked.headers["location"] == f"/mod/compliance/threads/{thread_id}"
        # a hold on a person named, not identified: nothing placed, the choices listed
        form = {"reason": "charge filed", "case_reference": "EEOC-42", "user_id": "erin"}
        before = await snapshot(session)
        ask = await post_form(client, "/mod/compliance/holds", form)
        assert ask.status_code == 200 and "Pick whom or which thread you mean" in ask.text
        assert f'name="user_id" value="{world.sender.id}"' in ask.text
        assert 'value="EEOC-42"' in ask.text  # what was typed is kept
        assert await snapshot(session) == before
        placed = await client.post(
            "/mod/compliance/holds",
            data={
                **form,
                "user_id": ["erin", str(world.sender.id)],
                "_csrf_token": client.cookies["portal_csrf"],
            },
            follow_redirects=False,
        )
        assert placed.status_code == 303
    async with read_transaction(session):
        hold = await session.scalar(select(LegalHold).where(LegalHold.case_reference == "EEOC-42"))
    assert hold is not None and (hold.scope, hold.user_id) == ("user", world.sender.id)


async def test_the_audit_event_panel_names_people(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    admin = await staff(session, "admin", "Ada Admin")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        await post_form(client, f"/mod/reports/{world.message.id}/claim")
        await sign_in(client, admin)
        page = (await client.get("/admin/audit-event/list")).text
    assert "Mona Moderator" in page and world.moderator.email in page
    assert str(world.moderator.id) in page  # the id stays beside the name
