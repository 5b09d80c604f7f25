"""The command as a newcomer types it: --config after the command, several files to
route, a wrong mailbox to import, a password mistyped at the prompt, a quiet stderr."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from config.loading import load_settings
from intake.cli.runtime import open_runtime
from routing.store.models import Item, User
from tests.conftest import OFFICE
from tests.support.command import ROOT, intake
from tests.support.serving import free_port

SAMPLES = ROOT / "config" / "samples"


def _office(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(OFFICE.read_text().replace('name = "Test Office"', f'name = "{name}"'))
    return path


def test_config_may_come_after_the_command_and_the_last_one_given_counts(tmp_path: Path) -> None:
    first, second = _office(tmp_path, "First"), _office(tmp_path, "Second")
    after = intake("check-config", "--config", str(first))
    twice = intake("--config", str(first), "check-config", "--config", str(second))
    before = intake("--config", str(first), "check-config")
    assert after.returncode == 0 and after.stdout.startswith(f"{first}: OK"), after.stderr
    assert twice.stdout.startswith(f"{second}: OK")
    assert before.stdout.startswith(f"{first}: OK")
    for command in (["serve"], ["users", "add"], ["twilio", "simulate", "sms"], ["db", "upgrade"]):
        shown = intake(*command, "--help").stdout
        assert "--config PATH" in shown and "given twice the last one counts" in " ".join(shown.split())


def test_serve_takes_config_after_the_command(tmp_path: Path) -> None:
    config = _office(tmp_path, "Served")
    command = [sys.executable, "-m", "intake", "serve", "--config", str(config)]
    ports = ["--smtp", f"127.0.0.1:{free_port()}", "--web", f"127.0.0.1:{free_port()}"]
    env_url = f"sqlite:///{tmp_path / 'served.db'}"
    process = subprocess.Popen(
        [*command, *ports],
        env={"INTAKE_DATABASE_URL": env_url, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    assert first == f"Intake for Served, config {config}\n"


def test_no_command_tells_of_alembic_on_stderr(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fresh.db'}"
    for command in (["users", "list"], ["db", "upgrade"], ["users", "list"]):
        result = intake("--config", str(OFFICE), *command, database_url=database)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_route_takes_several_files_and_folders_with_one_result_each(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    shutil.copy(SAMPLES / "invoice-to-sales.eml", folder / "a.eml")
    shutil.copy(SAMPLES / "quote.eml", folder / "b.eml")
    (folder / "notes.txt").write_text("not mail")
    missing = tmp_path / "missing.eml"
    result = intake("route", str(folder), str(missing), str(SAMPLES / "quote.eml"))
    headings = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert headings == [f"== {folder / 'a.eml'}", f"== {folder / 'b.eml'}", f"== {SAMPLES / 'quote.eml'}"]
    departments = [line for line in result.stdout.splitlines() if line.startswith("department:")]
    assert departments == ["department: billing", "department: sales", "department: sales"]
    assert result.stderr == f"intake: {missing}: No such file or directory\n"
    assert result.returncode == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = intake("route", str(empty))
    assert (refused.returncode, refused.stderr) == (
        2,
        f"intake: {empty}: a folder with no .eml files in it\n",
    )


def test_importing_what_is_no_mbox_says_what_is_wrong_and_stores_nothing(
    tmp_path: Path, database_url: str
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("Shopping list\nmilk\n")
    cases = {
        tmp_path / "absent.mbox": "no such file or folder",
        text: "not an mbox file (it does not begin with a 'From ' line)",
        tmp_path: "a folder, not an mbox file (for a maildir, use `import maildir`)",
    }
    for path, problem in cases.items():
        result = intake("--config", str(OFFICE), "import", "mbox", str(path), database_url=database_url)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"intake: {path}: {problem}\n")
    runtime = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url}))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
    runtime.engine.dispose()


def test_a_mismatched_password_is_asked_again(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'people.db'}"
    add = ("--config", str(OFFICE), "users", "add", "rita", "--role", "receptionist")
    added = intake(*add, database_url=database, stdin="first try\nfirst typo\nsecond try\nsecond try\n")
    assert added.returncode == 0, added.stderr
    assert added.stderr.count("The two passwords differ; type them again.") == 1
    assert added.stdout == "Added receptionist rita.\n"
    runtime = open_runtime(load_settings(OFFICE, {"INTAKE_DATABASE_URL": database}))
    with runtime.sessions() as session:
        assert session.scalars(select(User.name)).all() == ["rita"]
    runtime.engine.dispose()
    given_up = intake(*add[:4], "sam", *add[5:], database_url=database, stdin="one\ntwo\n")
    assert given_up.returncode == 2 and given_up.stderr.endswith("intake: no password given\n")
