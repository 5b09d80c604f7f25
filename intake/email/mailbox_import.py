"""Bringing an old mailbox in: every message of an mbox file or a maildir, through deliver().

deliver() is idempotent, so running an import again stores nothing new. A message
that cannot be read or stored is reported with its reason and the import goes on.
"""

from __future__ import annotations

import email.parser
import email.policy
import mailbox
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TextIO

from intake.email.parser import EmailLimits, Envelope
from intake.email.storing import Parse, parse_here, store_email
from routing.delivery import Delivery
from routing.message import InboundMessage

_FROM_LINE_DATE = "%a %b %d %H:%M:%S %Y"
# An archived message has no SMTP envelope: its headers say everything.
_NO_ENVELOPE = Envelope(None, (), ())


class BackfillError(Exception):
    """The mailbox to import cannot be opened; the message says why."""


@dataclass
class ImportReport:
    stored: int = 0
    already_there: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (which message, why)

    def summary(self) -> str:
        return f"stored {self.stored}, already there {self.already_there}, failed {len(self.failed)}"


class Progress:
    """A one-line progress bar on a terminal stream, redrawn when the percentage moves."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total, self._shown = stream, total, -1

    def update(self, done: int) -> None:
        percent = 100 * done // self.total if self.total else 100
        if percent == self._shown:
            return
        self._shown = percent
        filled = self.WIDTH * percent // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\rimporting [{bar}] {done}/{self.total} ({percent}%)")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def open_mailbox(kind: str, path: Path) -> mailbox.Mailbox[mailbox.Message]:
    """The mbox file or maildir folder at `path`, read-only in spirit: nothing is created."""
    if not path.exists():
        raise BackfillError(f"{path}: no such file or folder")
    if kind == "mbox":
        _check_mbox(path)
        return mailbox.mbox(path, create=False)
    if (path / "cur").is_dir() and (path / "new").is_dir():
        return mailbox.Maildir(path, factory=None, create=False)
    raise BackfillError(f"{path}: not a maildir folder (with cur/ and new/)")


def _check_mbox(path: Path) -> None:
    """Refuse what is not an mbox, which Python's reader would take for an empty one."""
    if path.is_dir():
        raise BackfillError(f"{path}: a folder, not an mbox file (for a maildir, use `import maildir`)")
    try:
        with path.open("rb") as file:
            start = file.read(5)
    except OSError as error:
        raise BackfillError(f"{path}: {error.strerror}") from None
    # An empty file is an empty mailbox; anything else begins with a "From " line.
    if start and start != b"From ":
        raise BackfillError(f"{path}: not an mbox file (it does not begin with a 'From ' line)")


def import_mailbox(
    box: mailbox.Mailbox[mailbox.Message],
    deliver: Callable[[InboundMessage], Delivery],
    progress: Progress | None = None,
    limits: EmailLimits | None = None,
    parse: Parse = parse_here,
) -> ImportReport:
    """Deliver every message of `box` once, counting what was new and what failed."""
    report = ImportReport()
    for number, key in enumerate(box.keys(), 1):
        try:
            raw, arrived = _message(box, key)
            delivery = store_email(
                deliver, raw, _NO_ENVELOPE, limits=limits or EmailLimits(), received_at=arrived, parse=parse
            )
        # One bad message must not stop an import of thousands; its reason is reported.
        except Exception as error:
            report.failed.append((f"message {number}", f"{type(error).__name__}: {error}"))
        else:
            if delivery.created:
                report.stored += 1
            else:
                report.already_there += 1
        if progress is not None:
            progress.update(number)
    return report


def _message(box: mailbox.Mailbox[mailbox.Message], key: str) -> tuple[bytes, datetime | None]:
    """A message's raw bytes and when it arrived."""
    if isinstance(box, mailbox.mbox):
        from_line, _, raw = box.get_bytes(key, from_=True).partition(b"\n")
        return raw, received_at(raw, from_line.decode("ascii", "replace"))
    raw = box.get_bytes(key)
    return raw, received_at(raw)


def received_at(raw: bytes, from_line: str | None = None) -> datetime | None:
    """When an archived message arrived: its mbox "From " line, else its Date header."""
    if from_line is not None:
        try:
            # "From sender Mon Nov  2 10:15:00 2026": the last five words, in UTC.
            stamp = " ".join(from_line.split()[-5:])
            return datetime.strptime(stamp, _FROM_LINE_DATE).replace(tzinfo=UTC)
        except ValueError:
            pass
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    try:
        date = parsedate_to_datetime(str(headers.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=UTC)
