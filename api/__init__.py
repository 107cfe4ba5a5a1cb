"""The end-user REST API under /api/v1: JWT auth, controllers, request and response schemas."""

from __future__ import annotations

from litestar import Router
from litestar.middleware.base import DefineMiddleware

from api.attachments import AttachmentsController
from api.auth import JWTAuthenticationMiddleware
from api.email_tracking import email_opened
from api.errors import JSONRequest
from api.events import EVENT_HANDLERS, EVENTS_PATH
from api.messages import MessagesController
from api.moderation_notices import ModerationNoticesController
from api.provisioning import ProvisioningController
from portal.settings import Settings

# Paths under /api/v1 that carry their own proof instead of a bearer token (email open pixel).
# The event stream authenticates itself (a bearer token, or a ticket for EventSource).
UNAUTHENTICATED_PATHS = [r"^/api/v1/email/", EVENTS_PATH]


def create_api_router(settings: Settings) -> Router:
    return Router(
        path="/api/v1",
        route_handlers=[
            ProvisioningController,
            email_opened,
            MessagesController,
            ModerationNoticesController,
            AttachmentsController,
            *EVENT_HANDLERS,
        ],
        middleware=[DefineMiddleware(JWTAuthenticationMiddleware, exclude=UNAUTHENTICATED_PATHS)],
        security=[{"BearerToken": []}],
        request_class=JSONRequest,
    )
