"""A report page's forms over HTTP: a note stays on the report it was written on (the page stays
on that report, the note shows there and on no other report), and a form whose submission failed
gets its own text back — never another form, never another item; fields start empty otherwise and
take no text the browser remembered (autocomplete off)."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from dashboard.pages import TEMPLATE_DIR
from portal.settings import Settings
from tests.admin.support import make_world, post_form, sign_in, snapshot
from tests.portal.moderation_support import report, send, user

FIELDS = {  # id → the name it posts
    "internal-note": "reason",  # the restriction form's (remove, warn, suspend)
    "restrict-public-note": "public_note",
    "dismiss-public-note": "public_note",
    "note-body": "body",
}


def field_value(page: str, field_id: str) -> str:
    """What a report page's field shows: an input's value, a textarea's text."""
    textarea = re.search(rf'<textarea[^>]*id="{field_id}"[^>]*>(.*?)</textarea>', page, re.S)
    if textarea:
        return textarea.group(1)
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', page)
    assert tag, field_id
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def field_tag(page: str, field_id: str) -> str:
    tag = re.search(rf'<(?:input|textarea)[^>]*id="{field_id}"[^>]*>', page)
    assert tag, field_id
    return tag.group(0)


async def test_a_note_stays_on_the_report_it_was_written_on(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    same_sender = await send(session, settings, world.sender, world.recipient, "and again")
    await report(session, same_sender, world.recipient, "harassment")
    other_sender = await user(session, "employer")
    elsewhere = await send(session, settings, other_sender, world.recipient, "elsewhere")
    await report(session, elsewhere, world.recipient, "scam", note="a reporter's own words")
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        response = await post_form(
            client, f"/mod/reports/{world.message.id}/notes", {"body": "called the recipient"}
        )
        # the page stays on the report: a note decides nothing and opens no next item
        assert response.status_code == 303
        assert response.headers["location"] == f"/mod/reports/{world.message.id}?done=noted"
        page = (await client.get(response.headers["location"])).text
        assert "Done: noted." in page and "this is the next one" not in page
        notes = re.findall(r'<div class="note-body">(.*?)</div>', page, re.S)
        assert notes == ["called the recipient"]
        assert field_value(page, "note-body") == ""
        for other in (same_sender, elsewhere):
            shown = (await client.get(f"/mod/reports/{other.id}")).text
            assert "called the recipient" not in shown
            assert "No notes yet." in shown
        assert "a reporter&#39;s own words" not in page
        user_page = (await client.get(f"/mod/users/{world.sender.id}")).text
        assert "called the recipient" in user_page
        assert f'href="/mod/reports/{world.message.id}">on a message' in user_page

        before = await snapshot(session)
        empty = await post_form(client, f"/mod/reports/{world.message.id}/notes", {"body": " "})
        assert empty.status_code == 400 and 'role="alert"' in empty.text
        assert await snapshot(session) == before


async def test_a_failed_form_gets_its_own_text_back_and_no_other_form_does(
    app: Litestar, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, world.moderator)
        path = f"/mod/reports/{world.message.id}"
        fresh = (await client.get(path)).text
        for field_id in FIELDS:
            assert field_value(fresh, field_id) == "", field_id
            assert 'autocomplete="off"' in field_tag(fresh, field_id), field_id
        assert "hx-preserve" not in fresh

        before = await snapshot(session)
        failures = {
            # a suspension of an unknown length: its note comes back in its own form only
            "internal-note": ("suspend", {"reason": "spam wave", "days": "2", "policy": "spam"}),
            "restrict-public-note": ("warn", {"reason": "civil", "public_note": "x\x00y"}),
            "dismiss-public-note": ("dismiss", {"public_note": "p" * 1001}),
            "note-body": ("notes", {"body": "n\x00"}),
        }
        for field_id, (action, data) in failures.items():
            response = await post_form(client, f"{path}/{action}", data)
            assert response.status_code == 400, (action, response.text)
            expected = data[FIELDS[field_id]]
            shown = {other: field_value(response.text, other) for other in FIELDS}
            assert shown[field_id] in (expected, expected.replace("\x00", "\ufffd")), action
            assert shown[field_id] != "", action
            others = {k: v for k, v in shown.items() if k != field_id}
            if field_id == "restrict-public-note":  # the same form's internal note comes back too
                assert others.pop("internal-note") == "civil"
            assert all(v == "" for v in others.values()), (action, shown)
        assert await snapshot(session) == before


def test_no_dashboard_field_lets_the_browser_keep_its_text() -> None:
    """Every field of the dashboard's own templates has autocomplete (off, or the login's and
    password fields' own tokens), so that no browser fills text into the next item; nothing is
    hx-preserve'd across swaps. The compliance pages are another owner's: mod.js resets their
    forms on every load too."""
    lacking: list[str] = []
    for template in sorted((TEMPLATE_DIR / "mod").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert "hx-preserve" not in text, template.name
        if template.name.startswith("compliance"):
            continue
        for match in re.finditer(r"<(input|textarea|select)\b[^>]*>", text):
            tag = match.group(0)
            kind = re.search(r'type="(\w+)"', tag)
            if kind and kind.group(1) in ("hidden", "checkbox", "radio", "submit", "button"):
                continue
            if "autocomplete=" not in tag:
                lacking.append(f"{template.name}: {tag}")
    assert lacking == []
