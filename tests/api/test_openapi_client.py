"""The OpenAPI document generates a typed client without a warning (issue 6): every operation has
a short id, and every error response a body the client can parse. The generated client is then
used against the app, so a document that generates but lies about a response fails here too."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.responses import CODES_BY_STATUS, ErrorCode
from portal.errors import PortalError
from portal.settings import Settings
from portal.tokens import issue_user_token
from tests.api.helpers import make_pair

OPERATION_IDS = {
    ("POST", "/api/v1/messages"): "send_message",
    ("GET", "/api/v1/messages/threads"): "list_threads",
    ("GET", "/api/v1/messages/threads/{thread_id}"): "get_thread",
    ("PUT", "/api/v1/messages/{message_id}/read"): "mark_read",
    ("GET", "/api/v1/messages/unread-count"): "unread_count",
    ("POST", "/api/v1/messages/block"): "block_user",
    ("DELETE", "/api/v1/messages/block/{user_id}"): "unblock_user",
    ("GET", "/api/v1/messages/blocks"): "list_blocks",
    ("PATCH", "/api/v1/messages/threads/{thread_id}/archive"): "archive_thread",
    ("DELETE", "/api/v1/messages/threads/{thread_id}"): "delete_thread",
    ("POST", "/api/v1/messages/{message_id}/flag"): "flag_message",
    ("GET", "/api/v1/moderation/decisions"): "list_decisions",
    ("GET", "/api/v1/moderation/reports"): "list_reports",
    ("POST", "/api/v1/moderation/appeals"): "file_appeal",
    ("GET", "/api/v1/moderation/appeals/{appeal_id}"): "get_appeal",
    ("PUT", "/api/v1/users/{user_id}"): "put_user",
    ("PUT", "/api/v1/applications/{application_id}"): "put_application",
    ("POST", "/api/v1/attachments"): "upload_attachment",
    ("GET", "/api/v1/attachments/{attachment_id}"): "download_attachment",
    ("POST", "/api/v1/events/ticket"): "events_ticket",  # issue 19 (GET /api/v1/events: no schema)
}
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


async def _document(client: AsyncTestClient) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_operation_has_a_short_id_and_parseable_errors(
    client: AsyncTestClient,
) -> None:
    document = await _document(client)
    ids = {
        (method.upper(), path): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/")
    }
    assert ids == OPERATION_IDS
    for (method, path), _ in OPERATION_IDS.items():
        responses = document["paths"][path][method.lower()]["responses"]
        assert {"400", "500"} <= set(responses), (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert "$ref" in schema, (method, path, status)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_error_codes_are_declared_and_cover_every_domain_error(
    client: AsyncTestClient,
) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}
    for body in ("ErrorBody", "ValidationErrorBody", "ServerErrorBody"):
        assert {"status_code", "detail", "code"} <= set(schemas[body]["required"]), body
        assert schemas[body]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    # Each status's description names the codes it comes with.
    send = document["paths"]["/api/v1/messages"]["post"]["responses"]
    for status in ("403", "409", "429"):
        for code in CODES_BY_STATUS[int(status)]:
            assert f"`{code}`" in send[status]["description"], (status, code)

    def every(cls: type[PortalError]) -> list[type[PortalError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in every(child))]

    # The app has imported every service, so every domain error is a subclass by now.
    codes = {error.code for error in every(PortalError)}
    assert {"held_content", "blocked", "suspended", "rate_limited"} <= codes
    assert codes <= {code.value for code in ErrorCode}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_document_generates_a_client_without_warnings_that_works(
    app: Litestar, client: AsyncTestClient, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(await _document(client)))
    generated = await asyncio.to_thread(
        subprocess.run,
        [str(GENERATOR), "generate", "--path", "openapi.json", "--output-path", "client"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        # Its post-generation hooks run ruff, which is installed next to the generator.
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output

    sys.path.insert(0, str(tmp_path / "client"))
    try:
        package = importlib.import_module("messaging_portal_api_client")
        delete_thread = importlib.import_module(
            "messaging_portal_api_client.api.messages.delete_thread"
        )
        send_message = importlib.import_module(
            "messaging_portal_api_client.api.messages.send_message"
        )
        models = importlib.import_module("messaging_portal_api_client.models")
        employer, candidate = await make_pair(app)
        typed = package.AuthenticatedClient(
            base_url="http://testserver.local", token=issue_user_token(settings, employer.id)
        )
        typed.set_async_httpx_client(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver.local",
                headers={"Authorization": f"Bearer {issue_user_token(settings, employer.id)}"},
            )
        )
        sent = await send_message.asyncio(
            client=typed,
            body=models.SendMessageIn(recipient_id=candidate.id, body="Hello from a typed client"),
        )
        assert isinstance(sent, models.SendMessageOut), sent
        assert sent.message.body == "Hello from a typed client"
        # The error responses of a 204 operation are parsed, not dropped.
        missing = await delete_thread.asyncio(client=typed, thread_id=candidate.id)
        assert isinstance(missing, models.ErrorBody), missing
        assert missing.status_code == 404
        # Every error body carries a machine-readable code, and the field at fault when one is.
        assert missing.code == models.ErrorCode.NOT_FOUND
        assert missing.field is package.types.UNSET
        nobody = await send_message.asyncio(
            client=typed, body=models.SendMessageIn(recipient_id=uuid.uuid4(), body="Hello?")
        )
        assert isinstance(nobody, models.ErrorBody), nobody
        assert (nobody.code, nobody.field) == (models.ErrorCode.NOT_FOUND, "recipient_id")
        to_self = await send_message.asyncio(
            client=typed, body=models.SendMessageIn(recipient_id=employer.id, body="Me?")
        )
        assert isinstance(to_self, models.ValidationErrorBody), to_self
        assert to_self.code == models.ErrorCode.VALIDATION_FAILED
        assert to_self.field == "recipient_id"
        # The moderation notices parse too: an empty list, and an appeal of nothing.
        list_decisions = importlib.import_module(
            "messaging_portal_api_client.api.moderation.list_decisions"
        )
        file_appeal = importlib.import_module(
            "messaging_portal_api_client.api.moderation.file_appeal"
        )
        decisions = await list_decisions.asyncio(client=typed)
        assert isinstance(decisions, models.DecisionListOut), decisions
        assert (decisions.decisions, decisions.total) == ([], 0)
        no_decision = await file_appeal.asyncio(
            client=typed, body=models.AppealIn(decision_id=uuid.uuid4(), text="Please look again.")
        )
        assert isinstance(no_decision, models.ErrorBody), no_decision
        assert no_decision.code == models.ErrorCode.NOT_FOUND
        await typed.get_async_httpx_client().aclose()
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m.startswith("messaging_portal_api_client")]:
            del sys.modules[name]
