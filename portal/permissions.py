"""Who may do what on the staff side: the one permission model.

Every rule about roles is written here once, as capability predicates in the manner of Zulip's
``access_*`` helpers: services call them with the acting staff member (and refuse with
:class:`~portal.errors.Forbidden`), and the dashboard's guards, the SQLAdmin panels, the
templates and the console ask the same predicates, so no page can show a button the service
would refuse, nor a route let through what a service forbids.

Who acts (``Who``) is a :class:`~portal.models.StaffUser` or an audit
:class:`~portal.audit.Actor`:

- a staff member may what their role is granted (:data:`GRANTS`) while their account is active;
- ``Actor.staff(id)`` names a staff member without their role: :func:`authorize` (or
  :func:`acting`) reads the account first;
- the system (``Actor.system()``: the portal's own workers, the demo seed) and the operator at
  the console (``Actor.console()``, where no staff account is named: development and the first
  account only) may what the console does (:data:`CONSOLE`);
- the platform's backend (``Actor.service()``) provisions people and applications, nothing else;
- an end user (``Actor.user(id)``) may nothing here.

Stages of a report (``open``, ``claimed``, ``escalated``) decide who may decide it:
moderators decide open and claimed items, compliance officers escalated ones (and never
escalate), administrators both.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import Actor
from portal.errors import Forbidden
from portal.models import StaffUser
from portal.models.staff import STAFF_ROLES

Who = StaffUser | Actor


class Capability(StrEnum):
    """What someone may do; the value is how a refusal names it."""

    READ_QUEUE = "read the moderation queue"
    ADD_NOTE = "add a moderator note"
    CLAIM = "claim an item"
    RELEASE_ANY_CLAIM = "release another staff member's claim"
    DECIDE = "decide reported items"
    DECIDE_OPEN = "decide open items"
    DECIDE_ESCALATED = "decide escalated items"
    ESCALATE = "escalate an item"
    MODERATE_USERS = "suspend users and review rate-limit violations"
    READ_COMPLIANCE = "read the compliance records"
    EXPORT = "export records"
    PLACE_HOLD = "place a legal hold"
    LIFT_HOLD = "lift a legal hold"
    PURGE = "purge expired messages"
    CHECKPOINT = "write an audit checkpoint"
    MANAGE_STAFF = "manage staff accounts"
    PROVISION = "provision users and applications"
    DECIDE_APPEAL = "decide appeals"
    MANAGE_POLICIES = "edit the policies decisions cite"
    READ_STAFF_FIGURES = "see each moderator's figures"
    REVIEW_RETALIATION = "review the retaliation watch"


_EVERY_ROLE: Final = frozenset(STAFF_ROLES)
_MODERATORS: Final = frozenset({"moderator", "admin"})
_COMPLIANCE: Final = frozenset({"compliance", "admin"})
_ADMINS: Final = frozenset({"admin"})

# The staff roles granted each capability: the only list of roles on the staff side.
GRANTS: Final[Mapping[Capability, frozenset[str]]] = {
    Capability.READ_QUEUE: _EVERY_ROLE,
    Capability.ADD_NOTE: _EVERY_ROLE,
    Capability.CLAIM: _MODERATORS,
    Capability.RELEASE_ANY_CLAIM: _ADMINS,
    Capability.DECIDE: _EVERY_ROLE,  # some items; which ones by their stage: :func:`may_decide`
    Capability.DECIDE_OPEN: _MODERATORS,
    Capability.DECIDE_ESCALATED: _COMPLIANCE,
    Capability.ESCALATE: _MODERATORS,
    Capability.MODERATE_USERS: _MODERATORS,
    Capability.READ_COMPLIANCE: _COMPLIANCE,
    Capability.EXPORT: _COMPLIANCE,
    Capability.PLACE_HOLD: _COMPLIANCE,
    Capability.LIFT_HOLD: _COMPLIANCE,
    Capability.PURGE: _COMPLIANCE,
    Capability.CHECKPOINT: _COMPLIANCE,
    Capability.MANAGE_STAFF: _ADMINS,
    Capability.PROVISION: _ADMINS,
    # an appeal goes to someone other than who decided (the service checks that too)
    Capability.DECIDE_APPEAL: _MODERATORS,
    Capability.MANAGE_POLICIES: _ADMINS,
    Capability.READ_STAFF_FIGURES: _ADMINS,
    # Compliance only: what the watch holds is never the moderators' (Title VII §704(a)).
    Capability.REVIEW_RETALIATION: _COMPLIANCE,
}
assert set(GRANTS) == set(Capability)

# What the system and the unnamed operator at the console may do: what the console commands do.
CONSOLE: Final = frozenset(
    {
        Capability.EXPORT,
        Capability.PLACE_HOLD,
        Capability.LIFT_HOLD,
        Capability.PURGE,
        Capability.CHECKPOINT,
        Capability.MANAGE_STAFF,
        Capability.PROVISION,
    }
)
# What the platform's backend may do through the provisioning API.
SERVICE: Final = frozenset({Capability.PROVISION})

OPEN_STAGES: Final = ("open", "claimed")
ESCALATED_STAGE: Final = "escalated"


def roles_for(capability: Capability) -> tuple[str, ...]:
    """The staff roles granted ``capability``, in the order of ``STAFF_ROLES``."""
    return tuple(role for role in STAFF_ROLES if role in GRANTS[capability])


def granted(role: str, capability: Capability) -> bool:
    """Whether the staff role ``role`` is granted ``capability`` (an active account assumed)."""
    return role in GRANTS[capability]


def may(who: Who, capability: Capability) -> bool:
    """Whether ``who`` may do ``capability``. ``Actor.staff(id)`` must be read first
    (:func:`acting`): its role is not in the actor."""
    if isinstance(who, StaffUser):
        return bool(who.is_active) and granted(who.role, capability)
    if who.type == "staff":
        raise TypeError("Actor.staff names no role: read the staff member first (acting)")
    if who.type == "system":
        return capability in CONSOLE
    if who.type == "service":
        return capability in SERVICE
    return False


def refusal(who: Who, capability: Capability) -> Forbidden:
    """The error for ``who`` refused ``capability``."""
    roles = " or ".join(roles_for(capability))
    if isinstance(who, StaffUser):
        if not who.is_active:
            return Forbidden(f"this needs an active staff account with the role {roles}")
        return Forbidden(f"this needs the role {roles}; you are {who.role}")
    return Forbidden(f"this needs a staff member with the role {roles} (not the {who.type})")


def require(who: Who, capability: Capability) -> None:
    """Forbidden unless ``who`` may do ``capability``."""
    if not may(who, capability):
        raise refusal(who, capability)


def audit_actor(who: Who) -> Actor:
    """``who`` as the actor of audit events."""
    return Actor.staff(who.id) if isinstance(who, StaffUser) else who


async def acting(session: AsyncSession, who: Who) -> Who:
    """``who``, with ``Actor.staff(id)`` read as its staff account (Forbidden if it has none)."""
    if isinstance(who, StaffUser) or who.type != "staff":
        return who
    staff = await session.get(StaffUser, who.id) if who.id is not None else None
    if staff is None:
        raise Forbidden(f"no staff account {who.id}")
    return staff


async def authorize(session: AsyncSession, who: Who, capability: Capability) -> Actor:
    """Forbidden unless ``who`` may do ``capability``; the actor to record it as."""
    resolved = await acting(session, who)
    require(resolved, capability)
    return audit_actor(resolved)


# --- the predicates pages and services ask --------------------------------------------------


def may_read_queue(who: Who) -> bool:
    return may(who, Capability.READ_QUEUE)


def may_add_note(who: Who) -> bool:
    return may(who, Capability.ADD_NOTE)


def may_claim(who: Who) -> bool:
    return may(who, Capability.CLAIM)


def may_release_claim(who: Who, claimed_by_id: uuid.UUID | None) -> bool:
    """One's own claim, or (administrators) anyone's."""
    if not isinstance(who, StaffUser) or not may_claim(who):
        return False
    return claimed_by_id == who.id or may(who, Capability.RELEASE_ANY_CLAIM)


def may_decide(who: Who, stage: str, *, escalating: bool = False) -> bool:
    """Whether ``who`` decides an item at ``stage`` (``escalating`` it, or another decision)."""
    if not isinstance(who, StaffUser):
        return False  # a decision names the staff member who took it
    if stage in OPEN_STAGES:
        return may(who, Capability.DECIDE_OPEN) and (not escalating or may_escalate(who))
    if stage == ESCALATED_STAGE:
        return may(who, Capability.DECIDE_ESCALATED) and not escalating
    return False


def may_escalate(who: Who) -> bool:
    return may(who, Capability.ESCALATE)


def may_moderate_users(who: Who) -> bool:
    return may(who, Capability.MODERATE_USERS)


def may_read_compliance(who: Who) -> bool:
    return may(who, Capability.READ_COMPLIANCE)


def may_export(who: Who) -> bool:
    return may(who, Capability.EXPORT)


def may_place_hold(who: Who) -> bool:
    return may(who, Capability.PLACE_HOLD)


def may_lift_hold(who: Who) -> bool:
    return may(who, Capability.LIFT_HOLD)


def may_manage_staff(who: Who) -> bool:
    return may(who, Capability.MANAGE_STAFF)


def may_review_retaliation(who: Who) -> bool:
    return may(who, Capability.REVIEW_RETALIATION)


# For templates: the predicates by name (``may_decide(staff, view.status)``).
TEMPLATE_GLOBALS: Final = {
    "may": may,
    "Capability": Capability,
    "may_read_queue": may_read_queue,
    "may_add_note": may_add_note,
    "may_claim": may_claim,
    "may_release_claim": may_release_claim,
    "may_decide": may_decide,
    "may_escalate": may_escalate,
    "may_moderate_users": may_moderate_users,
    "may_read_compliance": may_read_compliance,
    "may_export": may_export,
    "may_place_hold": may_place_hold,
    "may_lift_hold": may_lift_hold,
    "may_manage_staff": may_manage_staff,
    "may_review_retaliation": may_review_retaliation,
}
