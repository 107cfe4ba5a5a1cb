"""The panels: evidence (read-only for every role), moderation lists, people and records."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from markupsafe import Markup
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqlalchemy import Select
from starlette.requests import Request
from wtforms import BooleanField, Form, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from admin.panels import actions
from admin.panels.base import (
    ActionField,
    PanelAction,
    PanelView,
    excerpt,
    link,
    row_link,
    staff_of_request,
    tag,
)
from admin.panels.read_models import (
    AUDIT_EXPRESSIONS,
    BLOCK_EXPRESSIONS,
    RECENT_BLOCK_DAYS,
    THREAD_EXPRESSIONS,
    VIOLATION_EXPRESSIONS,
    AuditEntry,
    BlockEntry,
    FlaggedMessage,
    ThreadEntry,
    ViolationEntry,
    recently_blocked_by,
)
from portal import permissions
from portal.errors import Forbidden, NotFound
from portal.models import (
    Application,
    EmailOutbox,
    FlagReport,
    LegalHold,
    Message,
    ModeratorNote,
    Policy,
    StaffUser,
    User,
)
from portal.models.decisions import DSA_CATEGORIES, POLICY_GROUNDS
from portal.models.holds import HOLD_SCOPES
from portal.models.messaging import BLOCK_REASONS
from portal.models.moderation import FLAG_REASONS, FLAG_STATUSES, VIOLATION_STATUSES
from portal.models.people import APPLICATION_STATUSES, USER_ROLES
from portal.models.records import ACTOR_TYPES, OUTBOX_STATUSES
from portal.models.staff import STAFF_ROLES
from portal.permissions import Capability
from portal.services import applications as application_service
from portal.services import policies as policy_service
from portal.services import staff as staff_service
from portal.services import users as user_service
from portal.services.moderation_queue import ITEM_STATUSES


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ")) for value in values]


def _user(column: str, name: str | None = None) -> Any:
    def format_(row: Any, _attr: Any) -> Any:
        value = getattr(row, column)
        label = getattr(row, name) if name else None
        return row_link("user", value, label or value)

    return format_


def _thread(row: Any, _attr: Any) -> Any:
    return row_link("message-thread", row.thread_id, "thread")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


# --- moderation ---------------------------------------------------------------------------------


class FlaggedMessagePanel(PanelView, model=FlaggedMessage):
    name = "Flagged message"
    name_plural = "Flagged messages"
    slug = "flagged-message"
    icon = "fa-solid fa-flag"
    column_list: ClassVar[list[Any]] = [
        FlaggedMessage.body,
        FlaggedMessage.sender_name,
        FlaggedMessage.reasons,
        FlaggedMessage.report_count,
        FlaggedMessage.status,
        FlaggedMessage.last_reported_at,
        FlaggedMessage.thread_id,
        FlaggedMessage.id,
    ]
    column_labels: ClassVar[dict[Any, str]] = {
        FlaggedMessage.id: "Dashboard",
        FlaggedMessage.body: "Message",
        FlaggedMessage.reasons: "Reasons",
        FlaggedMessage.status: "Status",
        FlaggedMessage.sender_name: "Sender",
        FlaggedMessage.report_count: "Reports",
        FlaggedMessage.open_reports: "Undecided",
        FlaggedMessage.last_reported_at: "Last reported",
        FlaggedMessage.first_reported_at: "First reported",
        FlaggedMessage.thread_id: "Thread",
    }
    column_formatters: ClassVar[dict[Any, Any]] = {
        FlaggedMessage.id: lambda m, a: link(f"/mod/reports/{m.id}", "report page"),
        FlaggedMessage.body: lambda m, a: excerpt(m.body, 70),
        FlaggedMessage.sender_name: _user("sender_id", "sender_name"),
        FlaggedMessage.status: lambda m, a: tag(m.status),
        FlaggedMessage.last_reported_at: lambda m, a: _when(m.last_reported_at),
        FlaggedMessage.thread_id: _thread,
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        FlaggedMessage.id: lambda m, a: link(f"/mod/reports/{m.id}", f"{m.id} (dashboard)"),
        FlaggedMessage.sender_name: _user("sender_id", "sender_name"),
        FlaggedMessage.thread_id: _thread,
    }
    column_searchable_list: ClassVar[list[Any]] = [
        FlaggedMessage.body,
        FlaggedMessage.reasons,
        FlaggedMessage.sender_name,
    ]
    column_sortable_list: ClassVar[list[Any]] = [
        FlaggedMessage.report_count,
        FlaggedMessage.open_reports,
        FlaggedMessage.last_reported_at,
        FlaggedMessage.sent_at,
    ]
    column_default_sort: ClassVar[Any] = [(FlaggedMessage.last_reported_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(
            FlaggedMessage.status,
            [(s, s) for s in ITEM_STATUSES],
            title="Status",
        ),
        BooleanFilter(FlaggedMessage.is_removed, title="Removed"),
    ]


class FlagReportPanel(PanelView, model=FlagReport):
    name = "Flag report"
    slug = "flag-report"
    icon = "fa-solid fa-triangle-exclamation"
    evidence = True
    column_list: ClassVar[list[Any]] = [
        FlagReport.created_at,
        FlagReport.message_id,
        FlagReport.reporter_id,
        FlagReport.reason,
        FlagReport.note,
        FlagReport.status,
        FlagReport.decision,
        FlagReport.decided_at,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        FlagReport.message_id: lambda m, a: row_link("message", m.message_id, "message"),
        FlagReport.reporter_id: _user("reporter_id"),
        FlagReport.note: lambda m, a: excerpt(m.note, 60),
        FlagReport.status: lambda m, a: tag(m.status),
        FlagReport.created_at: lambda m, a: _when(m.created_at),
        FlagReport.decided_at: lambda m, a: _when(m.decided_at),
    }
    column_searchable_list: ClassVar[list[Any]] = [FlagReport.note, FlagReport.reason]
    column_sortable_list: ClassVar[list[Any]] = [
        FlagReport.created_at,
        FlagReport.status,
        FlagReport.reason,
    ]
    column_default_sort: ClassVar[Any] = [(FlagReport.created_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(FlagReport.reason, _choices(FLAG_REASONS), title="Reason"),
        StaticValuesFilter(FlagReport.status, _choices(FLAG_STATUSES), title="Status"),
    ]


class BlocklistPanel(PanelView, model=BlockEntry):
    name = "Block"
    name_plural = "Blocklist"
    slug = "blocklist"
    icon = "fa-solid fa-ban"
    expressions = BLOCK_EXPRESSIONS
    column_list: ClassVar[list[Any]] = [
        BlockEntry.blocker_name,
        BlockEntry.blocked_name,
        BlockEntry.blocked_by_recent,
        BlockEntry.reason,
        BlockEntry.note,
        BlockEntry.created_at,
    ]
    column_details_list: ClassVar[list[Any]] = [
        BlockEntry.id,
        BlockEntry.blocker_name,
        BlockEntry.blocked_name,
        BlockEntry.blocked_by_recent,
        BlockEntry.reason,
        BlockEntry.note,
        BlockEntry.created_at,
    ]
    column_export_list: ClassVar[list[Any]] = [
        "id",
        "blocker_id",
        "blocker_name",
        "blocked_id",
        "blocked_name",
        "blocked_by_recent",
        "reason",
        "note",
        "created_at",
    ]
    column_labels: ClassVar[dict[Any, str]] = {
        BlockEntry.blocker_name: "Blocker",
        BlockEntry.blocked_name: "Blocked",
        BlockEntry.blocked_by_recent: f"Blocked by (people, {RECENT_BLOCK_DAYS} days)",
        BlockEntry.created_at: "Date",
    }
    column_formatters: ClassVar[dict[Any, Any]] = {
        BlockEntry.blocker_name: _user("blocker_id", "blocker_name"),
        BlockEntry.blocked_name: _user("blocked_id", "blocked_name"),
        BlockEntry.reason: lambda m, a: tag(m.reason.replace("_", " "), m.reason),
        BlockEntry.note: lambda m, a: excerpt(m.note, 60),
        BlockEntry.created_at: lambda m, a: _when(m.created_at),
    }
    column_formatters_detail = column_formatters
    column_searchable_list: ClassVar[list[Any]] = [BlockEntry.note, BlockEntry.reason]
    column_sortable_list: ClassVar[list[Any]] = [
        BlockEntry.created_at,
        BlockEntry.reason,
        "blocked_by_recent",
    ]
    column_default_sort: ClassVar[Any] = [(BlockEntry.created_at, True)]

    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(BlockEntry.reason, _choices(BLOCK_REASONS), title="Reason"),
    ]

    def get_filters(self) -> list[Any]:
        return [*super().get_filters(), RecentlyBlockedFilter()]


class RecentlyBlockedFilter:
    """Blocks of users whom at least N distinct people blocked in the last 30 days."""

    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"
    title = f"Blocked by ({RECENT_BLOCK_DAYS} days)"
    parameter_name = "blocked_by"

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        return [("__all", "All"), ("2", "2 or more people"), ("3", "3 or more"), ("5", "5 or more")]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if not isinstance(value, str) or not value.isdigit():
            return query
        return query.where(recently_blocked_by() >= int(value))


class ViolationPanel(PanelView, model=ViolationEntry):
    name = "Rate-limit violation"
    slug = "rate-limit-violation"
    icon = "fa-solid fa-gauge-high"
    evidence = True
    expressions = VIOLATION_EXPRESSIONS
    column_list: ClassVar[list[Any]] = [
        ViolationEntry.user_name,
        ViolationEntry.attempts,
        ViolationEntry.limit,
        ViolationEntry.window_seconds,
        ViolationEntry.first_attempt_at,
        ViolationEntry.last_attempt_at,
        ViolationEntry.status,
        ViolationEntry.reviewer_name,
    ]
    column_details_list: ClassVar[list[Any]] = [
        ViolationEntry.id,
        ViolationEntry.user_name,
        ViolationEntry.count_in_window,
        *column_list[1:],
        ViolationEntry.reviewed_at,
    ]
    column_labels: ClassVar[dict[Any, str]] = {
        ViolationEntry.user_name: "User",
        ViolationEntry.count_in_window: "Sent in window",
        ViolationEntry.window_seconds: "Window",
        ViolationEntry.first_attempt_at: "First attempt",
        ViolationEntry.last_attempt_at: "Last attempt",
        ViolationEntry.reviewer_name: "Reviewed by",
    }
    column_formatters: ClassVar[dict[Any, Any]] = {
        ViolationEntry.user_name: _user("user_id", "user_name"),
        ViolationEntry.window_seconds: lambda m, a: _window(m.window_seconds),
        ViolationEntry.first_attempt_at: lambda m, a: _when(m.first_attempt_at),
        ViolationEntry.last_attempt_at: lambda m, a: _when(m.last_attempt_at),
        ViolationEntry.status: lambda m, a: tag(m.status),
    }
    column_formatters_detail = column_formatters
    column_sortable_list: ClassVar[list[Any]] = [
        ViolationEntry.attempts,
        ViolationEntry.first_attempt_at,
        ViolationEntry.last_attempt_at,
        ViolationEntry.status,
    ]
    column_default_sort: ClassVar[Any] = [(ViolationEntry.last_attempt_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(ViolationEntry.status, _choices(VIOLATION_STATUSES)),
    ]
    panel_actions = (
        PanelAction(
            "review",
            "Mark reviewed",
            Capability.MODERATE_USERS,
            actions.review_violation,
            show_if=actions.is_open,
        ),
        PanelAction(
            "suspend",
            "Suspend user",
            Capability.MODERATE_USERS,
            actions.suspend_violator,
            fields=(
                ActionField("reason", "Internal note"),
                ActionField("days", "For", choices=actions.DAY_CHOICES),
                ActionField("policy", "Policy cited", dynamic=True),
                ActionField("explanation", "Explanation to the user", required=False),
            ),
            help="The explanation is the policy's own unless you write one.",
            danger=True,
        ),
    )

    async def dynamic_choices(self, request: Request) -> dict[str, tuple[tuple[str, str], ...]]:
        async with actions.sessions(request)() as db:
            active = await policy_service.list_policies(db, active_only=True)
        return {"policy": tuple((p.key, p.title) for p in active)}


def _window(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# --- conversations --------------------------------------------------------------------------


class ThreadPanel(PanelView, model=ThreadEntry):
    name = "Thread"
    slug = "message-thread"
    icon = "fa-solid fa-comments"
    expressions = THREAD_EXPRESSIONS
    column_list: ClassVar[list[Any]] = [
        ThreadEntry.subject,
        ThreadEntry.employer_name,
        ThreadEntry.candidate_name,
        ThreadEntry.last_message_at,
        ThreadEntry.is_deleted,
        ThreadEntry.created_at,
        ThreadEntry.audit_report,
    ]
    column_details_list: ClassVar[list[Any]] = [
        ThreadEntry.id,
        ThreadEntry.subject,
        ThreadEntry.employer_name,
        ThreadEntry.candidate_name,
        ThreadEntry.application_id,
        ThreadEntry.last_message_at,
        ThreadEntry.unread_count_employer,
        ThreadEntry.unread_count_candidate,
        ThreadEntry.archived_by_employer,
        ThreadEntry.archived_by_candidate,
        ThreadEntry.deleted_by_employer_at,
        ThreadEntry.deleted_by_candidate_at,
        ThreadEntry.is_deleted,
        ThreadEntry.created_at,
    ]
    column_labels: ClassVar[dict[Any, str]] = {
        ThreadEntry.employer_name: "Employer",
        ThreadEntry.candidate_name: "Candidate",
        ThreadEntry.last_message_at: "Last message",
        ThreadEntry.audit_report: "Audit report",
    }
    column_formatters: ClassVar[dict[Any, Any]] = {
        ThreadEntry.subject: lambda m, a: m.subject or "(no subject)",
        ThreadEntry.employer_name: _user("employer_id", "employer_name"),
        ThreadEntry.candidate_name: _user("candidate_id", "candidate_name"),
        ThreadEntry.last_message_at: lambda m, a: _when(m.last_message_at),
        ThreadEntry.created_at: lambda m, a: _when(m.created_at),
        ThreadEntry.audit_report: lambda m, a: link(
            f"/admin/message-thread/details/{m.id}#audit-report", "JSON, CSV, PDF…"
        ),
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        ThreadEntry.employer_name: _user("employer_id", "employer_name"),
        ThreadEntry.candidate_name: _user("candidate_id", "candidate_name"),
        ThreadEntry.application_id: lambda m, a: row_link("application", m.application_id),
    }
    column_searchable_list: ClassVar[list[Any]] = [ThreadEntry.subject]
    column_sortable_list: ClassVar[list[Any]] = [
        ThreadEntry.last_message_at,
        ThreadEntry.created_at,
    ]
    column_default_sort: ClassVar[Any] = [(ThreadEntry.last_message_at, True)]
    column_filters: ClassVar[list[Any]] = [
        BooleanFilter(ThreadEntry.is_deleted, title="Deleted by both")
    ]
    panel_actions = (
        PanelAction(
            "report",
            "Audit report",
            Capability.EXPORT,
            actions.download_report,
            buttons=(("json", "JSON"), ("csv", "CSV"), ("pdf", "PDF")),
            button_field="format",
            download=True,
            help="Every message, read receipt, email, flag, decision and the thread's audit "
            "chain. The download is recorded in the audit log.",
        ),
        PanelAction(
            "hold",
            "Place a legal hold",
            Capability.PLACE_HOLD,
            actions.hold_thread,
            fields=(
                ActionField("case_reference", "Case reference"),
                ActionField("reason", "Reason"),
            ),
        ),
    )


class MessagePanel(PanelView, model=Message):
    name = "Message"
    icon = "fa-solid fa-envelope"
    evidence = True
    column_list: ClassVar[list[Any]] = [
        Message.created_at,
        Message.body,
        Message.sender_id,
        Message.recipient_id,
        Message.message_type,
        Message.is_read,
        Message.is_flagged,
        Message.is_removed,
        Message.is_deleted,
        Message.thread_id,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        Message.created_at: lambda m, a: _when(m.created_at),
        Message.body: lambda m, a: excerpt(m.body, 70),
        Message.sender_id: _user("sender_id"),
        Message.recipient_id: _user("recipient_id"),
        Message.thread_id: _thread,
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        Message.sender_id: _user("sender_id"),
        Message.recipient_id: _user("recipient_id"),
        Message.thread_id: _thread,
    }
    column_searchable_list: ClassVar[list[Any]] = [Message.body, Message.subject]
    column_sortable_list: ClassVar[list[Any]] = [Message.created_at, Message.message_type]
    column_default_sort: ClassVar[Any] = [(Message.created_at, True)]
    column_filters: ClassVar[list[Any]] = [
        BooleanFilter(Message.is_flagged, title="Flagged"),
        BooleanFilter(Message.is_removed, title="Removed"),
        BooleanFilter(Message.is_deleted, title="Deleted"),
    ]


class EmailOutboxPanel(PanelView, model=EmailOutbox):
    name = "Email"
    name_plural = "Email outbox"
    slug = "email-outbox"
    icon = "fa-solid fa-paper-plane"
    read_capability = Capability.READ_COMPLIANCE
    column_exclude_list: ClassVar[list[Any]] = [EmailOutbox.body_html, EmailOutbox.body_text]
    column_searchable_list: ClassVar[list[Any]] = [EmailOutbox.to_address, EmailOutbox.subject]
    column_sortable_list: ClassVar[list[Any]] = [EmailOutbox.created_at, EmailOutbox.status]
    column_default_sort: ClassVar[Any] = [(EmailOutbox.created_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(
            EmailOutbox.status,
            _choices(OUTBOX_STATUSES),
            title="Status",
        )
    ]


# --- people -------------------------------------------------------------------------------------


class UserPanel(PanelView, model=User):
    name = "User"
    icon = "fa-solid fa-user"
    edit_capability = Capability.PROVISION
    can_edit = True
    column_list: ClassVar[list[Any]] = [
        User.display_name,
        User.email,
        User.role,
        User.is_suspended,
        User.suspended_until,
        User.last_active_at,
        User.created_at,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        User.display_name: lambda m, a: link(f"/mod/users/{m.id}", m.display_name),
        User.suspended_until: lambda m, a: _when(m.suspended_until),
        User.last_active_at: lambda m, a: _when(m.last_active_at),
        User.created_at: lambda m, a: _when(m.created_at),
    }
    column_searchable_list: ClassVar[list[Any]] = [User.display_name, User.email]
    column_sortable_list: ClassVar[list[Any]] = [
        User.display_name,
        User.created_at,
        User.last_active_at,
    ]
    column_default_sort: ClassVar[Any] = [(User.created_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(User.role, _choices(USER_ROLES), title="Role"),
        BooleanFilter(User.is_suspended, title="Suspended"),
    ]
    form_columns: ClassVar[list[Any]] = [User.email, User.display_name]

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        staff = _editor(request, self)
        async with actions.sessions(request)() as db:
            user = await user_service.get_user(db, _uuid(pk))
            updated, _ = await user_service.upsert_user(
                db,
                user.id,
                email=str(data.get("email") or ""),
                display_name=str(data.get("display_name") or ""),
                role=user.role,
                actor=staff,
            )
        return updated


class ApplicationPanel(PanelView, model=Application):
    name = "Application"
    icon = "fa-solid fa-briefcase"
    read_capability = Capability.READ_COMPLIANCE
    edit_capability = Capability.PROVISION
    can_edit = True
    column_list: ClassVar[list[Any]] = [
        Application.job_title,
        Application.requisition_id,
        Application.status,
        Application.employer_id,
        Application.candidate_id,
        Application.created_at,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        Application.employer_id: _user("employer_id"),
        Application.candidate_id: _user("candidate_id"),
        Application.created_at: lambda m, a: _when(m.created_at),
    }
    column_searchable_list: ClassVar[list[Any]] = [
        Application.job_title,
        Application.requisition_id,
    ]
    column_sortable_list: ClassVar[list[Any]] = [Application.created_at, Application.job_title]
    column_default_sort: ClassVar[Any] = [(Application.created_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(Application.status, _choices(APPLICATION_STATUSES), title="Status")
    ]
    form_columns: ClassVar[list[Any]] = [
        Application.job_title,
        Application.status,
        Application.requisition_id,
    ]
    form_overrides: ClassVar[dict[str, Any]] = {"status": SelectField}
    form_args: ClassVar[dict[str, Any]] = {"status": {"choices": _choices(APPLICATION_STATUSES)}}

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        staff = _editor(request, self)
        async with actions.sessions(request)() as db:
            current = await db.get(Application, _uuid(pk))
            if current is None:
                raise ValueError(f"application {pk} does not exist")
            application, _ = await application_service.upsert_application(
                db,
                application_id=current.id,
                employer_id=current.employer_id,
                candidate_id=current.candidate_id,
                job_title=str(data.get("job_title") or ""),
                status=str(data.get("status") or ""),
                requisition_id=(str(data.get("requisition_id") or "").strip() or None),
                actor=staff,
            )
        return application


class CreateStaffForm(Form):
    email = StringField("Email", validators=[DataRequired()])
    display_name = StringField("Name", validators=[Optional()])
    role = SelectField("Role", choices=_choices(STAFF_ROLES))
    password = PasswordField("Password (at least 12 characters)", validators=[DataRequired()])


class EditStaffForm(Form):
    role = SelectField("Role", choices=_choices(STAFF_ROLES))
    is_active = BooleanField("Active")


class StaffPanel(PanelView, model=StaffUser):
    name = "Staff account"
    slug = "staff-account"
    icon = "fa-solid fa-id-badge"
    read_capability = Capability.MANAGE_STAFF
    edit_capability = Capability.MANAGE_STAFF
    create_capability = Capability.MANAGE_STAFF
    can_edit = True
    can_create = True
    column_list: ClassVar[list[Any]] = [
        StaffUser.email,
        StaffUser.display_name,
        StaffUser.role,
        StaffUser.is_active,
        StaffUser.last_login_at,
        StaffUser.created_at,
    ]
    column_details_exclude_list: ClassVar[list[Any]] = [StaffUser.password_hash]
    column_export_exclude_list: ClassVar[list[Any]] = [StaffUser.password_hash]
    column_searchable_list: ClassVar[list[Any]] = [StaffUser.email, StaffUser.display_name]
    column_sortable_list: ClassVar[list[Any]] = [StaffUser.email, StaffUser.created_at]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(StaffUser.role, _choices(STAFF_ROLES), title="Role"),
        BooleanFilter(StaffUser.is_active, title="Active"),
    ]
    form_columns: ClassVar[list[Any]] = [StaffUser.role, StaffUser.is_active]
    form_create_rules: ClassVar[list[str]] = ["email", "display_name", "role", "password"]
    form_edit_rules: ClassVar[list[str]] = ["role", "is_active"]

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        return CreateStaffForm if rules == self.form_create_rules else EditStaffForm

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        staff = _editor(request, self, create=True)
        async with actions.sessions(request)() as db:
            return await staff_service.create_staff(
                db,
                email=str(data.get("email") or ""),
                role=str(data.get("role") or ""),
                password=str(data.get("password") or ""),
                display_name=(str(data.get("display_name") or "").strip() or None),
                actor=staff,
            )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        staff = _editor(request, self)
        target = _uuid(pk)
        async with actions.sessions(request)() as db:
            account = await db.get(StaffUser, target)
            if account is None:
                raise ValueError(f"staff account {pk} does not exist")
            if data.get("role") and data["role"] != account.role:
                account = await staff_service.set_staff_role(db, target, data["role"], actor=staff)
            active = bool(data.get("is_active"))
            if active != account.is_active:
                change = (
                    staff_service.reactivate_staff if active else staff_service.deactivate_staff
                )
                account = await change(db, target, actor=staff)
        return account


# --- policies -----------------------------------------------------------------------------------


class _PolicyFields(Form):
    title = StringField("Title", validators=[DataRequired()])
    ground = SelectField("Ground", choices=_choices(POLICY_GROUNDS))
    ground_reference = StringField("Clause or legal ground", validators=[DataRequired()])
    category = SelectField("DSA category", choices=[(c, c) for c in DSA_CATEGORIES])
    explanation = TextAreaField("Explanation", validators=[DataRequired()])


class CreatePolicyForm(_PolicyFields):
    key = StringField("Key (a-z, 0-9, _)", validators=[DataRequired()])


class EditPolicyForm(_PolicyFields):
    active = BooleanField("Active")


class PolicyPanel(PanelView, model=Policy):
    """The policies decisions cite: every role reads them; administrators create and edit them
    (as in /mod/policies) through portal.services.policies, each edit a new version."""

    name = "Policy"
    name_plural = "Policies"
    icon = "fa-solid fa-scale-unbalanced"
    edit_capability = Capability.MANAGE_POLICIES
    create_capability = Capability.MANAGE_POLICIES
    can_edit = True
    can_create = True
    column_list: ClassVar[list[Any]] = [
        Policy.key,
        Policy.title,
        Policy.ground,
        Policy.category,
        Policy.version,
        Policy.active,
        Policy.updated_at,
    ]
    column_details_list: ClassVar[list[Any]] = [
        Policy.key,
        Policy.title,
        Policy.ground,
        Policy.ground_reference,
        Policy.category,
        Policy.explanation,
        Policy.version,
        Policy.active,
        Policy.created_at,
        Policy.updated_at,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        Policy.ground: lambda m, a: m.ground.replace("_", " "),
        Policy.updated_at: lambda m, a: _when(m.updated_at),
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        **column_formatters,
        Policy.created_at: lambda m, a: _when(m.created_at),
    }
    column_searchable_list: ClassVar[list[Any]] = [Policy.key, Policy.title]
    column_sortable_list: ClassVar[list[Any]] = [Policy.key, Policy.version, Policy.updated_at]
    column_default_sort: ClassVar[Any] = [(Policy.key, False)]
    column_filters: ClassVar[list[Any]] = [BooleanFilter(Policy.active, title="Active")]
    form_columns: ClassVar[list[Any]] = [
        Policy.title,
        Policy.ground,
        Policy.ground_reference,
        Policy.category,
        Policy.explanation,
        Policy.active,
    ]
    form_create_rules: ClassVar[list[str]] = [
        "key",
        "title",
        "ground",
        "ground_reference",
        "category",
        "explanation",
    ]
    form_edit_rules: ClassVar[list[str]] = [
        "title",
        "ground",
        "ground_reference",
        "category",
        "explanation",
        "active",
    ]

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        return CreatePolicyForm if rules == self.form_create_rules else EditPolicyForm

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        staff = _editor(request, self, create=True)
        async with actions.sessions(request)() as db:
            return await policy_service.create_policy(
                db,
                actor=staff,
                key=str(data.get("key") or ""),
                **{name: str(data.get(name) or "") for name in _POLICY_TEXTS},
            )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        staff = _editor(request, self)
        async with actions.sessions(request)() as db:
            return await policy_service.update_policy(
                db,
                _uuid(pk),
                actor=staff,
                active=bool(data.get("active")),
                **{name: str(data.get(name) or "") for name in _POLICY_TEXTS},
            )


_POLICY_TEXTS = ("title", "ground", "ground_reference", "category", "explanation")


# --- records ------------------------------------------------------------------------------------


class ModeratorNotePanel(PanelView, model=ModeratorNote):
    name = "Moderator note"
    icon = "fa-solid fa-note-sticky"
    read_capability = Capability.READ_COMPLIANCE
    column_list: ClassVar[list[Any]] = [
        ModeratorNote.created_at,
        ModeratorNote.body,
        ModeratorNote.author_id,
        ModeratorNote.user_id,
        ModeratorNote.message_id,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        ModeratorNote.created_at: lambda m, a: _when(m.created_at),
        ModeratorNote.body: lambda m, a: excerpt(m.body, 70),
        ModeratorNote.author_id: lambda m, a: row_link("staff-account", m.author_id),
        ModeratorNote.user_id: _user("user_id"),
        ModeratorNote.message_id: lambda m, a: row_link("message", m.message_id),
    }
    column_searchable_list: ClassVar[list[Any]] = [ModeratorNote.body]
    column_sortable_list: ClassVar[list[Any]] = [ModeratorNote.created_at]
    column_default_sort: ClassVar[Any] = [(ModeratorNote.created_at, True)]


class LegalHoldPanel(PanelView, model=LegalHold):
    name = "Legal hold"
    icon = "fa-solid fa-scale-balanced"
    read_capability = Capability.READ_COMPLIANCE
    column_list: ClassVar[list[Any]] = [
        LegalHold.case_reference,
        LegalHold.scope,
        LegalHold.thread_id,
        LegalHold.user_id,
        LegalHold.requisition_id,
        LegalHold.placed_at,
        LegalHold.lifted_at,
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        LegalHold.thread_id: lambda m, a: row_link("message-thread", m.thread_id),
        LegalHold.user_id: _user("user_id"),
        LegalHold.placed_at: lambda m, a: _when(m.placed_at),
        LegalHold.lifted_at: lambda m, a: _when(m.lifted_at),
    }
    column_searchable_list: ClassVar[list[Any]] = [
        LegalHold.case_reference,
        LegalHold.reason,
        LegalHold.requisition_id,
    ]
    column_sortable_list: ClassVar[list[Any]] = [LegalHold.placed_at, LegalHold.lifted_at]
    column_default_sort: ClassVar[Any] = [(LegalHold.placed_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(LegalHold.scope, _choices(HOLD_SCOPES))
    ]
    panel_actions = (
        PanelAction(
            "lift",
            "Lift the hold",
            Capability.LIFT_HOLD,
            actions.lift,
            fields=(ActionField("reason", "Reason"),),
            show_if=actions.is_standing,
            danger=True,
        ),
    )


def _person(kind: str, name: str, email: str) -> Any:
    """A person an event names: their name and email, then the kind and id (plain text: a link
    inside the cell's text would be told apart by its colour alone)."""

    def format_(row: Any, _attr: Any) -> Any:
        person_id = getattr(row, f"{kind}_id")
        person_type = getattr(row, f"{kind}_type")
        if person_id is None:
            return person_type
        address = getattr(row, email)
        return Markup('<span class="portal-person">{}{}<br><small>{} {}</small></span>').format(
            getattr(row, name) or person_type,
            f" <{address}>" if address else "",
            person_type,
            person_id,
        )

    return format_


class AuditEventPanel(PanelView, model=AuditEntry):
    name = "Audit event"
    slug = "audit-event"
    icon = "fa-solid fa-link"
    read_capability = Capability.READ_COMPLIANCE
    evidence = True
    expressions = AUDIT_EXPRESSIONS
    # Who acted and on whom, by name and email beside the id; the chain and the position share
    # the last column, so that the table fits its card and nothing is clipped.
    column_list: ClassVar[list[Any]] = [
        AuditEntry.occurred_at,
        AuditEntry.action,
        AuditEntry.actor_name,
        AuditEntry.subject_name,
        AuditEntry.position,
    ]
    column_details_list: ClassVar[list[Any]] = [
        AuditEntry.id,
        AuditEntry.occurred_at,
        AuditEntry.action,
        AuditEntry.actor_name,
        AuditEntry.subject_type,
        AuditEntry.subject_name,
        AuditEntry.thread_id,
        AuditEntry.details,
        AuditEntry.chain_key,
        AuditEntry.position,
        AuditEntry.prev_hash,
        AuditEntry.hash,
    ]
    column_labels: ClassVar[dict[Any, str]] = {
        AuditEntry.actor_name: "Actor",
        AuditEntry.subject_name: "Subject",
        AuditEntry.chain_key: "Chain",
        AuditEntry.position: "Chain, position",
    }
    column_formatters: ClassVar[dict[Any, Any]] = {
        AuditEntry.occurred_at: lambda m, a: m.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
        AuditEntry.actor_name: _person("actor", "actor_name", "actor_email"),
        AuditEntry.subject_name: _person("subject", "subject_name", "subject_email"),
        AuditEntry.position: lambda m, a: Markup(
            '<span class="portal-person">{}<br><small>#{}</small></span>'
        ).format(m.chain_key, m.position),
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        AuditEntry.actor_name: _person("actor", "actor_name", "actor_email"),
        AuditEntry.subject_name: _person("subject", "subject_name", "subject_email"),
    }
    column_searchable_list: ClassVar[list[Any]] = [AuditEntry.action, AuditEntry.chain_key]
    column_sortable_list: ClassVar[list[Any]] = [AuditEntry.occurred_at, AuditEntry.action]
    column_default_sort: ClassVar[Any] = [(AuditEntry.occurred_at, True)]
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(AuditEntry.actor_type, _choices(ACTOR_TYPES), title="Actor"),
    ]


PANELS: tuple[type[PanelView], ...] = (
    FlaggedMessagePanel,
    FlagReportPanel,
    BlocklistPanel,
    ViolationPanel,
    ThreadPanel,
    MessagePanel,
    EmailOutboxPanel,
    UserPanel,
    ApplicationPanel,
    StaffPanel,
    PolicyPanel,
    ModeratorNotePanel,
    LegalHoldPanel,
    AuditEventPanel,
)
for _panel in PANELS:
    # SQLAdmin derives the identity from the model's class name, after the class body runs
    _panel.identity = _panel.slug or _panel.identity


def _editor(request: Request, view: PanelView, *, create: bool = False) -> StaffUser:
    staff = staff_of_request(request)
    capability = view.create_capability if create else view.edit_capability
    if staff is None or capability is None or not permissions.may(staff, capability):
        raise Forbidden("this panel is read-only for you")
    return staff


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{value!r} is not an id") from None
