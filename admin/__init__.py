"""The staff side: the moderation dashboard under /mod and SQLAdmin panels under /admin."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from admin.mount import admin_placeholder, mod_index
from portal.settings import Settings


def admin_route_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    return [mod_index, admin_placeholder]
