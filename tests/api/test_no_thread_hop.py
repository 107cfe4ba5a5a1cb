"""No API request hops to Litestar's thread pool: a sync guard, dependency or handler would run
in a worker thread on every request (5–14% of a busy worker's time in the profile)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.utils.sync import AsyncCallable


def _api_handlers(app: Litestar) -> list[HTTPRouteHandler]:
    handlers = [
        handler
        for route in app.routes
        if route.path.startswith("/api/v1")
        for handler in route.route_handlers  # type: ignore[union-attr]
        if isinstance(handler, HTTPRouteHandler)
    ]
    assert len(handlers) > 10
    return handlers


@pytest.mark.parametrize("backend", ["sqlite"])
def test_api_guards_dependencies_and_handlers_run_on_the_event_loop(app: Litestar) -> None:
    for handler in _api_handlers(app):
        for guard in handler.resolve_guards():
            assert not isinstance(guard, AsyncCallable), (handler, guard)
        for name, provider in handler.resolve_dependencies().items():
            assert not provider.sync_to_thread, (handler, name)
            assert not isinstance(provider.dependency, AsyncCallable), (handler, name)
        assert not handler.sync_to_thread, handler
