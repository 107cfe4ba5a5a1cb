"""The binding checks of the offline verifier: every fact a thread's chain records must be what
the report's tables say, in both directions.

The chain is verified before these run (positions, hashes, head), so ``events`` are the
thread's genuine history as far as the file goes; these checks stop a report from telling a
different story next to it (a dropped or injected message, swapped parties, other read or
removal times, reasons, flags, holds, deletions, the application's facts). The rules are stated
in docs/audit-format.md, section "Binding checks"; an event that predates a detail (older
events lack ``sent_at``, ``read_at``, ``removed_at``, ``flagged_at``, ``deleted_at``, the
application's facts) binds the facts it does record.
"""

from __future__ import annotations

from typing import Any, Final

from portal.services.compliance.chain import content_digest

# An event whose details name ``report_ids`` and a ``decision`` decides those flag reports.
DECISION_STATUS: Final = {"dismissed": "dismissed", "escalated": "escalated"}  # else "actioned"
# What a thread's chain records of its application (details.application), as the report shows.
APPLICATION_FACTS: Final = ("id", "job_title", "status", "requisition_id")


class BindingFailed(Exception):
    """A fact the chain records differs from the report's tables; the message names it."""


Event = dict[str, Any]


def check_bindings(report: dict[str, Any], events: list[Event]) -> int:
    """Raises BindingFailed at the first fact that differs; returns how many messages are
    "unproven" (their ``message.sent`` predates content digests)."""
    facts = _Facts(events)
    thread = _obj(report, "thread", "report")
    _check_thread(report, thread, facts)
    unproven = _check_messages(report, thread, facts)
    _check_flags(report, facts)
    _check_holds(report, facts)
    _check_notes(report, facts)
    _check_staff(report, events)
    return unproven


class _Facts:
    """What the chain records, indexed by subject. Later events of a kind win."""

    def __init__(self, events: list[Event]) -> None:
        self.created: list[Event] = []
        self.sent: dict[str, Event] = {}
        self.first_digest_position: int | None = None
        self.digests: dict[str, str] = {}
        self.reads: dict[str, Event] = {}
        self.removals: dict[str, Event] = {}
        self.purges: dict[str, Event] = {}
        self.first_flag: dict[str, Event] = {}
        self.flag_events: dict[str, list[Event]] = {}
        # each flag's decisions in force, in order (an undo takes its decision off again; a
        # send back to moderation clears them): the last is the flag's decision
        self.decisions: dict[str, list[Event]] = {}
        self.deletions: list[Event] = []
        self.holds_placed: dict[str, Event] = {}
        self.holds_lifted: dict[str, Event] = {}
        self.notes: dict[str, Event] = {}
        self.application: Event | None = None
        for event in events:
            self._add(event)

    def _add(self, event: Event) -> None:
        action, subject, details = event["action"], event["subject_id"], event["details"]
        where = _where(event)
        if event["subject_type"] == "message" and "content_sha256" in details:
            self.digests[_id(subject, where)] = _text(details["content_sha256"], where)
        if action in ("thread.created", "application.updated") and "application" in details:
            self.application = event
        if action == "thread.created":
            self.created.append(event)
        elif action == "message.sent":
            key = _id(subject, where)
            if key in self.sent:
                raise BindingFailed(f"{where}: a second message.sent for message {key}")
            self.sent[key] = event
            if "content_sha256" in details and self.first_digest_position is None:
                self.first_digest_position = event["position"]
        elif action == "message.read":
            self.reads[_id(subject, where)] = event
        elif action == "message.removed":
            self.removals[_id(subject, where)] = event
        elif action == "message.restored":  # an appeal reversed the removal
            self.removals.pop(_id(subject, where), None)
        elif action == "message.purged":
            self.purges[_id(subject, where)] = event
        elif action == "message.flagged":
            self.first_flag.setdefault(_id(subject, where), event)
            if "report_id" in details:
                report_id = _text(details["report_id"], where)
                self.flag_events.setdefault(report_id, []).append(event)
        elif action == "thread.deleted":
            self.deletions.append(event)
        elif action == "hold.placed":
            self.holds_placed[_id(subject, where)] = event
        elif action == "hold.lifted":
            self.holds_lifted[_id(subject, where)] = event
        elif action == "moderation.note_added" and "note_id" in details:
            self.notes[_text(details["note_id"], where)] = event
        if isinstance(details.get("report_ids"), list):
            for report_id in details["report_ids"]:
                history = self.decisions.setdefault(_text(report_id, where), [])
                if "decision" in details:
                    history.append(event)
                elif action == "moderation.undone":  # the decision it undid is off again
                    history[:] = [e for e in history if e["id"] != details.get("undone_event_id")]
                elif action == "moderation.sent_back":  # open again, undecided
                    history.clear()


def _check_thread(report: dict[str, Any], thread: dict[str, Any], facts: _Facts) -> None:
    employer = _text(thread.get("employer_id"), "thread.employer_id")
    candidate = _text(thread.get("candidate_id"), "thread.candidate_id")
    if len(facts.created) > 1:
        raise BindingFailed("the chain has more than one thread.created event")
    for event in facts.created:
        details = event["details"]
        _same(f"{_where(event)}: employer_id", details.get("employer_id"), employer)
        _same(f"{_where(event)}: candidate_id", details.get("candidate_id"), candidate)
        if "application_id" in details:
            _same(
                f"{_where(event)}: application_id",
                details["application_id"],
                thread.get("application_id"),
            )
    participants = report.get("participants")
    expected = [(employer, "employer"), (candidate, "candidate")]
    if (
        not isinstance(participants, list)
        or [(_obj_item(p, "participant").get("id"), p.get("role")) for p in participants]
        != expected
    ):
        raise BindingFailed(
            "participants: not the thread's employer and candidate, in that order, with those roles"
        )
    application = report.get("application")
    if application is not None:
        application = _obj_item(application, "application")
        if (
            application.get("id") != thread.get("application_id")
            or application.get("employer_id") != employer
            or application.get("candidate_id") != candidate
        ):
            raise BindingFailed("application: not the thread's application or parties")
    if facts.application is not None:
        _check_application(application, thread, facts.application)
    _check_deletions(thread, facts.deletions)


def _check_application(
    application: dict[str, Any] | None, thread: dict[str, Any], event: Event
) -> None:
    """The report's application is the one the chain's last application facts describe."""
    where = _where(event)
    recorded = _obj_item(event["details"]["application"], f"{where}: details.application")
    _same(f"{where}: application id", thread.get("application_id"), recorded.get("id"))
    if application is None:
        raise BindingFailed(f"application: null, but {where} records the thread's application")
    for name in APPLICATION_FACTS:
        _same(f"application.{name} ({where})", application.get(name), recorded.get(name))


def _check_deletions(thread: dict[str, Any], deletions: list[Event]) -> None:
    if any("role" not in event["details"] for event in deletions):
        return  # deletions from before per-participant deletion name no role: nothing to bind
    for role in ("employer", "candidate"):
        field = f"deleted_by_{role}_at"
        if field not in thread:
            continue  # format 1 had no per-participant deletion times
        value = thread[field]
        mine = [event for event in deletions if event["details"].get("role") == role]
        if not mine:
            if value is not None:
                raise BindingFailed(f"thread.{field}: no thread.deleted by the {role} in the chain")
            continue
        if value is None:
            raise BindingFailed(
                f"thread.{field}: null, but {_where(mine[-1])} records the {role}'s deletion"
            )
        if "deleted_at" in mine[-1]["details"]:
            _same(f"thread.{field} ({_where(mine[-1])})", value, mine[-1]["details"]["deleted_at"])
    for_both = [event for event in deletions if event["details"].get("deleted_for_both") is True]
    if bool(for_both) != (thread.get("is_deleted") is True):
        raise BindingFailed(
            "thread.is_deleted: differs from the chain's thread.deleted events "
            f"({len(for_both)} deleted it for both participants)"
        )
    if for_both and "deleted_at" in for_both[-1]["details"]:
        _same(
            f"thread.deleted_at ({_where(for_both[-1])})",
            thread.get("deleted_at"),
            for_both[-1]["details"]["deleted_at"],
        )


def _check_messages(report: dict[str, Any], thread: dict[str, Any], facts: _Facts) -> int:
    messages = report.get("messages")
    if not isinstance(messages, list):
        raise BindingFailed("report: 'messages' is missing or not a list")
    parties = {thread.get("employer_id"), thread.get("candidate_id")}
    seen: set[str] = set()
    unproven = 0
    for index, item in enumerate(messages):
        message = _obj_item(item, f"message #{index}")
        message_id = _text(message.get("id"), f"message #{index}: id")
        where = f"message #{index} (id {message_id})"
        if message_id in seen:
            raise BindingFailed(f"{where}: listed twice")
        seen.add(message_id)
        sent = facts.sent.get(message_id)
        if sent is None:
            raise BindingFailed(
                f"{where}: the chain has no message.sent for it (a message added to the report)"
            )
        _check_sent(where, message, sent, parties)
        unproven += _check_content(where, message, sent, facts)
        _check_read(where, message, facts.reads.get(message_id))
        _check_removal(where, message, facts.removals.get(message_id))
        _check_flagged(where, message, facts.first_flag.get(message_id))
    missing = [key for key in facts.sent if key not in seen]
    if missing:
        raise BindingFailed(
            f"the chain records message.sent for {len(missing)} message(s) the report does not "
            f"list (removed from the report?): {', '.join(missing[:5])}"
        )
    return unproven


def _check_sent(where: str, message: dict[str, Any], sent: Event, parties: set[Any]) -> None:
    details = sent["details"]
    event = _where(sent)
    sender, recipient = message.get("sender_id"), message.get("recipient_id")
    if sent["actor_type"] != "user" or sender != sent["actor_id"]:
        raise BindingFailed(f"{where}: sender_id {sender} is not the sender {event} records")
    if "recipient_id" in details and recipient != details["recipient_id"]:
        raise BindingFailed(
            f"{where}: recipient_id {recipient} is not the recipient {event} records"
        )
    if {sender, recipient} != parties:
        raise BindingFailed(f"{where}: sender and recipient are not the thread's two parties")
    if "message_type" in details:
        _same(f"{where}: message_type", message.get("message_type"), details["message_type"])
    if "sent_at" in details:
        _same(f"{where}: sent_at", message.get("sent_at"), details["sent_at"])
    content = message.get("content")
    if isinstance(content, dict):
        if "body_format" in details:
            _same(f"{where}: body_format", content.get("body_format"), details["body_format"])
        attachments = content.get("attachments")
        if "attachments" in details and (
            not isinstance(attachments, list) or len(attachments) != details["attachments"]
        ):
            raise BindingFailed(f"{where}: its attachments are not the {event}'s count")


def _check_content(where: str, message: dict[str, Any], sent: Event, facts: _Facts) -> int:
    """1 when the message is accepted as unproven (no digest anywhere in the chain, and its
    message.sent predates the chain's first digest-bearing message.sent), else 0."""
    message_id = message["id"]
    content = message.get("content")
    purge = facts.purges.get(message_id)
    if content is None:
        if purge is None:
            raise BindingFailed(f"{where}: has no content and no purge in the chain")
        if message.get("purged_at") is None:
            raise BindingFailed(f"{where}: purged in the chain ({_where(purge)}), no purged_at")
        return 0
    if purge is not None:
        raise BindingFailed(f"{where}: has content, but {_where(purge)} purged it")
    if message.get("purged_at") is not None:
        raise BindingFailed(f"{where}: has a purged_at, but no purge in the chain")
    if not isinstance(content, dict):
        raise BindingFailed(f"{where}: content is not an object")
    try:
        digest = content_digest(content)
    except (TypeError, ValueError) as exc:
        raise BindingFailed(f"{where}: its content cannot be encoded ({exc})") from None
    if digest != message.get("content_sha256"):
        raise BindingFailed(f"{where}: its content does not match its content_sha256")
    recorded = facts.digests.get(message_id)
    if recorded is not None:
        if recorded != digest:
            raise BindingFailed(f"{where}: its content differs from the content the chain recorded")
        return 0
    first = facts.first_digest_position
    if first is not None and sent["position"] > first:
        raise BindingFailed(
            f"{where}: its {_where(sent)} has no content_sha256, but the chain's message.sent at "
            f"position {first} has one: only events recorded before content digests may lack it"
        )
    return 1


def _check_read(where: str, message: dict[str, Any], read: Event | None) -> None:
    read_at = message.get("read_at")
    if read is None:
        if read_at is not None:
            raise BindingFailed(f"{where}: read_at {read_at}, but no message.read in the chain")
        return
    if read_at is None:
        raise BindingFailed(f"{where}: read_at is null, but {_where(read)} records its reading")
    if read["actor_id"] != message.get("recipient_id"):
        raise BindingFailed(f"{where}: {_where(read)} was not by its recipient")
    if "read_at" in read["details"]:
        _same(f"{where}: read_at", read_at, read["details"]["read_at"])


def _check_removal(where: str, message: dict[str, Any], removal: Event | None) -> None:
    removed = message.get("removed")
    if removal is None:
        if removed is not None:
            raise BindingFailed(f"{where}: shown removed, but no message.removed in the chain")
        return
    if not isinstance(removed, dict):
        raise BindingFailed(f"{where}: not shown removed, but {_where(removal)} removed it")
    details = removal["details"]
    if "reason" in details:
        _same(f"{where}: removal reason", removed.get("reason"), details["reason"])
    if "removed_at" in details:
        _same(f"{where}: removal time", removed.get("at"), details["removed_at"])
    by = {
        "actor_type": removal["actor_type"],
        "actor_id": removal["actor_id"],
        "at": removal["occurred_at"],
        "details": details,
    }
    _same(f"{where}: who removed it", removed.get("by"), by)


def _check_flagged(where: str, message: dict[str, Any], first: Event | None) -> None:
    flagged = message.get("flagged")
    if first is None:
        if flagged is not None:
            raise BindingFailed(f"{where}: shown flagged, but no message.flagged in the chain")
        return
    if not isinstance(flagged, dict):
        raise BindingFailed(f"{where}: not shown flagged, but {_where(first)} flagged it")
    details = first["details"]
    if "reason" in details:
        _same(f"{where}: flag reason", flagged.get("reason"), details["reason"])
    if "flagged_at" in details:
        _same(f"{where}: flag time", flagged.get("at"), details["flagged_at"])


def _check_flags(report: dict[str, Any], facts: _Facts) -> None:
    flags = report.get("flags")
    if not isinstance(flags, list):
        raise BindingFailed("report: 'flags' is missing or not a list")
    listed: set[str] = set()
    for index, item in enumerate(flags):
        flag = _obj_item(item, f"flag #{index}")
        flag_id = _text(flag.get("id"), f"flag #{index}: id")
        where = f"flag #{index} (id {flag_id})"
        listed.add(flag_id)
        reported = facts.flag_events.get(flag_id)
        if not reported:
            continue  # a report from before flags named their report_id: nothing to bind
        first, last = reported[0], reported[-1]
        _same(f"{where}: message_id", flag.get("message_id"), first["subject_id"])
        _same(f"{where}: reporter_id", flag.get("reporter_id"), first["actor_id"])
        _same(f"{where}: reason", flag.get("reason"), last["details"].get("reason"))
        notes = [e["details"]["note"] for e in reported if e["details"].get("note") is not None]
        if "note" in first["details"]:
            _same(f"{where}: note", flag.get("note"), notes[-1] if notes else None)
        in_force = facts.decisions.get(flag_id)
        decision = in_force[-1] if in_force else None
        if decision is None:
            if flag.get("decision") is not None or flag.get("decided_by_id") is not None:
                raise BindingFailed(f"{where}: shown decided, but no decision in the chain")
            continue
        decided = decision["details"]["decision"]
        _same(f"{where}: decision ({_where(decision)})", flag.get("decision"), decided)
        _same(f"{where}: decided_by_id", flag.get("decided_by_id"), decision["actor_id"])
        _same(f"{where}: status", flag.get("status"), DECISION_STATUS.get(decided, "actioned"))
    dropped = [key for key in facts.flag_events if key not in listed]
    if dropped:
        raise BindingFailed(
            f"the chain records flag reports the report does not list: {', '.join(dropped[:5])}"
        )


def _check_holds(report: dict[str, Any], facts: _Facts) -> None:
    holds = report.get("holds")
    if not isinstance(holds, list):
        raise BindingFailed("report: 'holds' is missing or not a list")
    by_id = {}
    for index, item in enumerate(holds):
        entry = _obj_item(item, f"hold #{index}")
        by_id[_text(entry.get("id"), f"hold #{index}: id")] = entry
    for hold_id, placed in facts.holds_placed.items():
        where = f"hold {hold_id} ({_where(placed)})"
        hold = by_id.get(hold_id)
        if hold is None:
            raise BindingFailed(f"{where}: placed on the thread's chain, missing from the report")
        for name in ("scope", "thread_id", "reason", "case_reference"):
            _same(f"{where}: {name}", hold.get(name), placed["details"].get(name))
        placer = {"type": placed["actor_type"], "id": placed["actor_id"]}
        _same(f"{where}: placed_by", hold.get("placed_by"), placer)
        lifted = facts.holds_lifted.get(hold_id)
        if lifted is None:
            if hold.get("lifted_at") is not None:
                raise BindingFailed(f"{where}: shown lifted, but no hold.lifted in the chain")
            continue
        if hold.get("lifted_at") is None:
            raise BindingFailed(f"{where}: shown standing, but {_where(lifted)} lifted it")
        lifter = {"type": lifted["actor_type"], "id": lifted["actor_id"]}
        _same(f"{where}: lifted_by", hold.get("lifted_by"), lifter)
        _same(
            f"{where}: lifted_reason",
            hold.get("lifted_reason"),
            lifted["details"].get("lifted_reason"),
        )


def _check_notes(report: dict[str, Any], facts: _Facts) -> None:
    notes = report.get("notes")
    if not isinstance(notes, list):
        raise BindingFailed("report: 'notes' is missing or not a list")
    listed = set()
    for index, item in enumerate(notes):
        note = _obj_item(item, f"note #{index}")
        note_id = _text(note.get("id"), f"note #{index}: id")
        listed.add(note_id)
        event = facts.notes.get(note_id)
        where = f"note #{index} (id {note_id})"
        if event is None:
            if note.get("message_id") is not None:
                raise BindingFailed(f"{where}: on a message, but not in the chain")
            continue
        _same(f"{where}: author_id", note.get("author_id"), event["actor_id"])
        _same(f"{where}: message_id", note.get("message_id"), event["subject_id"])
        _same(f"{where}: body", note.get("body"), event["details"].get("body"))
    dropped = [key for key in facts.notes if key not in listed]
    if dropped:
        raise BindingFailed(f"the chain records notes the report does not list: {dropped[:5]}")


def _check_staff(report: dict[str, Any], events: list[Event]) -> None:
    """Every staff member acting in the chain is in the staff directory (format 2 on)."""
    if "staff" not in report:
        return
    staff = report["staff"]
    if not isinstance(staff, list):
        raise BindingFailed("report: 'staff' is not a list")
    ids = [_obj_item(item, "staff member").get("id") for item in staff]
    if ids != sorted(set(ids), key=str) or not all(isinstance(i, str) for i in ids):
        raise BindingFailed("staff: ids not unique strings sorted ascending")
    known = set(ids)
    for event in events:
        if event["actor_type"] == "staff" and event["actor_id"] not in known:
            raise BindingFailed(f"{_where(event)}: its staff actor is not in the staff directory")


def _same(what: str, shown: Any, recorded: Any) -> None:
    if shown != recorded:
        raise BindingFailed(f"{what}: the report says {shown!r}, the chain records {recorded!r}")


def _where(event: Event) -> str:
    return f"event at position {event['position']} ({event['action']})"


def _obj(container: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = container.get(name)
    if not isinstance(value, dict):
        raise BindingFailed(f"{where}: '{name}' is missing or not an object")
    return value


def _obj_item(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BindingFailed(f"{where}: not an object")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BindingFailed(f"{where}: {value!r} is not a string")
    return value


def _id(value: Any, where: str) -> str:
    return _text(value, f"{where}: subject_id")
