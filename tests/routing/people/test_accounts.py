"""Users and tokens: the `intake users` and `intake tokens` commands and the first admin."""

from __future__ import annotations

import getpass
import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from intake.cli.main import main
from intake.cli.runtime import Runtime, announce_first_admin
from routing.people import accounts
from routing.store.database import transaction
from routing.store.models import ApiToken
from tests.conftest import OFFICE
from tests.support.serving import ServeProcess

PASSWORD = "a password long enough"


@pytest.fixture
def intake(
    runtime: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Intake]:
    monkeypatch.setenv("INTAKE_DATABASE_URL", database_url)
    yield Intake(monkeypatch, capsys)


class Intake:
    """Runs `intake ...` in this process on the test office, the password given on stdin."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *argv: str, stdin: str = PASSWORD + "\n") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["--config", str(OFFICE), *argv])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


def _sign_in(runtime: Runtime, name: str, password: str = PASSWORD) -> accounts.Person | None:
    with transaction(runtime.sessions, write=False) as session:
        return accounts.authenticate(session, name, password)


def test_users_are_added_listed_and_sign_in(intake: Intake, runtime: Runtime) -> None:
    assert intake("users", "add", "rita", "--role", "receptionist", "--password-stdin")[0] == 0
    code, out, _ = intake(
        "users", "add", "bill", "--role", "staff", "--department", "billing", "--department", "sales",
        "--password-stdin",
    )  # fmt: skip
    assert (code, out) == (0, "Added staff bill.\n")
    code, out, _ = intake("users", "list")
    assert out.splitlines() == [
        "bill                 staff         billing, sales",
        "rita                 receptionist  every queue",
    ]
    bill = _sign_in(runtime, "bill")
    assert bill is not None and bill.departments == {"billing", "sales"}
    assert bill.may_see("sales") and not bill.may_see("front-desk")
    assert _sign_in(runtime, "bill", "not the password") is None
    assert _sign_in(runtime, "nobody") is None


def test_a_password_is_asked_twice_at_a_prompt_and_again_when_the_two_differ(
    intake: Intake, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "something else entirely", PASSWORD + "2", PASSWORD + "2"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    assert intake("users", "add", "ann", "--role", "admin")[0] == 0
    assert intake("users", "add", "bob", "--role", "admin") == (
        0,
        "Added admin bob.\n",
        "The two passwords differ; type them again.\n",
    )
    assert _sign_in(runtime, "ann") is not None
    assert _sign_in(runtime, "bob", PASSWORD + "2") is not None


def test_a_password_is_never_taken_from_the_command_line(intake: Intake) -> None:
    with pytest.raises(SystemExit) as refused:
        intake("users", "add", "ann", "--role", "admin", "--password", PASSWORD)
    assert refused.value.code == 2


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--role", "boss"], PASSWORD, "unknown role 'boss' (known: admin, receptionist, staff)"),
        (
            ["--role", "staff", "--department", "kitchen"],
            PASSWORD,
            "unknown department 'kitchen' (known: billing, front-desk, sales)",
        ),
        (["--role", "staff"], PASSWORD, "name at least one with --department"),
        (["--role", "receptionist", "--department", "sales"], PASSWORD, "--department is for staff only"),
        (["--role", "admin"], "short", "a password needs at least 10 characters"),
        (["--role", "admin"], "", "a password needs at least 10 characters"),
    ],
)
def test_bad_user_requests_are_refused_and_store_nothing(
    intake: Intake, runtime: Runtime, argv: list[str], stdin: str, message: str
) -> None:
    code, out, err = intake("users", "add", "ann", *argv, "--password-stdin", stdin=stdin)
    assert (code, out) == (2, "") and err.startswith("intake: ") and message in err
    assert intake("users", "list")[1] == ""


def test_names_are_unique_and_well_formed(intake: Intake) -> None:
    assert intake("users", "add", "ann", "--role", "admin", "--password-stdin")[0] == 0
    refused = intake("users", "add", "ann", "--role", "receptionist", "--password-stdin")
    assert refused == (2, "", "intake: there is already a user 'ann'\n")
    code, _, err = intake("users", "add", "Ann Smith", "--role", "admin", "--password-stdin")
    assert code == 2 and "'Ann Smith' is not a user name" in err


def test_disable_and_reset_password(intake: Intake, runtime: Runtime) -> None:
    assert intake("users", "add", "ann", "--role", "receptionist", "--password-stdin")[0] == 0
    new_password = "another password, longer"
    assert intake("users", "reset-password", "ann", "--password-stdin", stdin=new_password)[0] == 0
    assert _sign_in(runtime, "ann") is None and _sign_in(runtime, "ann", new_password) is not None
    assert intake("users", "disable", "ann")[0] == 0
    assert _sign_in(runtime, "ann", new_password) is None
    assert intake("users", "list")[1].endswith("every queue  (disabled)\n")
    assert intake("users", "disable", "nobody") == (2, "", "intake: there is no user 'nobody'\n")
    assert intake("users", "reset-password", "nobody", "--password-stdin")[0] == 2


def test_a_disabled_user_is_enabled_again_and_their_old_tokens_stay_dead(
    intake: Intake, runtime: Runtime
) -> None:
    assert intake("users", "add", "ann", "--role", "receptionist", "--password-stdin")[0] == 0
    token = intake("tokens", "create", "ann")[1].splitlines()[-1]
    assert intake("users", "disable", "ann")[0] == 0
    code, out, _ = intake("users", "enable", "ann")
    assert (code, out) == (
        0,
        "Enabled ann: they sign in again with their password; their old tokens stay revoked.\n",
    )
    assert _sign_in(runtime, "ann") is not None
    with transaction(runtime.sessions, write=False) as session:
        assert accounts.person_for_token(session, token) is None
    assert "revoked" in intake("tokens", "list")[1] and "(disabled)" not in intake("users", "list")[1]
    assert intake("users", "enable", "ann") == (2, "", "intake: 'ann' is not disabled\n")
    assert intake("users", "enable", "nobody") == (2, "", "intake: there is no user 'nobody'\n")


def test_a_new_password_for_a_disabled_user_says_they_still_cannot_sign_in(intake: Intake) -> None:
    assert intake("users", "add", "ann", "--role", "receptionist", "--password-stdin")[0] == 0
    assert intake("users", "disable", "ann")[0] == 0
    code, out, _ = intake("users", "reset-password", "ann", "--password-stdin")
    assert (code, out) == (
        0,
        "New password set for ann, who is disabled: they cannot sign in until `intake users enable ann`.\n",
    )


def test_a_token_is_shown_once_stored_as_a_hash_and_can_be_revoked(intake: Intake, runtime: Runtime) -> None:
    assert intake("users", "add", "ann", "--role", "admin", "--password-stdin")[0] == 0
    code, out, _ = intake("tokens", "create", "ann")
    assert code == 0
    token = out.splitlines()[-1]
    assert token.startswith("intake_") and len(token) > 40
    with transaction(runtime.sessions, write=False) as session:
        [stored] = session.scalars(select(ApiToken)).all()
        assert token not in stored.token_hash
        found = accounts.person_for_token(session, token)
        assert found is not None and found.name == "ann"
    listed = intake("tokens", "list")[1]
    assert f"{stored.id:>5}  ann" in listed and "active" in listed and token not in listed
    assert intake("tokens", "revoke", str(stored.id)) == (0, f"Token {stored.id} revoked.\n", "")
    with transaction(runtime.sessions, write=False) as session:
        assert accounts.person_for_token(session, token) is None
    assert "revoked" in intake("tokens", "list")[1]


def test_bad_token_requests_are_refused(intake: Intake) -> None:
    assert intake("tokens", "create", "nobody") == (2, "", "intake: there is no user 'nobody'\n")
    assert intake("tokens", "revoke", "99") == (2, "", "intake: there is no token 99\n")
    assert intake("users", "add", "ann", "--role", "receptionist", "--password-stdin")[0] == 0
    assert intake("users", "disable", "ann")[0] == 0
    assert intake("tokens", "create", "ann") == (2, "", "intake: user 'ann' is disabled\n")


def test_the_first_admin_is_made_and_shown_once(runtime: Runtime) -> None:
    said: list[str] = []
    announce_first_admin(runtime, said.append)
    assert len(said) == 2
    name, password = said[0].removeprefix("First admin created: name ").split(", password ")
    assert name == "admin" and "reset-password admin" in said[1]
    found = _sign_in(runtime, name, password)
    assert found is not None and found.role == "admin"
    announce_first_admin(runtime, said.append)
    assert len(said) == 2


def test_a_password_is_stored_as_scrypt_at_werkzeugs_full_strength(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the suite's quicker hashes (tests/conftest.py) off, for this test only
    with transaction(runtime.sessions) as session:
        stored = accounts.add_user(session, "sam", "receptionist", PASSWORD).password_hash
    assert stored.startswith("scrypt:32768:8:1$")
    assert _sign_in(runtime, "sam") is not None
    assert _sign_in(runtime, "sam", PASSWORD + "!") is None


def test_intake_serve_shows_the_first_admin_on_its_first_start_only(database_url: str) -> None:
    shown: list[list[str]] = []
    for _ in range(2):
        # No inbox worker processes: the first admin is the serving process's to make.
        serve = ServeProcess(OFFICE, database_url, "--workers", "0")
        try:
            serve.wait_until_running()
        finally:
            assert serve.stop() == 0
        shown.append([line for line in serve.output if "password" in line])
    assert len(shown[0]) == 2 and shown[0][0].startswith("First admin created: name admin, password ")
    assert shown[1] == []


def test_a_name_with_a_line_break_is_no_user_name(intake: Intake) -> None:
    code, out, err = intake("users", "add", "ann\n", "--role", "admin", "--password-stdin")
    assert (code, out) == (2, "") and "is not a user name" in err
    assert intake("users", "list")[1] == ""


def test_a_disabled_users_token_is_listed_as_not_working(intake: Intake) -> None:
    assert intake("users", "add", "ann", "--role", "admin", "--password-stdin")[0] == 0
    assert intake("users", "add", "bob", "--role", "receptionist", "--password-stdin")[0] == 0
    assert intake("tokens", "create", "bob")[0] == 0
    assert intake("users", "disable", "bob")[0] == 0
    listed = intake("tokens", "list")[1]
    assert "bob" in listed and "user disabled" in listed and "active" not in listed


def test_the_name_and_role_are_checked_before_a_password_is_asked(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    assert intake("users", "add", "ann", "--role", "admin")[0] == 0
    asked.clear()
    refusals = {
        ("users", "add", "ann", "--role", "admin"): "there is already a user 'ann'",
        ("users", "add", "bob", "--role", "boss"): "unknown role 'boss'",
        ("users", "add", "bob", "--role", "staff", "--department", "kitchen"): "unknown department 'kitchen'",
        ("users", "reset-password", "anne"): "there is no user 'anne'",
    }
    for argv, message in refusals.items():
        code, out, err = intake(*argv)
        assert (code, out, asked) == (2, "", []) and message in err, argv


def test_a_short_password_at_the_prompt_is_asked_again(
    intake: Intake, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["too short", "too short", PASSWORD, PASSWORD])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    assert intake("users", "add", "ann", "--role", "admin") == (
        0,
        "Added admin ann.\n",
        "A password needs at least 10 characters; type another.\n",
    )
    assert _sign_in(runtime, "ann") is not None


def _add(runtime: Runtime, name: str, started: threading.Event) -> None:
    started.set()
    with transaction(runtime.sessions) as session:
        accounts.add_user(session, name, "receptionist", PASSWORD)


def test_one_name_added_twice_at_once_is_refused_the_second_time(runtime: Runtime) -> None:
    started = threading.Event()
    with ThreadPoolExecutor(1) as other, transaction(runtime.sessions) as session:
        accounts.add_user(session, "ann", "admin", PASSWORD)  # the command line adds ann ...
        session.flush()
        second = other.submit(_add, runtime, "ann", started)  # ... as an admin page does
        started.wait()
        time.sleep(0.5)  # time for the second to look for ann before the first commits
    with pytest.raises(accounts.PeopleError, match="there is already a user 'ann'"):
        second.result(timeout=30)
    with transaction(runtime.sessions, write=False) as session:
        assert [(u.name, u.role) for u in accounts.list_users(session)] == [("ann", "admin")]


def test_two_processes_starting_at_once_make_one_first_admin(runtime: Runtime) -> None:
    with ThreadPoolExecutor(1) as other, transaction(runtime.sessions) as session:
        accounts.add_user(session, "admin", "admin", PASSWORD)  # one process makes it ...
        session.flush()
        second = other.submit(accounts.ensure_first_admin, runtime.sessions)  # ... as another starts
        time.sleep(0.5)
    assert second.result(timeout=30) is None
    with transaction(runtime.sessions, write=False) as session:
        assert [u.name for u in accounts.list_users(session)] == ["admin"]
