"""The audit report as a PDF to print and hand to counsel (fpdf2, pure Python).

A cover (thread, parties and when each deleted it, application, period, who generated it and
when, the head hash, the staff named in the report), the messages with their full ids and
content hashes, the decisions (flag reports and who decided them, staff actions, legal holds and
who placed and lifted them, notes and who wrote them, blocks between the parties) and the
chain. Every page has a running header: thread, generation time, page n of N.

Text is set in DejaVu Sans, from Debian's ``fonts-dejavu-core`` (installed by the Makefile and
``.ci/run``; see ``FONT_DIRECTORY``). Nothing is dropped: control and bidirectional formatting
characters, and characters the font has no glyph for, are shown as ``<U+XXXX>`` so that what
was sent can be read, and a right-to-left override cannot reorder what follows it.

Speed and memory: the report's records are gathered in the snapshot into a temporary file of
JSON lines (``gather``); the snapshot is closed; the pages are then laid out with fpdf2's
cheapest primitive, one ``text()`` per line, wrapped here with the font's own widths (fpdf2's
tables and ``multi_cell`` cost about 50 ms per message of a long thread).
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator, Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from fpdf import FPDF
from fpdf.fonts import TTFFont

from portal.errors import PortalError
from portal.services.compliance.report_data import Head, ReportSource
from portal.services.compliance.spooled import new_spool

FONT_DIRECTORY = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FONT_PACKAGE = "fonts-dejavu-core"
MAX_BODY_CHARACTERS = 2000
STAFF_ACTIONS_PREFIXES = (
    "message.removed",
    "message.restored",
    "appeal.",
    "user.",
    "report.",
    "flag.",
    "hold.",
    "thread.deleted",
)
# Shown as <U+XXXX> wherever they appear: they are invisible, or reorder the text around them.
VISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0  # A4, mm
MARGIN, TOP, BOTTOM = 15.0, 20.0, 15.0
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
SIZE, SMALL = 8.0, 7.0  # points
PT = 25.4 / 72  # mm per point


class FontMissing(PortalError):
    """The server lacks the font: an installation problem, not the requester's."""

    status_code = 503
    code = "unavailable"


def font_paths() -> dict[str, Path]:
    paths = {style: FONT_DIRECTORY / name for style, name in FONT_FILES.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise FontMissing(
            f"the PDF report needs the DejaVu Sans font ({', '.join(missing)} missing): "
            f"install Debian's {FONT_PACKAGE} package (apt-get install {FONT_PACKAGE})"
        )
    return paths


# --- gathering, inside the snapshot -----------------------------------------------------------


@dataclass
class Material:
    """What the PDF shows: the small sections in memory, messages and events in a file."""

    head: Head
    generated_at: datetime
    sections: dict[str, Any]
    decisions: list[dict[str, Any]]
    lines: IO[bytes]
    messages: int = 0
    events: int = 0

    def records(self, kind: str) -> Iterator[dict[str, Any]]:
        prefix = json.dumps([kind]).encode()[:-1] + b","
        self.lines.seek(0)
        for line in self.lines:
            if line.startswith(prefix):
                yield json.loads(line)[1]


async def gather(source: ReportSource) -> Material:
    """Reads everything the PDF shows from the snapshot; nothing is laid out yet."""
    font_paths()  # a missing font fails the export before anything is read
    sections: dict[str, Any] = {
        "thread": source.thread_entry(),
        "participants": await source.participants(),
        "application": await source.application(),
        "period": await source.period(),
        "holds": await source.holds(),
        "flags": await source.flags(),
        "notes": await source.notes(),
        "generated_by": source.generated_by(),
        "staff": await source.staff(),
        "blocks": await source.blocks(),
        "deleted_by": {
            "employer": _iso(source.thread.deleted_by_employer_at),
            "candidate": _iso(source.thread.deleted_by_candidate_at),
        },
    }
    material = Material(source.head, source.generated_at, sections, [], new_spool())
    try:
        await _write_lines(material, "message", source.messages())
        await _write_lines(material, "event", source.events())
    except BaseException:
        material.lines.close()
        raise
    return material


async def _write_lines(
    material: Material, kind: str, records: AsyncIterator[dict[str, Any]]
) -> None:
    async for record in records:
        material.lines.write(json.dumps([kind, record], separators=(",", ":")).encode() + b"\n")
        if kind == "message":
            material.messages += 1
        else:
            material.events += 1
            if record["actor_type"] == "staff" or record["action"].startswith(
                STAFF_ACTIONS_PREFIXES
            ):
                material.decisions.append(record)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- layout, after the snapshot is closed -----------------------------------------------------


async def render(material: Material, into: IO[bytes]) -> int:
    """Lays out the PDF into ``into`` (in a thread: it is CPU work); its size in bytes."""
    try:
        data = await asyncio.to_thread(_build, material)
    finally:
        material.lines.close()
    into.write(data)
    return len(data)


class _Visible(dict[int, str]):
    """A ``str.translate`` table: each character as printed, decided once per character."""

    def __init__(self, drawable: Container[int], keep_newlines: bool) -> None:
        super().__init__()
        self.drawable = drawable
        self.keep_newlines = keep_newlines

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        if char == "\n" and self.keep_newlines:
            shown = char
        elif char == "\t":
            shown = "    "
        elif unicodedata.category(char) in VISIBLE_CATEGORIES or codepoint not in self.drawable:
            shown = f"<U+{codepoint:04X}>"
        else:
            shown = char
        self[codepoint] = shown
        return shown


def visible(text: object, table: _Visible) -> str:
    """``text`` with every character the reader could not see, or that would reorder the line,
    written ``<U+XXXX>``: controls, bidi and other format characters, and what the font lacks."""
    value = "" if text is None else str(text)
    if value.isascii() and value.isprintable():
        return value
    return value.translate(table)


class _Widths(dict[str, float]):
    """A word's width in thousandths of the font size, each distinct word measured once."""

    def __init__(self, widths: dict[int, float]) -> None:
        super().__init__()
        self.widths = widths

    def __missing__(self, word: str) -> float:
        if len(self) > 100_000:  # a thread of unique words must not grow this without bound
            self.clear()
        width = self[word] = float(sum(self.widths[ord(char)] for char in word))
        return width


class _Glyphs(dict[int, str]):
    """A ``str.translate`` table: a character to its code in the font's subset, picked once."""

    def __init__(self, font: Any) -> None:
        super().__init__()
        self.font = font

    def __missing__(self, codepoint: int) -> str:
        picked = self.font.subset.pick(codepoint)
        code = self[codepoint] = "" if picked is None else chr(picked)
        return code


class _Report(FPDF):
    def __init__(self, running_header: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for style, path in font_paths().items():
            self.add_font("DejaVu", style, str(path))
        self.widths = {style: self._dejavu(style).cw for style in FONT_FILES}
        self.words = {style: _Widths(self.widths[style]) for style in FONT_FILES}
        self.glyphs = {style: _Glyphs(self._dejavu(style)) for style in FONT_FILES}
        # what both weights can draw: a name in a bold row must not lose a character either
        drawable = frozenset(self._dejavu("").cmap).intersection(self._dejavu("B").cmap)
        self.one_line = _Visible(drawable, keep_newlines=False)
        self.multiline = _Visible(drawable, keep_newlines=True)
        self.running_header = running_header
        self.set_auto_page_break(auto=False)
        self.set_margins(MARGIN, TOP, MARGIN)
        self.alias_nb_pages()
        self.cur_style = ""
        self.pt_size = SIZE
        self.y_at = TOP

    def _dejavu(self, style: str) -> TTFFont:
        font = self.fonts[f"dejavu{style}"]
        assert isinstance(font, TTFFont)  # added from a file: a TrueType font, not a core one
        return font

    def header(self) -> None:
        # a cell, not text(): fpdf2 puts the page count ({nb}) only into cells' text
        self.set_font("DejaVu", "", SMALL)
        self.set_text_color(90)
        self.set_xy(MARGIN, 7)
        self.cell(TEXT_WIDTH, 4, self.running_header + f"  ·  page {self.page_no()} of {{nb}}")
        self.set_draw_color(180)
        self.line(MARGIN, 12, PAGE_WIDTH - MARGIN, 12)
        self.set_text_color(0)
        self.set_font("DejaVu", self.cur_style, self.pt_size)
        self.y_at = TOP

    def use(self, style: str = "", size: float = SIZE) -> None:
        if (style, size) != (self.cur_style, self.pt_size) or self.font_family != "dejavu":
            self.cur_style, self.pt_size = style, size
            self.set_font("DejaVu", style, size)

    def wrap(self, text: str, width: float) -> list[str]:
        """Lines of ``text`` no wider than ``width`` mm, broken at spaces where possible."""
        limit = width * 1000 / (self.pt_size * PT)
        if "\n" not in text:
            widths = self.widths[self.cur_style]
            if sum(map(widths.__getitem__, map(ord, text))) <= limit:
                return [text]
        words = self.words[self.cur_style]
        space = words[" "]
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line: list[str] = []
            used = 0.0
            for word in paragraph.split(" "):
                wide = words[word]
                if wide > limit:  # a word wider than the column (a hash): cut it
                    for piece in self._cut(word, limit):
                        if line:
                            lines.append(" ".join(line))
                        line, used = [piece], words[piece]
                    continue
                if line and used + space + wide > limit:
                    lines.append(" ".join(line))
                    line, used = [], 0.0
                used += wide + (space if line else 0.0)
                line.append(word)
            lines.append(" ".join(line))
        return lines

    def _cut(self, word: str, limit: float) -> list[str]:
        widths = self.widths[self.cur_style]
        pieces, start, used = [], 0, 0.0
        for index, char in enumerate(word):
            used += widths[ord(char)]
            if used > limit and index > start:
                pieces.append(word[start:index])
                start, used = index, widths[ord(char)]
        pieces.append(word[start:])
        return pieces

    def put(self, x: float, y: float, line: str) -> None:
        """``text()`` without its per-character work: each character's place in the font
        subset is looked up once per document (fpdf2 is pinned; this follows its 2.8
        ``text``/``encode_text``)."""
        font = self.current_font
        assert isinstance(font, TTFFont)  # use() has set one of the DejaVu fonts
        if not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(font, self.font_size_pt))
        mapped = line.translate(self.glyphs[self.cur_style])
        self._out(
            f"BT {x * self.k:.2f} {(self.h - y) * self.k:.2f} Td ({font.escape_text(mapped)}) Tj ET"
        )

    def room(self, height: float) -> None:
        if self.y_at + height > PAGE_HEIGHT - BOTTOM:
            self.add_page()

    def line_height(self) -> float:
        return self.pt_size * PT * 1.25

    def write_lines(self, lines: list[str], x: float = MARGIN) -> None:
        step = self.line_height()
        for line in lines:
            self.room(step)
            self.y_at += step
            if line:
                self.put(x, self.y_at - step * 0.25, line)

    def paragraph(self, text: object, x: float = MARGIN, width: float = TEXT_WIDTH) -> None:
        self.write_lines(self.wrap(self.show(text, keep_newlines=True), width), x)

    def show(self, text: object, keep_newlines: bool = False) -> str:
        return visible(text, self.multiline if keep_newlines else self.one_line)

    def heading(self, text: str, size: float = 13) -> None:
        self.use("B", size)
        self.room(self.line_height() * 3)
        self.y_at += 3
        self.paragraph(text)
        self.y_at += 1
        self.use()

    def row(self, cells: Iterable[tuple[float, object]], style: str = "") -> None:
        """One table row: (width mm, value) cells side by side, each wrapped in its width, in
        ``style`` at the current size."""
        self.use(style, self.pt_size)
        columns, x = [], MARGIN
        for width, value in cells:
            columns.append((x, self.wrap(self.show(value), width - 1.5)))
            x += width
        height = max(len(lines) for _, lines in columns)
        step = self.line_height()
        self.room(step * min(height, 4))
        for index in range(height):
            self.room(step)
            self.y_at += step
            for x, lines in columns:
                if index < len(lines) and lines[index]:
                    self.put(x, self.y_at - step * 0.25, lines[index])

    def label(self, name: str, value: object) -> None:
        self.use("B")
        self.room(self.line_height())
        self.put(MARGIN, self.y_at + self.line_height() * 0.75, self.show(name))
        self.use()
        self.write_lines(self.wrap(self.show(value, True), TEXT_WIDTH - 38), MARGIN + 38)

    def rule(self) -> None:
        self.y_at += 1.2
        self.set_draw_color(210)
        self.line(MARGIN, self.y_at, PAGE_WIDTH - MARGIN, self.y_at)
        self.y_at += 0.6


@dataclass
class _People:
    """Names for ids: the report's staff directory when it has one, and the participants."""

    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, sections: dict[str, Any]) -> _People:
        people = cls()
        for person in sections["participants"]:
            people.names[person["id"]] = (
                f"{person['display_name'] or person['id']} ({person['role'] or 'participant'})"
            )
        for member in sections.get("staff") or []:
            people.names[member["id"]] = f"{member['name'] or member['email']} ({member['role']})"
        return people

    def name(self, person_id: str | None, kind: str = "") -> str:
        if person_id is None:
            return kind or "—"
        return self.names.get(person_id, f"{kind} {person_id}".strip())

    def actor(self, actor: dict[str, Any] | None) -> str:
        if not actor:
            return "—"
        return self.name(actor.get("id"), actor.get("type") or "")


def _build(material: Material) -> bytes:
    sections = material.sections
    thread = sections["thread"]
    generated = material.generated_at.isoformat(timespec="seconds")
    pdf = _Report(f"Audit report  ·  thread {thread['id']}  ·  generated {generated}")
    pdf.set_title(f"Audit report, thread {thread['id']}")
    pdf.set_creator("portal audit report")
    people = _People.of(sections)
    pdf.add_page()
    _cover(pdf, material, people)
    pdf.add_page()
    _messages(pdf, material, people)
    _decisions(pdf, material, people)
    _chain(pdf, material, people)
    return bytes(pdf.output())


def _cover(pdf: _Report, material: Material, people: _People) -> None:
    sections, head = material.sections, material.head
    thread = sections["thread"]
    pdf.heading("Audit report: employer–candidate conversation", 17)
    pdf.label("Thread", thread["id"])
    pdf.label("Subject", thread["subject"] or "(none)")
    deleted_by = sections["deleted_by"]
    for person in sections["participants"]:
        role = person["role"] or "participant"
        deleted = person.get("deleted_at") or deleted_by.get(role)
        pdf.label(
            role.title(),
            f"{person['display_name']} <{person['email']}>\n{person['id']}"
            + (f"\ndeleted the thread at {_when(deleted)}" if deleted else ""),
        )
    application = sections["application"]
    if application:
        pdf.label(
            "Application",
            f"{application['job_title']}, status {application['status']}, requisition "
            f"{application['requisition_id'] or '(none)'}\n{application['id']}",
        )
    pdf.label(
        "Period", f"{_when(sections['period']['from'])}  to  {_when(sections['period']['to'])}"
    )
    if thread["is_deleted"]:
        pdf.label("Deleted", f"by both participants at {_when(thread['deleted_at'])}")
    generated_by = sections["generated_by"]
    pdf.label("Generated by", people.actor(generated_by))
    pdf.label("Generated at", material.generated_at.isoformat(timespec="seconds"))
    pdf.label("Chain", f"{head.chain}, {head.events} events")
    pdf.label("Head hash", head.hash)
    active = [hold for hold in sections["holds"] if hold["lifted_at"] is None]
    pdf.label(
        "Legal holds",
        "; ".join(f"{h['case_reference']} ({h['scope']})" for h in active) or "none standing",
    )
    staff = sections.get("staff")
    if staff:
        pdf.heading("Staff named in this report", 11)
        pdf.use("", SMALL)
        pdf.row(((45, "Name"), (55, "Email"), (22, "Role"), (58, "Id")), "B")
        for member in staff:
            pdf.row(
                (
                    (45, member["name"]),
                    (55, member["email"]),
                    (22, member["role"]),
                    (58, member["id"]),
                )
            )
    pdf.use("", SMALL)
    pdf.y_at += 4
    pdf.paragraph(
        "The head hash is the SHA-256 chain value of the thread's last audit event. Run "
        "'portal audit verify' on the JSON export of this report to prove that the record "
        "was not altered. Characters that cannot be printed, or that change the direction of "
        "the text around them, are shown as <U+XXXX> (their Unicode code point)."
    )
    pdf.use()


def _messages(pdf: _Report, material: Material, people: _People) -> None:
    pdf.heading(f"Messages ({material.messages})")
    for number, message in enumerate(material.records("message"), start=1):
        pdf.use("B", SIZE)
        pdf.room(pdf.line_height() * 4)
        pdf.row(
            (
                (14, f"#{number}"),
                (44, _when(message["sent_at"])),
                (
                    122,
                    f"{people.name(message['sender_id'])}  →  "
                    f"{people.name(message['recipient_id'])}",
                ),
            ),
            "B",
        )
        pdf.use("", SMALL)
        pdf.row(((14, ""), (66, f"id {message['id']}"), (100, _state(message, people))))
        pdf.row(((14, ""), (166, f"sha256 {message['content_sha256'] or '— (purged)'}")))
        pdf.use("", SIZE)
        pdf.write_lines(pdf.wrap(pdf.show(_content(message), True), TEXT_WIDTH - 14), MARGIN + 14)
        pdf.rule()


def _decisions(pdf: _Report, material: Material, people: _People) -> None:
    sections = material.sections
    pdf.heading("Decisions")
    pdf.heading(f"Flag reports ({len(sections['flags'])})", 10)
    pdf.use("", SMALL)
    for flag in sections["flags"]:
        pdf.row(
            (
                (34, _when(flag["reported_at"])),
                (146, f"by {people.name(flag['reporter_id'])} on message {flag['message_id']}"),
            ),
            "B",
        )
        decided = (
            f"{flag['decision']} by {people.name(flag['decided_by_id'], 'staff')} at "
            f"{_when(flag['decided_at'])}"
            if flag["decided_at"]
            else "not decided"
        )
        pdf.row(
            (
                (34, flag["status"]),
                (146, f"{flag['reason']}{': ' + flag['note'] if flag['note'] else ''}; {decided}"),
            )
        )
        pdf.rule()
    if not sections["flags"]:
        pdf.paragraph("No flag reports.")

    pdf.heading(f"Staff actions, removals and deletions ({len(material.decisions)})", 10)
    pdf.use("", SMALL)
    pdf.row(((34, "When"), (44, "Who"), (34, "Action"), (68, "Details")), "B")
    for event in material.decisions:
        pdf.row(
            (
                (34, _when(event["occurred_at"])),
                (44, people.name(event["actor_id"], event["actor_type"])),
                (34, event["action"]),
                (68, ", ".join(f"{k}: {v}" for k, v in sorted(event["details"].items()))),
            )
        )
    if not material.decisions:
        pdf.paragraph("No decisions, removals or deletions.")

    pdf.heading(f"Legal holds ({len(sections['holds'])})", 10)
    pdf.use("", SMALL)
    for hold in sections["holds"]:
        pdf.row(((34, hold["case_reference"]), (146, f"{hold['scope']} hold {hold['id']}")), "B")
        lifted = (
            f"lifted by {people.actor(hold['lifted_by'])} at {_when(hold['lifted_at'])}: "
            f"{hold['lifted_reason']}"
            if hold["lifted_at"]
            else "standing"
        )
        pdf.row(
            (
                (34, ""),
                (
                    146,
                    f"placed by {people.actor(hold['placed_by'])} at {_when(hold['placed_at'])}: "
                    f"{hold['reason']}; {lifted}",
                ),
            )
        )
        pdf.row(((34, ""), (146, f"basis: {_basis_text(hold.get('basis'))}")))
        pdf.rule()
    if not sections["holds"]:
        pdf.paragraph("No legal holds.")

    pdf.heading(f"Moderator notes ({len(sections['notes'])})", 10)
    pdf.use("", SMALL)
    for note in sections["notes"]:
        about = (
            f"message {note['message_id']}"
            if note["message_id"]
            else f"flag report {note['flag_report_id']}"
        )
        pdf.row(
            (
                (34, _when(note["at"])),
                (146, f"{people.name(note['author_id'], 'staff')} on {about}"),
            ),
            "B",
        )
        pdf.row(((34, ""), (146, note["body"])))
        pdf.rule()
    if not sections["notes"]:
        pdf.paragraph("No notes.")

    blocks = sections.get("blocks")
    if blocks is not None:
        pdf.heading(f"Blocks between the participants ({len(blocks)})", 10)
        pdf.use("", SMALL)
        for block in blocks:
            removed = (
                f"unblocked {_when(block['removed_at'])}" if block.get("removed_at") else "in force"
            )
            pdf.row(
                (
                    (34, _when(block["created_at"])),
                    (
                        146,
                        f"{people.name(block['blocker_id'])} blocked "
                        f"{people.name(block['blocked_id'])}"
                        f": {block.get('reason') or '(no reason)'}; {removed}",
                    ),
                )
            )
        if not blocks:
            pdf.paragraph("No blocks.")


def _chain(pdf: _Report, material: Material, people: _People) -> None:
    pdf.heading(f"Audit chain ({material.head.events} events)")
    pdf.use("", SMALL)
    pdf.row(((14, "#"), (34, "When"), (50, "Actor"), (82, "Action, subject")), "B")
    pdf.row(((14, ""), (166, "Hash")), "B")
    for event in material.records("event"):
        pdf.row(
            (
                (14, event["position"]),
                (34, _when(event["occurred_at"])),
                (50, people.name(event["actor_id"], event["actor_type"])),
                (82, f"{event['action']} {event['subject_id'] or ''}"),
            )
        )
        pdf.row(((14, ""), (166, event["hash"])))


def _when(value: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` for print (the JSON keeps microseconds)."""
    return "" if not value else value[:19].replace("T", " ") + " UTC"


def _state(message: dict[str, Any], people: _People) -> str:
    states = []
    if message["read_at"]:
        states.append(f"read {_when(message['read_at'])}")
    if message["flagged"]:
        states.append(f"flagged: {message['flagged']['reason']}")
    removed = message["removed"]
    if removed:
        by = removed.get("by")
        who = f" by {people.name(by['actor_id'], by['actor_type'])}" if by else ""
        states.append(f"removed{who} {_when(removed['at'])}: {removed['reason']}")
    if message["deleted_at"]:
        states.append(f"deleted {_when(message['deleted_at'])}")
    if message["purged_at"]:
        states.append(f"purged {_when(message['purged_at'])}")
    return "; ".join(states) or "delivered"


def _content(message: dict[str, Any]) -> str:
    content = message["content"]
    if content is None:
        return "[purged; digest kept in the chain]"
    body = content["body"] or ""
    if len(body) > MAX_BODY_CHARACTERS:
        body = body[:MAX_BODY_CHARACTERS] + " […] (the JSON export holds the whole message)"
    subject = f"{content['subject']}: " if content["subject"] else ""
    attachments = len(content["attachments"] or [])
    return subject + body + (f"  (+{attachments} attachments)" if attachments else "")


def _basis_text(basis: object) -> str:
    """A hold's basis in words: litigation, or the EEOC charge it keeps records for."""
    if not isinstance(basis, dict) or basis.get("type") != "eeoc_charge":
        return "litigation"
    until = basis.get("final_disposition_on") or "not yet recorded"
    return (
        f"EEOC charge {basis.get('charge_number')} ({basis.get('agency')}), filed "
        f"{basis.get('filed_on')} by {basis.get('charging_party_id')} against "
        f"{basis.get('respondent_employer_id')}, requisition {basis.get('requisition_id')}; "
        f"held until final disposition: {until} (29 CFR 1602.14)"
    )
