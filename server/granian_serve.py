"""``portal serve --server granian``: the app under granian, the Rust ASGI server Litestar
documents, as an alternative to uvicorn that ``make bench`` measures beside it.

It answers more requests per second than uvicorn, but uvicorn stays the default: on SIGTERM
granian waits for every connection to end, and an event stream never ends by itself, so a worker
with a stream open is killed at the end of the grace period and the app's own shutdown (its
loops' last pass, its pools closed, its metrics files marked dead) never runs; uvicorn cuts the
streams and then runs it (tests/ops/test_serve_shutdown.py).

What uvicorn gives ``portal serve`` and how it carries over:
- the request timeout and the cancellation of a request whose client hung up live in the app
  (server/request_timeout.py): both need only ASGI's ``http.disconnect``, which granian sends;
- X-Forwarded-For/-Proto are trusted only from ``PORTAL_TRUSTED_PROXIES``, by granian's own
  proxy-header wrapper (granian alone trusts nobody);
- on SIGTERM granian stops accepting and lets each worker finish and run the app's shutdown; a
  worker still busy after the grace period (an open event stream) is killed.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from portal.settings import Settings, get_settings

if TYPE_CHECKING:
    from litestar.types import ASGIApp


def run_granian(config: Settings, host: str, port: int, workers: int, grace_seconds: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    uvloop = importlib.util.find_spec("uvloop") is not None
    Server(
        "server.granian_serve:create_app_for_granian",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop if uvloop else Loops.asyncio,
        http=HTTPModes.http1,
        log_level=LogLevels.info,
        log_access=config.access_log,
        factory=True,
        workers_kill_timeout=grace_seconds,
        # As uvicorn's supervisor does: a worker that dies is replaced, the others serve on.
        respawn_failed_workers=True,
    ).serve()


def create_app_for_granian() -> ASGIApp | Any:
    """The app as `portal serve` runs it (server.cli.create_served_app), behind the trusted
    proxies' X-Forwarded-For/-Proto when PORTAL_TRUSTED_PROXIES names any."""
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    from server.cli import create_served_app

    app = create_served_app()
    trusted = get_settings().trusted_proxies
    if not trusted:
        return app
    return wrap_asgi_with_proxy_headers(app, list(trusted))
