"""A message the front desk took by hand (a call, a visitor, a letter) as an InboundMessage.

The "wire" is the short form a receptionist fills in. A pure function of that form: no
network, no database. The raw kept is the form as JSON, so nothing typed is lost; a
letter's scan becomes the item's attachment (the JSON names it by size and hash).
The form carries a random key made when it was shown, so a form sent twice (a double
click, a browser resending it) makes one item.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from intake.email.text import clean
from routing.contacts.addresses import PHONE, address_of
from routing.message import Attachment, InboundMessage, Placement
from routing.queues.triage import OUT_OF_RANGE, SkippedTime, due_in_range, local_moment

# The channel of each kind, and how the item's subject names it.
KINDS = {"phone-note": "Phone message", "visit": "Visit", "post": "Letter"}
LETTER = "post"  # the one kind that carries a scan
RAW_CONTENT_TYPE = "application/json"
KEY_PREFIX = "hand:"
MAX_SCAN_BYTES = 20 * 1024 * 1024
MAX_TEXT = 20_000
MAX_NAME = 200
MAX_CONTACT = 320
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# A number typed with its country code: "+", then digits and the marks people put
# between them (spaces, dots, dashes, slashes, brackets: "+44 (0)20 7946 0958").
_DIALLED = re.compile(r"^\+[0-9\s().\-/\u2010-\u2015\u2212]+$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")
_CALLBACK_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


class BadForm(ValueError):
    """A form that cannot become an item; `errors` maps each field at fault to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Scan:
    """A letter's scan as it was uploaded."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class HandForm:
    """The form as submitted: `department` and `person` are "" when none was picked."""

    key: str
    kind: str
    name: str
    contact: str
    department: str
    person: str
    text: str
    callback_by: datetime | None
    taken_by: str
    scan: Scan | None = None


def new_key() -> str:
    """The key a form is shown with, and the item it makes is stored under."""
    return secrets.token_urlsafe(18)


def parse_callback(text: str, zone: ZoneInfo) -> datetime | None:
    """A browser's datetime-local value ("2026-11-03T14:30"), meant in the office's zone
    (read as routing.queues.triage.local_moment reads it)."""
    text = text.strip()
    if not text:
        return None
    for pattern in _CALLBACK_FORMATS:
        try:
            wall = datetime.strptime(text, pattern)
        except ValueError:
            continue
        try:
            callback_by = local_moment(wall, zone)
        except SkippedTime as error:
            raise BadForm({"callback_by": str(error)}) from None
        if not due_in_range(callback_by):
            raise BadForm({"callback_by": f"{text!r}: the time {OUT_OF_RANGE}"})
        return callback_by
    raise BadForm({"callback_by": f"{text!r} is not a date and time such as 2026-11-03T14:30"})


def normal_contact(contact: str) -> str:
    """A phone number in E.164 as its contact stores it (routing.contacts.addresses:
    "+44 (0)20 7946 0958" is +442079460958), else the text as typed."""
    contact = contact.strip()
    number = _number(contact)
    return number if number is not None else contact


def _number(contact: str) -> str | None:
    """The number in E.164 when `contact` is one a phone can have, typed with its country code."""
    if not _DIALLED.match(contact):
        return None
    # With its country code a number reads the same whatever the office's region.
    address = address_of(contact, phonenumbers.UNKNOWN_REGION)
    return address.value if address is not None and address.kind == PHONE else None


def problems(form: HandForm) -> dict[str, str]:
    """What is wrong with the form, field by field; empty when it can become an item."""
    found: dict[str, str] = {}
    if not _KEY.match(form.key):
        found["key"] = "this form was not shown by Intake or was changed; it has been shown again"
    if form.kind not in KINDS:
        found["kind"] = f"choose one of {', '.join(KINDS)}, not {form.kind!r}"
    found.update(_who_problems(form))
    text = _typed(form.text)
    if not text and form.scan is None:
        need = "write the message or attach the scan" if form.kind == LETTER else "write the message"
        found["text"] = need
    elif len(text) > MAX_TEXT:
        found["text"] = f"the message has {len(text)} characters; at most {MAX_TEXT} fit"
    if form.scan is not None:
        found.update(_scan_problems(form.kind, form.scan))
    if not form.taken_by.strip():
        found["taken_by"] = "nobody is signed in to take the message"
    return found


def to_message(form: HandForm, received_at: datetime) -> InboundMessage:
    """The item the form makes; raises BadForm naming every field at fault."""
    errors = problems(form)
    if errors:
        raise BadForm(errors)
    contact = normal_contact(form.contact)
    name = clean(form.name.strip())
    text = clean(_typed(form.text))
    placement = Placement(form.department, form.taken_by) if form.department else None
    return InboundMessage(
        channel=form.kind,
        # Without a number or an address, the name is all there is to show as the sender.
        sender=contact or name,
        sender_name=name if contact and name else None,
        recipients=(),
        subject=_subject(form.kind, name or contact, text),
        text=text,
        idempotency_key=KEY_PREFIX + form.key,
        received_at=received_at,
        raw=raw_form(form),
        raw_content_type=RAW_CONTENT_TYPE,
        attachments=_attachments(form.scan),
        placement=placement,
    )


def raw_form(form: HandForm) -> bytes:
    """The form as JSON, every field as it was typed; the scan by name, size and hash."""
    fields: dict[str, Any] = {
        "key": form.key,
        "kind": form.kind,
        "name": form.name,
        "contact": form.contact,
        "department": form.department,
        "person": form.person,
        "text": form.text,
        "callback_by": form.callback_by.isoformat() if form.callback_by else None,
        "taken_by": form.taken_by,
        "scan": None,
    }
    if form.scan is not None:
        fields["scan"] = {
            "filename": form.scan.filename,
            "content_type": form.scan.content_type,
            "size": len(form.scan.content),
            "sha256": hashlib.sha256(form.scan.content).hexdigest(),
        }
    return json.dumps(fields, ensure_ascii=False).encode()


def placement_of(raw: bytes) -> Placement | None:
    """The department chosen on a stored form, so that replaying the rules keeps it there."""
    fields = json.loads(raw)
    return Placement(fields["department"], fields["taken_by"]) if fields.get("department") else None


def _typed(text: str) -> str:
    """The message as typed: a browser sends each line break as CRLF, and counts it as one
    character against the field's maxlength."""
    return text.replace("\r\n", "\n").strip()


def _who_problems(form: HandForm) -> dict[str, str]:
    found: dict[str, str] = {}
    contact = form.contact.strip()
    if len(form.name) > MAX_NAME:
        found["name"] = f"a name of at most {MAX_NAME} characters"
    if not form.name.strip() and not contact:
        found["name"] = "say who the message is from: a name, a number or an email address"
    if len(contact) > MAX_CONTACT:
        found["contact"] = f"at most {MAX_CONTACT} characters"
    elif contact and not (_number(contact) or _EMAIL.match(contact)):
        found["contact"] = (
            f"{contact!r} is neither a phone number with its country code "
            "(such as +1 555 555 0123) nor an email address"
        )
    elif not contact and form.kind == "phone-note":
        found["contact"] = "a phone message needs the number or email address to call back"
    return found


def _scan_problems(kind: str, scan: Scan) -> dict[str, str]:
    if kind != LETTER:
        return {"scan": "only a letter carries a scan; choose the letter or leave the file out"}
    if not scan.content:
        return {"scan": f"the file {scan.filename!r} is empty"}
    if len(scan.content) > MAX_SCAN_BYTES:
        size, limit = len(scan.content) / 1024 / 1024, MAX_SCAN_BYTES // 1024 // 1024
        return {"scan": f"the file is {size:.1f} MB; a scan of at most {limit} MB fits"}
    return {}


def _subject(kind: str, who: str, text: str) -> str:
    first_line = text.splitlines()[0][:60] if text else ""
    return f"{KINDS[kind]} from {who}" + (f": {first_line}" if first_line else "")


def _attachments(scan: Scan | None) -> tuple[Attachment, ...]:
    if scan is None:
        return ()
    return (
        Attachment(_filename(scan.filename), scan.content_type or "application/octet-stream", scan.content),
    )


def _filename(name: str) -> str:
    """The file's own name, without the folders some browsers send with it."""
    base = PureWindowsPath(PurePosixPath(clean(name)).name).name.strip()
    return base[-255:] or "scan"
