"""Provisioning for the platform's backend (service token): the people and applications this
service knows, created or updated under the platform's own ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import requires_provisioning
from api.responses import error_responses
from portal.audit import Actor
from portal.models import Application, User
from portal.models.people import APPLICATION_STATUSES, USER_ROLES
from portal.services.applications import upsert_application
from portal.services.users import upsert_user
from portal.services.validation import EMAIL_PATTERN, ONE_LINE_PATTERN


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[
        str, msgspec.Meta(max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
    ]
    display_name: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE_PATTERN, examples=["Ada"]),
    ]
    # Literal of the model's tuple: msgspec checks it at run time, mypy cannot expand it (Any)
    role: Literal[USER_ROLES]  # type: ignore[valid-type]


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    is_suspended: bool
    last_active_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            is_suspended=user.is_suspended,
            last_active_at=user.last_active_at,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class ApplicationIn(msgspec.Struct, forbid_unknown_fields=True):
    employer_id: uuid.UUID
    candidate_id: uuid.UUID
    job_title: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=300, pattern=ONE_LINE_PATTERN, examples=["Engineer"]),
    ]
    # Literal of the model's tuple: msgspec checks it at run time, mypy cannot expand it (Any)
    status: Literal[APPLICATION_STATUSES] = "submitted"  # type: ignore[valid-type]
    requisition_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=200,
                pattern=ONE_LINE_PATTERN,
                description="The platform's id for the job; a legal hold may name it.",
                examples=["REQ-2026-0042"],
            ),
        ]
        | None
    ) = None


class ApplicationOut(msgspec.Struct):
    id: uuid.UUID
    employer_id: uuid.UUID
    candidate_id: uuid.UUID
    job_title: str
    status: str
    requisition_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, application: Application) -> ApplicationOut:
        return cls(
            id=application.id,
            employer_id=application.employer_id,
            candidate_id=application.candidate_id,
            job_title=application.job_title,
            status=application.status,
            requisition_id=application.requisition_id,
            created_at=application.created_at,
            updated_at=application.updated_at,
        )


class ProvisioningController(Controller):
    tags = ["provisioning"]  # noqa: RUF012
    guards = [requires_provisioning]  # noqa: RUF012

    @put(
        "/users/{user_id:uuid}",
        summary="Create or update a user",
        description="201 when the user is new, 200 when it existed. A role never changes.",
        responses={
            HTTP_201_CREATED: ResponseSpec(UserOut, description="Created"),
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    async def put_user(
        self,
        db_session: NamedDependency[AsyncSession],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserIn],
    ) -> Response[UserOut]:
        user, created = await upsert_user(
            db_session,
            user_id,
            email=data.email,
            display_name=data.display_name,
            role=data.role,
            actor=Actor.service(),
        )
        return Response(UserOut.of(user), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @put(
        "/applications/{application_id:uuid}",
        summary="Create or update a job application",
        description="201 when the application is new, 200 when it existed.",
        responses={
            HTTP_201_CREATED: ResponseSpec(ApplicationOut, description="Created"),
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    async def put_application(
        self,
        db_session: NamedDependency[AsyncSession],
        application_id: FromPath[uuid.UUID],
        data: JSONBody[ApplicationIn],
    ) -> Response[ApplicationOut]:
        application, created = await upsert_application(
            db_session,
            employer_id=data.employer_id,
            candidate_id=data.candidate_id,
            job_title=data.job_title,
            status=data.status,
            actor=Actor.service(),
            application_id=application_id,
            requisition_id=data.requisition_id,
        )
        return Response(
            ApplicationOut.of(application),
            status_code=HTTP_201_CREATED if created else HTTP_200_OK,
        )
