from __future__ import annotations

from litestar.testing import AsyncTestClient

from portal.settings import Settings
from server.app import create_app
from tests.conftest import no_database


async def test_health_reports_database_round_trip(client: AsyncTestClient) -> None:
    for path in ("/health", "/health/ready"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok"}


@no_database
async def test_liveness_does_not_touch_the_database(settings: Settings) -> None:
    from dataclasses import replace

    broken = replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(broken)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert app.state.engine.pool.checkedin() == 0  # no connection was ever made


async def test_health_is_503_when_database_is_unreachable(settings: Settings) -> None:
    from dataclasses import replace

    broken = replace(
        settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.headers["retry-after"] == "5"


@no_database
async def test_openapi_document_is_served(client: AsyncTestClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Messaging portal API"
