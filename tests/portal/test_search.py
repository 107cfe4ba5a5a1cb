"""Staff search: people by name, email and id, threads by a person, messages by their words
(full text on PostgreSQL, LIKE on SQLite, ``%`` and ``_`` matching themselves), in a fixed
number of statements however much the database holds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from portal.services import moderation
from portal.services.search import like_pattern, search, snippet
from portal.settings import Settings
from tests.admin.seed import seed_open_reports
from tests.portal.moderation_support import report, send, staff, user
from tests.statements import statements


async def test_finds_people_by_name_email_and_id(session: AsyncSession) -> None:
    erin = await user(session, "employer", "Erin Quartermain")
    other = await user(session, "candidate", "Cody Candidate")
    by_name = await search(session, "quarterm")
    assert [u.id for u in by_name.users] == [erin.id]
    by_email = await search(session, erin.email.upper())
    assert [u.id for u in by_email.users] == [erin.id]
    by_id = await search(session, f"  {other.id}  ")
    assert [u.id for u in by_id.users] == [other.id]
    assert (await search(session, "   ")).empty


async def test_finds_messages_by_their_words_and_threads_by_a_person(
    session: AsyncSession, settings: Settings
) -> None:
    erin = await user(session, "employer", "Erin Quartermain")
    cody = await user(session, "candidate", "Cody Candidate")
    wanted = await send(session, settings, erin, cody, "Please wire the deposit to my account")
    await send(session, settings, cody, erin, "Happy to meet on Tuesday")
    await report(session, wanted, cody, "scam")
    found = await search(session, "deposit wire")  # every word, in any order
    assert [m.id for m in found.messages] == [wanted.id]
    hit = found.messages[0]
    assert (hit.sender_name, hit.recipient_name, hit.reported) == (
        "Erin Quartermain",
        "Cody Candidate",
        True,
    )
    assert "wire the deposit" in hit.snippet
    assert [m.id for m in (await search(session, "tuesday")).messages] != [wanted.id]
    threads = (await search(session, "Quartermain")).threads
    assert [t.id for t in threads] == [wanted.thread_id]
    assert (threads[0].employer_name, threads[0].candidate_name) == (
        "Erin Quartermain",
        "Cody Candidate",
    )
    # a removed message is still found, and marked
    moderator = await staff(session, "moderator")
    await moderation.remove_message(
        session, wanted.id, actor=moderator, reason="scam", grounds=moderation.Grounds("scam")
    )
    assert (await search(session, "deposit")).messages[0].is_removed


async def test_percent_and_underscore_match_themselves(
    session: AsyncSession, settings: Settings, backend: str
) -> None:
    literal = await user(session, "employer", "Ann_Lee 100%")
    await user(session, "employer", "AnnxLee 1000 people")
    assert [u.id for u in (await search(session, "ann_lee")).users] == [literal.id]
    assert [u.id for u in (await search(session, "100%")).users] == [literal.id]
    assert like_pattern("a%b_c\\") == "%a\\%b\\_c\\\\%"
    if backend == "sqlite":  # message text is a LIKE there too
        other = await user(session, "candidate")
        kept = await send(session, settings, literal, other, "Get 50%_off today")
        await send(session, settings, literal, other, "Get 50 xx off today")
        assert [m.id for m in (await search(session, "50%_off")).messages] == [kept.id]


def test_snippets_show_the_words_found_as_text() -> None:
    body = "x " * 200 + "the needle is here " + "y " * 200
    cut = snippet(body, "plain", "needle")
    assert "the needle is here" in cut and cut.startswith("…") and cut.endswith("…")
    assert snippet("<p>Hi &amp; <b>bye</b></p>", "html", "bye") == "Hi & bye"


async def test_search_takes_the_same_statements_however_large_the_database(
    session: AsyncSession, engine: AsyncEngine, settings: Settings, backend: str
) -> None:
    erin = await user(session, "employer", "Bulk Searcher")
    await send(session, settings, erin, await user(session, "candidate"), "bulk words here")
    counts = []
    for seeded in (0, 2000):
        if seeded:
            await seed_open_reports(session, seeded)
        with statements(engine) as seen:
            results = await search(session, "bulk")
        counts.append(len(seen))
    assert results.messages and results.users and results.threads
    assert results.more_messages and len(results.messages) == 30  # capped
    # users, threads, messages; SQLite adds the BEGIN of the read transaction
    assert counts == [{"sqlite": 4, "postgres": 3}[backend]] * 2
