"""schemathesis, in-process, against /schema/openapi.json with valid tokens and default checks.

Every operation is exercised with generated (and, in the coverage phase, deliberately wrong)
input; a 500, an undeclared status code or a response that breaks its declared schema fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from schemathesis.core.parameters import ParameterLocation

from portal.audit import Actor
from portal.database import create_sessionmaker
from portal.services.users import create_user
from portal.settings import Settings
from portal.tokens import issue_service_token, issue_user_token
from server.app import create_app
from tests.conftest import examples


@dataclass(frozen=True)
class Tokens:
    user: str
    service: str


@pytest.fixture
def fuzz_app(settings: Settings) -> Iterator[tuple[Litestar, Tokens]]:
    app = create_app(settings)

    async def seed() -> Tokens:
        async with create_sessionmaker(app.state.engine)() as session:
            user = await create_user(
                session,
                email="fuzz-employer@example.com",
                display_name="Fuzz Employer",
                role="employer",
                actor=Actor.system(),
            )
            await create_user(
                session,
                email="fuzz-candidate@example.com",
                display_name="Fuzz Candidate",
                role="candidate",
                actor=Actor.system(),
            )
        await app.state.engine.dispose()
        return Tokens(issue_user_token(settings, user.id), issue_service_token(settings))

    tokens = asyncio.run(seed())
    yield app, tokens


@pytest.fixture
def api_schema(fuzz_app: tuple[Litestar, Tokens]) -> schemathesis.BaseSchema:
    app, _ = fuzz_app
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app)


# An upload's rules are on its bytes (their sniffed type, matching the name's extension), which
# no schema can say: tests/attachments sends it real files instead.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    method="POST", path="/api/v1/attachments"
)


@pytest.mark.parametrize("backend", ["sqlite"])
@schema.parametrize()
@hypothesis_settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, fuzz_app: tuple[Litestar, Tokens]
) -> None:
    _, tokens = fuzz_app
    if _negates_authorization(case):
        # The invalid part is (or includes) the Authorization header: it must reach the app,
        # which refuses it. Replaced by a valid token, the request was valid and its 200 failed
        # the negative-data check (ST201) whenever Hypothesis happened to draw such a case.
        case.call_and_validate()
        return
    token = tokens.service if "provisioning" in (case.operation.tags or []) else tokens.user
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})


def _negates_authorization(case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    data = meta.phase.data
    parts: list[tuple[object, object]] = [
        (getattr(data, "parameter_location", None), getattr(data, "parameter", None))
    ]
    for mutation in getattr(data, "mutations", ()):
        parts.append((mutation.parameter_location, mutation.parameter))
        parts.extend((mutation.parameter_location, step) for step in mutation.path)
    return any(
        location == ParameterLocation.HEADER and str(name).lower() == "authorization"
        for location, name in parts
    )
