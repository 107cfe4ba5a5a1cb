import asyncio, time, cProfile, pstats
from portal.database import create_sessionmaker
from portal.errors import PortalError
from portal.services import messaging
from portal.services.messaging import MessageDraft
from tests.portal.test_concurrency import _user, _in_own_session
from tests.conftest import settings_with

async def test_perf(engine, settings, backend):
    limited = settings_with(settings, rate_limit_messages=10)
    sessions = create_sessionmaker(engine)
    cand = await _user(sessions, "candidate")
    t = time.perf_counter()
    for i in range(3):
        sender = await _user(sessions, "employer")
        for _ in range(50):
            await _in_own_session(sessions, lambda s: messaging.send_message(s, sender_id=sender.id, draft=MessageDraft(recipient_id=cand.id, body="x"), settings=limited))
    print(backend, "sequential 150:", time.perf_counter() - t)
    pr = cProfile.Profile(); pr.enable()
    t = time.perf_counter()
    for i in range(3):
        sender = await _user(sessions, "employer")
        await asyncio.gather(*(_in_own_session(sessions, lambda s: messaging.send_message(s, sender_id=sender.id, draft=MessageDraft(recipient_id=cand.id, body="x"), settings=limited)) for _ in range(50)))
    print(backend, "concurrent 150:", time.perf_counter() - t)
    pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
