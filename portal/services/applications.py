"""Job applications: the optional context of a thread."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor, apply_changes, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import Application, User
from portal.models.base import new_id, utcnow
from portal.models.people import APPLICATION_STATUSES
from portal.services import validation
from portal.services.compliance.holds import ensure_requisition_not_held


async def _participants(
    session: AsyncSession, employer_id: uuid.UUID, candidate_id: uuid.UUID
) -> None:
    for field, user_id, role in (
        ("employer", employer_id, "employer"),
        ("candidate", candidate_id, "candidate"),
    ):
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound(f"{field}: user {user_id} does not exist")
        if user.role != role:
            raise InvalidInput(
                field,
                f"user {user_id} is a {user.role}, not an {role}"
                if role == "employer"
                else f"user {user_id} is an {user.role}, not a {role}",
            )


async def upsert_application(
    session: AsyncSession,
    *,
    employer_id: uuid.UUID,
    candidate_id: uuid.UUID,
    job_title: str,
    status: str = "submitted",
    actor: Actor,
    application_id: uuid.UUID | None = None,
    requisition_id: str | None = None,
) -> tuple[Application, bool]:
    """Create an application (or update the one with ``application_id``); returns (it, created).

    ``requisition_id`` is the platform's id for the job; a legal hold on it covers the
    application, so it cannot change while such a hold stands.
    """
    job_title = validation.text("job_title", job_title, max_length=300)
    status = validation.one_of("status", status, APPLICATION_STATUSES)
    if requisition_id is not None:
        requisition_id = validation.text("requisition_id", requisition_id, max_length=200)
    async with write_transaction(session):
        await _participants(session, employer_id, candidate_id)
        wanted_id = application_id or new_id()
        application, created = await get_or_insert(
            session,
            find=lambda: session.get(
                Application, wanted_id, with_for_update=True, populate_existing=True
            ),
            make=lambda: Application(
                id=wanted_id,
                employer_id=employer_id,
                candidate_id=candidate_id,
                job_title=job_title,
                status=status,
                requisition_id=requisition_id,
            ),
        )
        wanted = {"job_title": job_title, "status": status, "requisition_id": requisition_id}
        if created:
            changes = wanted
        else:
            if (application.employer_id, application.candidate_id) != (employer_id, candidate_id):
                raise Conflict("an application's employer and candidate cannot change")
            if application.requisition_id != requisition_id:
                await ensure_requisition_not_held(session, application)
            changes = apply_changes(application, wanted)
        if created or "status" in changes:
            # The personnel action the retention period counts from (29 CFR 1602.14).
            application.status_changed_at = utcnow()
        await session.flush()
        if created or changes:
            await record_event(
                session,
                actor=actor,
                action="application.created" if created else "application.updated",
                subject_type="application",
                subject_id=application.id,
                details={
                    **changes,
                    "employer_id": str(employer_id),
                    "candidate_id": str(candidate_id),
                },
            )
    return application, created
