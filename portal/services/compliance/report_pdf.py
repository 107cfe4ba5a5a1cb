"""The audit report as a PDF to print and hand to counsel (fpdf2, pure Python).

A cover (thread, parties, period, who generated it and when, the head hash), a table of the
messages, the decisions (flags, removals, deletions, staff actions, legal holds) and the chain.
DejaVu Sans is used where installed for full Unicode; otherwise the built-in Helvetica, with
characters it cannot show replaced (the JSON export is the authoritative record).

Unlike JSON and CSV, the PDF is laid out in memory, and fpdf2's line breaking costs about 50 ms
per message of a long thread: it is meant for reading and printing, the JSON for the record.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.services.compliance.report_data import ReportSource

UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
UNICODE_FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
MAX_BODY_CHARACTERS = 1000
STAFF_ACTIONS_PREFIXES = ("message.removed", "user.", "report.", "flag.", "hold.", "thread.deleted")


async def render_pdf(source: ReportSource) -> bytes:
    data: dict[str, Any] = {
        "thread": source.thread_entry(),
        "participants": await source.participants(),
        "application": await source.application(),
        "period": await source.period(),
        "holds": await source.holds(),
        "flags": await source.flags(),
        "notes": await source.notes(),
        "messages": [message async for message in source.messages()],
        "events": [event async for event in source.events()],
        "head": source.head,
        "generated_by": source.generated_by(),
        "generated_at": source.generated_at,
    }
    return await asyncio.to_thread(_build, data)


class _Report(FPDF):
    def __init__(self, head_hash: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.head_hash = head_hash
        self.unicode = UNICODE_FONT.exists() and UNICODE_FONT_BOLD.exists()
        if self.unicode:
            self.add_font("Body", "", str(UNICODE_FONT))
            self.add_font("Body", "B", str(UNICODE_FONT_BOLD))
            self.family = "Body"
        else:
            self.family = "Helvetica"
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 7)
        self.cell(
            0, 5, self.clean(f"head {self.head_hash}  ·  page {self.page_no()}/{{nb}}"), align="C"
        )

    def clean(self, text: object) -> str:
        value = "" if text is None else str(text)
        if self.unicode:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")

    def heading(self, text: str, size: int = 14) -> None:
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def line_of(self, label: str, value: object) -> None:
        self.set_font(self.family, "B", 9)
        self.cell(40, 5, self.clean(label))
        self.set_font(self.family, "", 9)
        self.multi_cell(0, 5, self.clean(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(self, header: tuple[str, ...], widths: tuple[int, ...], rows: list[list[Any]]) -> None:
        self.set_font(self.family, "", 7)
        with self.table(
            col_widths=widths, text_align="LEFT", line_height=3.5, first_row_as_headings=True
        ) as table:
            table.row([self.clean(name) for name in header])
            for values in rows:
                table.row([self.clean(value) for value in values])
        self.ln(4)


def _build(data: dict[str, Any]) -> bytes:
    head = data["head"]
    pdf = _Report(head.hash)
    pdf.set_title(f"Audit report, thread {data['thread']['id']}")
    pdf.alias_nb_pages()
    pdf.add_page()
    _cover(pdf, data)
    names = {p["id"]: f"{p['display_name']} ({p['role']})" for p in data["participants"]}

    pdf.add_page()
    pdf.heading(f"Messages ({len(data['messages'])})")
    pdf.rows(
        ("Sent", "From", "To", "State", "Content"),
        (26, 30, 30, 30, 64),
        [
            [
                _when(message["sent_at"]),
                names.get(message["sender_id"], message["sender_id"]),
                names.get(message["recipient_id"], message["recipient_id"]),
                _state(message),
                _content(message),
            ]
            for message in data["messages"]
        ],
    )

    pdf.heading("Decisions")
    _decisions(pdf, data, names)

    pdf.heading(f"Audit chain ({head.events} events)")
    pdf.rows(
        ("#", "When", "Actor", "Action", "Hash"),
        (10, 34, 36, 40, 60),
        [
            [
                event["position"],
                _when(event["occurred_at"]),
                _actor(event["actor_type"], event["actor_id"], names),
                event["action"],
                event["hash"],
            ]
            for event in data["events"]
        ],
    )
    return bytes(pdf.output())


def _cover(pdf: _Report, data: dict[str, Any]) -> None:
    thread, head = data["thread"], data["head"]
    pdf.heading("Audit report: employer–candidate conversation", 18)
    pdf.line_of("Thread", thread["id"])
    pdf.line_of("Subject", thread["subject"] or "(none)")
    for person in data["participants"]:
        pdf.line_of(
            (person["role"] or "participant").title(),
            f"{person['display_name']} <{person['email']}>  ({person['id']})",
        )
    application = data["application"]
    if application:
        pdf.line_of(
            "Application",
            f"{application['job_title']}, status {application['status']}, requisition "
            f"{application['requisition_id'] or '(none)'}",
        )
    pdf.line_of("Period", f"{data['period']['from']}  to  {data['period']['to']}")
    if thread["is_deleted"]:
        pdf.line_of("Deleted", f"by both participants at {thread['deleted_at']}")
    generated_by = data["generated_by"]
    pdf.line_of("Generated by", f"{generated_by['type']} {generated_by['id'] or ''}".strip())
    pdf.line_of("Generated at", data["generated_at"].isoformat(timespec="seconds"))
    pdf.line_of("Chain", f"{head.chain}, {head.events} events")
    pdf.line_of("Head hash", head.hash)
    active = [hold for hold in data["holds"] if hold["lifted_at"] is None]
    pdf.line_of(
        "Legal holds",
        "; ".join(f"{h['case_reference']} ({h['scope']})" for h in active) or "none standing",
    )
    pdf.ln(4)
    pdf.set_font(pdf.family, "", 8)
    pdf.multi_cell(
        0,
        4,
        pdf.clean(
            "The head hash is the SHA-256 chain value of the thread's last audit event. Run "
            "'portal audit verify' on the JSON export of this report to prove that the record "
            "was not altered."
        ),
    )


def _when(value: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` for print (the JSON keeps microseconds)."""
    return "" if not value else value[:19].replace("T", " ") + " UTC"


def _state(message: dict[str, Any]) -> str:
    states = []
    if message["read_at"]:
        states.append(f"read {message['read_at'][:19]}")
    if message["flagged"]:
        states.append(f"flagged: {message['flagged']['reason']}")
    if message["removed"]:
        states.append(f"removed {(message['removed']['at'] or '')[:19]}")
    if message["deleted_at"]:
        states.append("deleted")
    if message["purged_at"]:
        states.append(f"purged {message['purged_at'][:19]}")
    return "; ".join(states) or "delivered"


def _content(message: dict[str, Any]) -> str:
    content = message["content"]
    if content is None:
        return "[purged; digest kept in the chain]"
    body = content["body"] or ""
    if len(body) > MAX_BODY_CHARACTERS:
        body = body[:MAX_BODY_CHARACTERS] + " […]"
    subject = f"{content['subject']}: " if content["subject"] else ""
    attachments = len(content["attachments"] or [])
    return subject + body + (f"  (+{attachments} attachments)" if attachments else "")


def _actor(actor_type: str, actor_id: str | None, names: dict[str, str]) -> str:
    if actor_id is None:
        return actor_type
    return names.get(actor_id, f"{actor_type} {actor_id[:8]}")


def _decisions(pdf: _Report, data: dict[str, Any], names: dict[str, str]) -> None:
    pdf.rows(
        ("Reported", "Message", "Reason", "Status", "Decision"),
        (30, 30, 40, 25, 55),
        [
            [
                _when(flag["reported_at"]),
                flag["message_id"][:8],
                f"{flag['reason']}{': ' + flag['note'] if flag['note'] else ''}",
                flag["status"],
                f"{flag['decision'] or ''} {flag['decided_at'] or ''}".strip(),
            ]
            for flag in data["flags"]
        ]
        or [["no flag reports", "", "", "", ""]],
    )
    decisions = [
        event
        for event in data["events"]
        if event["actor_type"] == "staff" or event["action"].startswith(STAFF_ACTIONS_PREFIXES)
    ]
    pdf.rows(
        ("When", "Who", "Action", "Details"),
        (34, 36, 36, 74),
        [
            [
                _when(event["occurred_at"]),
                _actor(event["actor_type"], event["actor_id"], names),
                event["action"],
                ", ".join(f"{k}: {v}" for k, v in sorted(event["details"].items())),
            ]
            for event in decisions
        ]
        or [["", "", "no decisions, removals or deletions", ""]],
    )
    pdf.rows(
        ("Legal hold", "Scope", "Placed", "Lifted", "Reason"),
        (36, 30, 34, 34, 46),
        [
            [
                hold["case_reference"],
                hold["scope"],
                _when(hold["placed_at"]),
                _when(hold["lifted_at"]) or "standing",
                hold["reason"],
            ]
            for hold in data["holds"]
        ]
        or [["none", "", "", "", ""]],
    )
    if data["notes"]:
        pdf.rows(
            ("When", "Note"),
            (34, 146),
            [[_when(note["at"]), note["body"]] for note in data["notes"]],
        )
