"""Importing old mail from mbox files and maildir folders: counts, idempotence, failures."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import Settings
from intake.cli.main import main
from intake.cli.runtime import Runtime
from intake.email.mailbox_import import BackfillError, Progress, import_mailbox, open_mailbox, received_at
from routing.store.database import transaction
from routing.store.models import Item
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.refusal import refusing

MESSAGES = [
    email_bytes(subject="First", message_id="<m1@client.example>"),
    email_bytes(subject="Second", message_id=None, body="From the start, a line that mbox must quote.\r\n"),
    email_bytes(subject="Poison", message_id="<m3@client.example>", to="billing@office.test"),
]


def _write_mbox(path: Path, messages: list[bytes]) -> Path:
    with path.open("wb") as mbox:
        for number, raw in enumerate(messages, 1):
            mbox.write(f"From ann@client.example Mon Nov  {number} 10:15:00 2026\n".encode())
            body = raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
            mbox.write(body + b"\n")
    return path


def _write_maildir(path: Path, messages: list[bytes]) -> Path:
    for folder in ("cur", "new", "tmp"):
        (path / folder).mkdir(parents=True)
    for number, raw in enumerate(messages, 1):
        # Read mail sits in cur/ with its flags after the colon; unread mail in new/.
        name = f"cur/17000000{number}.M1P1.host:2,S" if number % 2 else f"new/17000000{number}.M1P1.host"
        (path / name).write_bytes(raw)
    return path


def _subjects(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions, write=False) as session:
        return sorted(session.scalars(select(Item.subject)))


def test_an_mbox_is_imported_once(runtime: Runtime, tmp_path: Path) -> None:
    box = open_mailbox("mbox", _write_mbox(tmp_path / "old.mbox", MESSAGES))
    first = import_mailbox(box, runtime.deliverer.deliver)
    assert (first.stored, first.already_there, first.failed) == (3, 0, [])
    again = import_mailbox(box, runtime.deliverer.deliver)
    assert (again.stored, again.already_there, again.failed) == (0, 3, [])
    assert _subjects(runtime) == ["First", "Poison", "Second"]
    with transaction(runtime.sessions, write=False) as session:
        first_item = session.scalars(select(Item).where(Item.subject == "First")).one()
        assert first_item.received_at == datetime(2026, 11, 1, 10, 15, tzinfo=UTC)  # from the "From " line
        assert first_item.department_id == "sales"


def test_a_maildir_is_imported_once(runtime: Runtime, tmp_path: Path) -> None:
    box = open_mailbox("maildir", _write_maildir(tmp_path / "Maildir", MESSAGES))
    assert import_mailbox(box, runtime.deliverer.deliver).stored == 3
    again = import_mailbox(box, runtime.deliverer.deliver)
    assert (again.stored, again.already_there) == (0, 3)
    assert _subjects(runtime) == ["First", "Poison", "Second"]


def test_a_message_that_fails_is_reported_and_the_import_goes_on(runtime: Runtime, tmp_path: Path) -> None:
    box = open_mailbox("mbox", _write_mbox(tmp_path / "old.mbox", [MESSAGES[2], *MESSAGES[:2]]))
    with refusing(runtime.engine, "Poison"):
        report = import_mailbox(box, runtime.deliverer.deliver)
    assert (report.stored, report.already_there) == (2, 0)
    [(which, why)] = report.failed
    assert which == "message 1"
    assert why.startswith("StorageUnavailable: ")
    retry = import_mailbox(box, runtime.deliverer.deliver)
    assert (retry.stored, retry.already_there, retry.failed) == (1, 2, [])
    assert _subjects(runtime) == ["First", "Poison", "Second"]


def test_what_is_not_a_mailbox_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackfillError, match=r"absent\.mbox: no such file or folder"):
        open_mailbox("mbox", tmp_path / "absent.mbox")
    with pytest.raises(BackfillError, match="a folder, not an mbox file"):
        open_mailbox("mbox", tmp_path)
    (tmp_path / "notes.txt").write_text("Shopping list\n")
    with pytest.raises(
        BackfillError, match=r"notes\.txt: not an mbox file \(it does not begin with a 'From ' line\)"
    ):
        open_mailbox("mbox", tmp_path / "notes.txt")
    with pytest.raises(BackfillError, match=r"not a maildir folder \(with cur/ and new/\)"):
        open_mailbox("maildir", tmp_path)
    assert not (tmp_path / "absent.mbox").exists()  # nothing was created


def test_progress_is_drawn_on_one_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 4)
    for done in (1, 2, 2, 3, 4):
        progress.update(done)
    progress.finish()
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 4  # a repeated percentage is not redrawn
    assert frames[-1] == f"importing [{'#' * 30}] 4/4 (100%)\n"


def test_the_arrival_time_comes_from_the_from_line_then_the_date_header() -> None:
    raw = email_bytes()
    assert received_at(raw, "From a@b.example Tue Nov  3 08:00:00 2026") == datetime(
        2026, 11, 3, 8, tzinfo=UTC
    )
    assert received_at(raw, "From garbled") == datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
    assert received_at(b"Subject: no date\r\n\r\nbody\r\n") is None


def test_intake_import_reports_counts_and_is_safe_to_run_again(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", settings.database.url)
    maildir = _write_maildir(tmp_path / "Maildir", MESSAGES)
    command = ["--config", str(OFFICE), "import", "maildir", str(maildir)]
    assert main(command) == 0
    first = capsys.readouterr()
    assert first.out == f"{maildir}: stored 3, already there 0, failed 0\n"
    assert "3/3 (100%)" in first.err
    assert main(command) == 0
    assert capsys.readouterr().out == f"{maildir}: stored 0, already there 3, failed 0\n"
    assert main(["--config", str(OFFICE), "import", "mbox", str(tmp_path / "absent.mbox")]) == 2
    assert capsys.readouterr().err == f"intake: {tmp_path / 'absent.mbox'}: no such file or folder\n"


def test_intake_import_applies_the_configured_limits(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Runtime
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", settings.database.url)
    office = tmp_path / "office.toml"
    office.write_text(OFFICE.read_text().replace("max_message_size = 1048576", "max_message_size = 1024"))
    large = email_bytes(subject="Larger than allowed", body="x" * 2000 + "\r\n")
    assert (
        main(
            ["--config", str(office), "import", "maildir", str(_write_maildir(tmp_path / "Maildir", [large]))]
        )
        == 0
    )
    with transaction(runtime.sessions, write=False) as session:
        [defects] = session.scalars(select(Item.parse_defects))
    assert defects == [f"over limit: message is {len(large)} bytes (limit 1024); only its headers were read"]
