"""The words of a notification email: subject, plain text and HTML, from the templates in
``templates/email``. The email says who wrote and where to read it, never what was written."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.settings import PROJECT_ROOT, Settings

TEMPLATE_DIR = PROJECT_ROOT / "templates" / "email"
SUBJECT_NAME_LIMIT = 120

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_CONTROL_OR_SPACE_RUN = re.compile(r"[\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class NotificationEmail:
    subject: str
    body_text: str
    body_html: str


def one_line(value: str, *, limit: int = SUBJECT_NAME_LIMIT) -> str:
    """A name made safe for a header: no line breaks or control characters, bounded length."""
    cleaned = _CONTROL_OR_SPACE_RUN.sub(" ", value).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def thread_url(settings: Settings, thread_id: uuid.UUID) -> str:
    return settings.thread_url_template.replace("{thread_id}", str(thread_id))


def open_tracking_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/api/v1/email/opened/{token}.gif"


def new_message_email(
    *, sender_name: str, recipient_name: str, thread_link: str, tracking_link: str
) -> NotificationEmail:
    context = {
        "sender_name": one_line(sender_name),
        "recipient_name": one_line(recipient_name),
        "thread_url": thread_link,
        "tracking_url": tracking_link,
    }
    return NotificationEmail(
        subject=f"New message from {context['sender_name']}",
        body_text=_environment.get_template("new_message.txt").render(context),
        body_html=_environment.get_template("new_message.html").render(context),
    )


def notice_email(*, subject: str, recipient_name: str, paragraphs: list[str]) -> NotificationEmail:
    """A moderation notice (a statement of reasons, a report's outcome, an appeal's decision):
    its text is the notice itself, told only to the person it is addressed to."""
    context = {
        "subject": one_line(subject),
        "recipient_name": one_line(recipient_name),
        "paragraphs": paragraphs,
    }
    return NotificationEmail(
        subject=context["subject"],  # type: ignore[arg-type]
        body_text=_environment.get_template("notice.txt").render(context),
        body_html=_environment.get_template("notice.html").render(context),
    )
