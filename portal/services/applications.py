"""Job applications: the optional context of a thread."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import permissions
from portal.audit import Actor, apply_changes, record_event
from portal.database import get_or_insert, write_transaction
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import Application, MessageThread, User
from portal.models.base import new_id, utcnow
from portal.models.people import APPLICATION_STATUSES
from portal.permissions import Capability, Who
from portal.services import retaliation, validation
from portal.services.compliance.chain import chain_key
from portal.services.compliance.holds import ensure_requisition_not_held


def application_facts(application: Application) -> dict[str, Any]:
    """What a thread's chain records of its application (``details.application`` of its
    ``thread.created`` and ``application.updated`` events), so that a report's ``application``
    section is bound to the chain."""
    return {
        "id": str(application.id),
        "job_title": application.job_title,
        "status": application.status,
        "requisition_id": application.requisition_id,
    }


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
    actor: Who,
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
        actor = await permissions.authorize(session, actor, Capability.PROVISION)
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
        if changes and not created:
            await _record_on_threads(session, application, actor)
        if "status" in changes and not created:
            # An adverse personnel action during a retaliation watch goes to compliance, in
            # this transaction.
            await retaliation.on_application_status(
                session,
                application_id=application.id,
                employer_id=employer_id,
                candidate_id=candidate_id,
                status=application.status,
                actor=actor,
            )
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


async def _record_on_threads(session: AsyncSession, application: Application, actor: Actor) -> None:
    """Appends ``application.updated`` with the application's new facts to the chain of each of
    its threads, so that each thread's chain ends with the state its report shows.

    The application's row is locked (FOR UPDATE) before this runs, and a send that creates a
    thread of the application holds it FOR SHARE until it commits: so the threads listed here
    include every thread whose ``thread.created`` recorded the old facts, and a thread created
    after this commits records the new ones. Chain heads are then taken in ascending chain-key
    order, and before the global chain's (as a retention run does); a send appends to its
    thread's chain only after its share lock on the application, so the two never wait for each
    other in a cycle.
    """
    thread_ids = (
        await session.scalars(
            select(MessageThread.id).where(MessageThread.application_id == application.id)
        )
    ).all()
    facts = application_facts(application)
    for thread_id in sorted(thread_ids, key=chain_key):
        await record_event(
            session,
            actor=actor,
            action="application.updated",
            subject_type="application",
            subject_id=application.id,
            thread_id=thread_id,
            details={"application": facts},
        )
