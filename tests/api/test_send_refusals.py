"""Refusals added by issue 6: the stored html bound, links to non-public hosts, bidi control
characters in names and links. Each is a 400 naming the field, and nothing is written."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from portal.models import AuditEvent, Message
from portal.services.messaging import MAX_STORED_HTML_LENGTH
from portal.settings import Settings
from tests.api.helpers import make_pair, send, send_ok
from tests.portal.test_public_hosts import NON_PUBLIC_URLS, PUBLIC_URLS


async def count(app: Litestar, model: type) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def attachment(**changes: object) -> dict[str, object]:
    return {
        "filename": "cv.pdf",
        "content_type": "application/pdf",
        "size_bytes": 1000,
        "url": "https://files.example.com/cv.pdf",
        **changes,
    }


async def test_sanitised_html_is_bounded_as_stored(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    events = await count(app, AuditEvent)
    # 10,000 characters as written, 50,000 once escaped (& is stored as &amp;).
    escaped = await send(client, settings, employer, candidate, "&" * 10_000, body_format="html")
    assert escaped.status_code == 400
    assert escaped.json()["detail"] == (
        "body: is 50,000 characters once sanitised (text is stored HTML-escaped, so & becomes "
        "&amp;); at most 20,000 are stored"
    )
    assert (await count(app, Message), await count(app, AuditEvent)) == (0, events)

    # Right at the bound is stored, as plain text of the same characters always is.
    at_bound = "&" * (MAX_STORED_HTML_LENGTH // 5)
    stored = await send_ok(client, settings, employer, candidate, at_bound, body_format="html")
    assert len(stored["message"]["body"]) == MAX_STORED_HTML_LENGTH
    over = await send(client, settings, employer, candidate, at_bound + "<", body_format="html")
    assert over.status_code == 400
    assert over.json()["detail"].startswith("body: is 20,004 characters once sanitised")
    plain = await send_ok(client, settings, employer, candidate, "&" * 10_000)
    assert plain["message"]["body"] == "&" * 10_000


async def test_links_to_non_public_hosts_are_refused(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    # Why each is refused, in the service's words: tests/portal/test_public_hosts.py.
    for url in NON_PUBLIC_URLS:
        response = await send(
            client, settings, employer, candidate, attachments=[attachment(url=url)]
        )
        assert response.status_code == 400, url
        assert response.json()["detail"] == (
            "attachments[0].url: must be an absolute http or https URL naming a public host "
            "(not an IP address, localhost, *.localhost, *.local or *.internal), without white "
            "space or bidirectional control characters"
        ), url
    assert await count(app, Message) == 0
    for url in PUBLIC_URLS:
        await send_ok(client, settings, employer, candidate, attachments=[attachment(url=url)])


async def test_bidi_control_characters_are_refused_in_names_and_links(
    app: Litestar, client: AsyncTestClient, settings: Settings
) -> None:
    employer, candidate = await make_pair(app)
    for control in ("\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"):
        name = await send(
            client,
            settings,
            employer,
            candidate,
            attachments=[attachment(filename=f"cv{control}fdp.exe")],
        )
        assert name.status_code == 400, repr(control)
        assert name.json()["detail"].startswith("attachments[0].filename: "), name.json()
        assert "bidirectional control characters" in name.json()["detail"]
        link = await send(
            client,
            settings,
            employer,
            candidate,
            attachments=[attachment(url=f"https://files.example.com/cv{control}fdp.exe")],
        )
        assert link.status_code == 400, repr(control)
        assert link.json()["detail"].startswith("attachments[0].url: ")
        assert "bidirectional control characters" in link.json()["detail"]
    assert await count(app, Message) == 0
    # Right-to-left text itself is fine.
    hebrew = await send_ok(
        client, settings, employer, candidate, attachments=[attachment(filename="קורות חיים.pdf")]
    )
    assert hebrew["message"]["attachments"][0]["filename"] == "קורות חיים.pdf"
