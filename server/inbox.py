"""The reference end-user inbox at ``/inbox`` (issue 22): one HTML page whose ES modules
(``static/inbox/``) talk only to ``/api/v1`` with the bearer token the user signs in with.

The server's part is the page itself and, in development and test only, a list of the demo
users with a token for each (``GET /inbox/demo-users``), so that ``make run`` can be tried
without ``portal token``. That route does not exist when ``PORTAL_ENV`` is anything else
(production), and lists nobody unless the demo world (``portal demo``) is in the database.
"""

from __future__ import annotations

from litestar import Response, Router, get
from litestar.di import NamedDependency
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.demo import PEOPLE
from portal.models import User
from portal.settings import Settings
from portal.tokens import issue_user_token
from server.static_files import STATIC_DIR

INBOX_PAGE = STATIC_DIR / "inbox" / "index.html"
# The environments in which anyone who can reach the app may take a demo user's token.
DEMO_ENVIRONMENTS = frozenset({"development", "test"})
DEMO_TOKEN_SECONDS = 8 * 3600
_DEMO_ATTRIBUTE = 'data-demo-users=""'


def _page(demo: bool) -> bytes:
    html = INBOX_PAGE.read_text(encoding="utf-8")
    served = html.replace(_DEMO_ATTRIBUTE, 'data-demo-users="/inbox/demo-users"' if demo else "")
    return served.encode("utf-8")


@get("/demo-users", include_in_schema=False, name="inbox-demo-users")
async def demo_users(
    db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> Response[dict[str, list[dict[str, str]]]]:
    """The demo people (``portal/demo.py``) that exist, each with a short-lived token."""
    if settings.environment not in DEMO_ENVIRONMENTS:  # the route is not even registered then
        return Response({"users": []}, status_code=404)
    emails = [email for email, _, _ in PEOPLE]
    found = (await db_session.scalars(select(User).where(User.email.in_(emails)))).all()
    order = {email: index for index, email in enumerate(emails)}
    users = sorted(found, key=lambda user: order[user.email])
    return Response(
        {
            "users": [
                {
                    "name": user.display_name,
                    "role": user.role,
                    "token": issue_user_token(settings, user.id, DEMO_TOKEN_SECONDS),
                }
                for user in users
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


def inbox_router(settings: Settings) -> Router:
    demo = settings.environment in DEMO_ENVIRONMENTS
    page = _page(demo)

    @get("/", include_in_schema=False, name="inbox", sync_to_thread=False)
    def inbox_page() -> Response[bytes]:
        return Response(page, media_type="text/html; charset=utf-8")

    handlers = [inbox_page, demo_users] if demo else [inbox_page]
    return Router(path="/inbox", route_handlers=handlers)
