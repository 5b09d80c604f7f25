"""A labelled set of messages read from a TSV file, each built as its channel would build it.

One row a message, tab-separated, under a header line naming the columns:

    id  split  language  channel  source  sender  recipient  department  note

`source` is an .eml file's path relative to the TSV for an email, or the text itself for
a text message or a voicemail transcript (`\\n` for a line break, `\\\\` for a backslash).
An email goes through the email parser as if SMTP had taken it; a text through the
Twilio messaging form; a voicemail through Twilio's transcription callback, with the
transcript in the item's text as the voicemail desk puts it there.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from config.settings import Settings
from intake.email.parser import EmailLimits, parse_email
from intake.phone.sms import parse_message
from intake.phone.voice import parse_transcription
from intake.rules.rule_tests import FIXTURE_TIME
from routing.message import InboundMessage

COLUMNS = ("id", "split", "language", "channel", "source", "sender", "recipient", "department", "note")
SPLITS = ("dev", "test", "fresh", "blind", "sealed", "locked")
CHANNELS = ("email", "sms", "voicemail")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


class BadLabels(ValueError):
    """A labelled set that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Labelled:
    """One message of the set and the department it belongs to."""

    id: str
    split: str
    language: str
    channel: str
    department: str
    note: str
    message: InboundMessage


def read_labels(path: Path, settings: Settings) -> list[Labelled]:
    """Every row of the TSV at `path` as a message; BadLabels at the first bad row."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            lines = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as error:
        raise BadLabels(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise BadLabels(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not lines:
        raise BadLabels(f"{path}: empty; the first line names the columns: {' '.join(COLUMNS)}")
    columns = _columns(path, lines[0])
    known = tuple(d.id for d in settings.departments)
    rows: list[Labelled] = []
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in line):
            continue  # a blank line, such as one at the end
        where = f"{path}:{number}"
        if len(line) != len(lines[0]):
            raise BadLabels(f"{where}: {len(line)} columns, the header has {len(lines[0])}")
        row = {name: line[index].strip() for name, index in columns.items()}
        labelled = _labelled(row, where, path.parent, known, settings)
        if labelled.id in seen:
            raise BadLabels(f"{where}: id {labelled.id!r} is already used above")
        seen.add(labelled.id)
        rows.append(labelled)
    if not rows:
        raise BadLabels(f"{path}: no messages under the header")
    return rows


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise BadLabels(f"{path}:1: the header lacks {', '.join(missing)} (columns: {' '.join(COLUMNS)})")
    return {name: names.index(name) for name in COLUMNS}


def _labelled(
    row: dict[str, str], where: str, base: Path, known: tuple[str, ...], settings: Settings
) -> Labelled:
    for name in ("id", "language", "source", "sender", "recipient"):
        if not row[name]:
            raise BadLabels(f"{where}: the {name} is empty")
    if row["split"] not in SPLITS:
        raise BadLabels(f"{where}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
    if row["channel"] not in CHANNELS:
        raise BadLabels(f"{where}: channel {row['channel']!r} is not one of {', '.join(CHANNELS)}")
    if row["department"] not in known:
        raise BadLabels(f"{where}: unknown department {row['department']!r} (known: {', '.join(known)})")
    return Labelled(
        id=row["id"],
        split=row["split"],
        language=row["language"],
        channel=row["channel"],
        department=row["department"],
        note=row["note"],
        message=_message(row, where, base, settings),
    )


def _message(row: dict[str, str], where: str, base: Path, settings: Settings) -> InboundMessage:
    sender, recipient = row["sender"], row["recipient"]
    if row["channel"] == "email":
        file = base / row["source"]
        try:
            raw = file.read_bytes()
        except OSError as error:
            raise BadLabels(f"{where}: {file}: {error.strerror}") from None
        return parse_email(
            raw,
            envelope_sender=sender,
            envelope_recipients=(recipient,),
            received_at=FIXTURE_TIME,
            limits=EmailLimits.from_settings(settings),
        )
    text = _ESCAPE.sub(lambda found: _ESCAPES.get(found[1], found[0]), row["source"])
    sid = hashlib.sha256(row["id"].encode()).hexdigest()[:32]
    if row["channel"] == "sms":
        form = {"MessageSid": f"SM{sid}", "From": sender, "To": recipient, "Body": text, "NumMedia": "0"}
        return parse_message(form, urlencode(form).encode(), FIXTURE_TIME).message
    return _transcribed(sid, sender, recipient, text)


def _transcribed(sid: str, caller: str, called: str, transcript: str) -> InboundMessage:
    """A voicemail as the voicemail desk has it once its transcript arrived."""
    form = {
        "CallSid": f"CA{sid}",
        "RecordingSid": f"RE{sid}",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{sid}/Recordings/RE{sid}",
        "TranscriptionSid": f"TR{sid}",
        "TranscriptionStatus": "completed",
        "TranscriptionText": transcript,
        "From": caller,
        "To": called,
    }
    parsed = parse_transcription(form, urlencode(form).encode(), FIXTURE_TIME)
    if parsed is None:  # cannot happen: the form has a recording
        raise AssertionError("a transcription callback with a recording made no voicemail")
    voicemail, transcription = parsed
    return dataclasses.replace(voicemail.message, text=transcription.text)
