"""What every admin panel shares: read-only unless a panel says otherwise, the capabilities
(``portal.permissions``) needed to read, export and edit it, computed columns, and actions that
are POST forms with a CSRF token.

SQLAdmin's stock ``@action`` is a GET link and its export is a GET download; neither is used:
actions are :class:`PanelAction` forms posted to ``/admin/{panel}/do/{slug}/{pk}`` and exports
are POST forms, both behind the app's CSRF check (see admin/sqladmin_app.py).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from markupsafe import Markup, escape
from sqladmin import ModelView
from sqladmin.authorization import Action
from sqladmin.helpers import secure_filename
from sqlalchemy import Select, SQLColumnExpression, asc, desc
from sqlalchemy.orm import with_expression
from starlette import status
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from portal import permissions
from portal.models import StaffUser
from portal.permissions import Capability
from portal.services import panel_exports
from portal.services.csv_cells import csv_row

STAFF_STATE = "portal_admin_staff"


def staff_of_request(request: Request) -> StaffUser | None:
    return getattr(request.state, STAFF_STATE, None)


@dataclass(frozen=True)
class ActionField:
    name: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()  # a select when given, else a text input
    required: bool = True
    # a select whose choices the panel reads per request (PanelView.dynamic_choices)
    dynamic: bool = False


ActionRun = Callable[[Request, StaffUser, uuid.UUID, FormData], Awaitable[Response | str]]


@dataclass(frozen=True)
class PanelAction:
    """A state-changing action on one row, shown as a form on its detail page. ``run`` returns
    a response (a download) or the message to show after redirecting back to the row."""

    slug: str
    label: str
    capability: Capability
    run: ActionRun
    fields: tuple[ActionField, ...] = ()
    # one submit button per choice of this field (e.g. the report formats)
    buttons: tuple[tuple[str, str], ...] = ()
    button_field: str = ""
    download: bool = False
    danger: bool = False
    help: str = ""
    show_if: Callable[[Any], bool] = field(default=lambda _row: True)


def csv_line(values: Sequence[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(csv_row(values))
    return buffer.getvalue()


def link(href: str, text: object) -> Markup:
    return Markup('<a href="{}">{}</a>').format(href, text)


def row_link(panel: str, value: object, text: object | None = None) -> Markup | str:
    if value is None:
        return ""
    return link(f"/admin/{panel}/details/{value}", text if text is not None else value)


def excerpt(value: str | None, length: int = 80) -> str:
    text = " ".join((value or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def tag(value: object, kind: str = "") -> Markup:
    return Markup('<span class="badge {}">{}</span>').format(
        f"panel-tag panel-tag-{escape(str(kind or value))}", value
    )


def _granted(role: str, capability: Capability | None) -> bool:
    return capability is not None and permissions.granted(role, capability)


class PanelView(ModelView):
    """Readable by every staff role and read-only by default; a panel asks more to read
    (``read_capability``) or opens edits to those with ``edit_capability``."""

    slug: ClassVar[str] = ""  # the URL name, when not the one SQLAdmin derives from the model
    read_capability: ClassVar[Capability] = Capability.READ_QUEUE
    edit_capability: ClassVar[Capability | None] = None
    create_capability: ClassVar[Capability | None] = None
    evidence: ClassVar[bool] = False
    panel_actions: ClassVar[tuple[PanelAction, ...]] = ()
    # computed columns: attribute (a query_expression on the model) -> SQL built per request
    expressions: ClassVar[Mapping[str, Callable[[], SQLColumnExpression[Any]]]] = {}

    can_create = False
    can_edit = False
    can_delete = False
    can_import = False
    can_export = True
    export_types: ClassVar[list[str]] = list(panel_exports.EXPORT_FORMATS)
    page_size = 25
    page_size_options: ClassVar[list[int]] = [25, 50, 100]
    export_max_rows = 10_000

    def __init__(self) -> None:
        super().__init__()
        shown = (*self._list_prop_names, *self._details_prop_names, *self._form_prop_names)
        for name in shown:
            self._column_labels.setdefault(name, name.replace("_", " ").capitalize())

    # --- who may do what (read by the authorization backend) ---------------------------------

    def allows(self, role: str, action: str) -> bool:
        """Whether the staff role ``role`` may ``action`` (a SQLAdmin action) on this panel."""
        if not permissions.granted(role, self.read_capability):
            return False
        if action in (Action.LIST, Action.DETAILS):
            return True
        if action == Action.EXPORT:
            return permissions.granted(role, Capability.EXPORT)
        if action == Action.EDIT:
            return self.can_edit and _granted(role, self.edit_capability)
        if action == Action.CREATE:
            return self.can_create and _granted(role, self.create_capability)
        return False  # delete, import, SQLAdmin's GET actions: never

    def actions_for(self, request: Request, row: Any) -> list[PanelAction]:
        staff = staff_of_request(request)
        if staff is None:
            return []
        return [
            a for a in self.panel_actions if permissions.may(staff, a.capability) and a.show_if(row)
        ]

    async def dynamic_choices(self, request: Request) -> dict[str, tuple[tuple[str, str], ...]]:
        """The choices of the actions' ``dynamic`` fields, by field name, read per request."""
        return {}

    async def details_context(self, request: Request) -> dict[str, Any]:
        return {"action_choices": await self.dynamic_choices(request)}

    def find_action(self, slug: str) -> PanelAction:
        for candidate in self.panel_actions:
            if candidate.slug == slug:
                return candidate
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no such action")

    # --- queries --------------------------------------------------------------------------------

    def _with_expressions(self, stmt: Select[Any]) -> Select[Any]:
        for name, build in self.expressions.items():
            stmt = stmt.options(with_expression(getattr(self.model, name), build()))
        return stmt

    def list_query(self, request: Request) -> Select[Any]:
        return self._with_expressions(super().list_query(request))

    def details_query(self, request: Request) -> Select[Any]:
        return self._with_expressions(super().details_query(request))

    def sort_query(self, stmt: Select[Any], request: Request) -> Select[Any]:
        sort_by = request.query_params.get("sortBy")
        if sort_by is not None and sort_by in self.expressions:
            order = desc if request.query_params.get("sort") == "desc" else asc
            pk = self.pk_columns[0]
            return stmt.order_by(order(self.expressions[sort_by]()), pk)
        return super().sort_query(stmt, request)

    async def get_object_for_details(self, request: Request) -> Any:
        try:
            return await super().get_object_for_details(request)
        except ValueError:  # not an id of this panel
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND) from None

    async def get_object_for_edit(self, request: Request) -> Any:
        try:
            return await super().get_object_for_edit(request)
        except ValueError:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND) from None

    async def export_data(
        self, data: list[Any], export_type: str = "csv", request: Request | None = None
    ) -> StreamingResponse:
        """SQLAdmin's export, except that every CSV cell goes through ``csv_cell`` (no cell a
        spreadsheet would run as a formula)."""
        if export_type != "csv":
            return await super().export_data(data, export_type=export_type, request=request)
        columns = self.get_export_columns()

        async def lines() -> AsyncIterator[str]:
            yield csv_line(columns)
            for row in data:
                yield csv_line([await self.get_prop_value(row, name) for name in columns])

        filename = secure_filename(self.get_export_name(export_type="csv"))
        return StreamingResponse(
            lines(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment;filename={filename}"},
        )

    # Evidence and read-only panels: even a call that got past the route checks writes nothing.
    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="read-only panel")

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="read-only panel")

    async def delete_model(self, request: Request, pk: Any) -> None:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="read-only panel")
