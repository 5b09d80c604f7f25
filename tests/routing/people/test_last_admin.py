"""The office keeps an active admin: the last one is neither disabled nor demoted, on the
command line or by two admins at once, so that someone can always manage people and access."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from intake.cli.main import main
from intake.cli.runtime import Runtime
from routing.people import accounts
from routing.store.database import transaction
from tests.conftest import OFFICE
from tests.support.people import add_person


def _active_admins(runtime: Runtime) -> list[str]:
    with transaction(runtime.sessions, write=False) as session:
        return [u.name for u in accounts.list_users(session) if u.role == "admin" and u.active]


def test_the_last_active_admin_is_not_disabled_on_the_command_line(
    runtime: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", database_url)
    add_person(runtime.sessions, "ann", "admin")
    add_person(runtime.sessions, "rita")
    assert main(["--config", str(OFFICE), "users", "disable", "ann"]) == 2
    assert "'ann' is the last active admin: make another user an admin first" in capsys.readouterr().err
    assert _active_admins(runtime) == ["ann"]
    add_person(runtime.sessions, "bob", "admin")
    assert main(["--config", str(OFFICE), "users", "disable", "ann"]) == 0
    assert _active_admins(runtime) == ["bob"]


def _disable(runtime: Runtime, name: str, started: threading.Event) -> None:
    started.set()
    with transaction(runtime.sessions) as session:
        accounts.disable_user(session, name)


def test_two_admins_disabling_each_other_at_once_leave_one(runtime: Runtime) -> None:
    add_person(runtime.sessions, "ann", "admin")
    add_person(runtime.sessions, "bob", "admin")
    started = threading.Event()
    with ThreadPoolExecutor(1) as other, transaction(runtime.sessions) as session:
        accounts.disable_user(session, "bob")  # ann disables bob ...
        session.flush()
        bob_disables_ann = other.submit(_disable, runtime, "ann", started)  # ... as bob disables ann
        started.wait()
        time.sleep(0.5)  # time for bob's change to go through, were it not made to wait
    with pytest.raises(accounts.PeopleError, match="'ann' is the last active admin"):
        bob_disables_ann.result(timeout=30)
    assert _active_admins(runtime) == ["ann"]


def test_the_last_active_admin_keeps_the_role_wherever_it_is_changed(runtime: Runtime) -> None:
    add_person(runtime.sessions, "ann", "admin")
    refused = pytest.raises(accounts.PeopleError, match="'ann' is the last active admin")
    with refused, transaction(runtime.sessions) as session:
        accounts.set_role(session, "ann", "receptionist")
    add_person(runtime.sessions, "bob", "admin")
    with transaction(runtime.sessions) as session:
        accounts.set_role(session, "ann", "receptionist")
    assert _active_admins(runtime) == ["bob"]
