"""The IMAP poller against a real Dovecot: IDLE, moves after commit, resyncs, reconnects, failures."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from imapclient import IMAPClient

from config.holder import SettingsHolder
from intake.cli.main import main
from intake.cli.runtime import Runtime
from intake.email.imap import fetched_message
from routing.delivery import Delivery
from routing.message import InboundMessage
from routing.store.database import transaction
from routing.store.mailboxes import MailboxHealth, mailbox_health
from routing.store.models import Item
from tests.conftest import OFFICE
from tests.support.dovecot import (
    PASSWORD,
    WAIT_DEADLINE_SECONDS,
    Dovecot,
    folder_flags,
    free_port,
    imap_mailbox,
    item_subjects,
    mailbox_state,
    running_poller,
    wait_for,
)
from tests.support.mail import email_bytes
from tests.support.people import add_person, new_token, office_client
from tests.support.tcp_proxy import BlackHoleProxy
from web.app import create_app


def _ready(runtime: Runtime, name: str) -> bool:
    """Whether the poller has caught up once (and so is waiting in IDLE next)."""
    state = mailbox_state(runtime, name)
    return state is not None and state.last_success_at is not None


def test_mail_arriving_during_idle_is_stored_then_moved(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Done")
    mailbox = imap_mailbox(dovecot, user, after="move", move_to="Done")
    with running_poller(runtime, mailbox):
        wait_for(lambda: _ready(runtime, user), "the first catch-up")
        dovecot.save(user, email_bytes(subject="Sent while idle"))
        wait_for(lambda: folder_flags(dovecot, user, "Done"), "the message moved to Done")
    assert item_subjects(runtime) == ["Sent while idle"]
    assert folder_flags(dovecot, user, "INBOX") == []
    state = mailbox_state(runtime, user)
    assert state is not None and (state.folder, state.last_uid) == ("INBOX", 1)


def test_mail_arriving_while_the_poller_is_busy_is_read_at_once(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.save(user, email_bytes(subject="First", message_id="<first@client.example>"))
    second = email_bytes(subject="Second", message_id="<second@client.example>")

    def deliver_while_more_arrives(message: InboundMessage) -> Delivery:
        if message.subject == "First":
            # Dovecot tells of it once, in its answer to the poller's next command (the flag).
            dovecot.save(user, second)
        return runtime.deliverer.deliver(message)

    # IDLE renewed only after the test's deadline: just the server's news can bring it in.
    mailbox = imap_mailbox(dovecot, user, idle_renew_seconds=600.0)
    with running_poller(runtime, mailbox, deliver_while_more_arrives):
        wait_for(lambda: len(item_subjects(runtime)) == 2, "the second message stored")
    assert item_subjects(runtime) == ["First", "Second"]


def test_mail_already_read_on_a_phone_is_imported_once(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.save(user, email_bytes(subject="Read on a phone"))
    dovecot.doveadm_run("flags", "add", "-u", user, "\\Seen", "mailbox", "INBOX", "all")
    mailbox = imap_mailbox(dovecot, user)  # after = "flag": the message stays
    with running_poller(runtime, mailbox):
        wait_for(lambda: item_subjects(runtime), "the seen message stored")
    with running_poller(runtime, mailbox):
        wait_for(lambda: _ready(runtime, user), "a second catch-up")
        dovecot.save(user, email_bytes(subject="New one", message_id="<new@client.example>"))
        wait_for(lambda: len(item_subjects(runtime)) == 2, "the new message stored")
    assert item_subjects(runtime) == ["Read on a phone", "New one"]
    assert folder_flags(dovecot, user) == [{b"\\Seen"}, {b"\\Seen"}]


def test_a_mailbox_mapped_to_a_department_routes_there(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    # Sent to sales, but it landed in billing's mailbox (a forward, a Bcc): billing's it is.
    dovecot.save(user, email_bytes(to="sales@office.test", subject="For billing"))
    with running_poller(runtime, imap_mailbox(dovecot, user, department="billing")):
        wait_for(lambda: item_subjects(runtime), "the message stored")
    delivery = runtime.deliverer.deliver(_fetch(dovecot, user, 1, ("billing@office.test",)))
    assert (delivery.created, delivery.department_id) == (False, "billing")
    with transaction(runtime.sessions, write=False) as session:
        assert session.get_one(Item, delivery.item_id).other_departments == ["sales"]


def _fetch(dovecot: Dovecot, user: str, uid: int, recipients: tuple[str, ...] = ()) -> InboundMessage:
    """The message as the poller would fetch it, without the poller's move or flag."""
    with IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=5) as client:
        client.login(user, PASSWORD)
        client.normalise_times = False
        client.select_folder("INBOX", readonly=True)
        return fetched_message(client.fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"])[uid], recipients)


def test_a_crash_between_commit_and_move_makes_no_duplicate(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Done")
    dovecot.save(user, email_bytes(subject="Stored, never moved"))
    # What the poller does before it moves, committed; then the process died.
    first = runtime.deliverer.deliver(_fetch(dovecot, user, 1))
    assert first.created
    with running_poller(runtime, imap_mailbox(dovecot, user, after="move", move_to="Done")):
        wait_for(lambda: folder_flags(dovecot, user, "Done"), "the message moved after the restart")
    assert item_subjects(runtime) == ["Stored, never moved"]
    assert folder_flags(dovecot, user, "INBOX") == []


def test_a_new_uidvalidity_resyncs_without_duplicates(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Shared")
    first, second = email_bytes(subject="First"), email_bytes(subject="Second", message_id=None)
    dovecot.save(user, first, "Shared")
    mailbox = imap_mailbox(dovecot, user, folder="Shared")
    with running_poller(runtime, mailbox):
        wait_for(lambda: item_subjects(runtime), "the first message stored")
    before = mailbox_state(runtime, user)
    dovecot.doveadm_run("mailbox", "delete", "-u", user, "Shared")
    dovecot.doveadm_run("mailbox", "create", "-u", user, "Shared")
    for raw in (second, first, second):  # the old mail back, and a copy without Message-ID
        dovecot.save(user, raw, "Shared")
    with running_poller(runtime, mailbox):
        wait_for(lambda: (s := mailbox_state(runtime, user)) and s.last_uid == 3, "the new folder read")
    after = mailbox_state(runtime, user)
    assert before is not None and after is not None
    assert after.uidvalidity != before.uidvalidity
    assert item_subjects(runtime) == ["First", "Second"]


def test_a_kicked_session_reconnects_and_catches_up(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    # A backoff long enough that the mail below arrives while the poller is away.
    mailbox = imap_mailbox(dovecot, user, backoff_seconds=0.3, backoff_max_seconds=0.3)
    with running_poller(runtime, mailbox):
        wait_for(lambda: _ready(runtime, user), "the first catch-up")
        dovecot.doveadm_run("kick", user)
        dovecot.save(user, email_bytes(subject="While disconnected"))
        wait_for(lambda: item_subjects(runtime), "the message stored after the reconnect")
        wait_for(lambda: mailbox_state(runtime, user).failures == 0, "the reconnect recorded")  # type: ignore[union-attr]
    state = mailbox_state(runtime, user)
    assert state is not None and state.last_error is not None and state.last_error_at is not None
    assert state.last_error.startswith("ConnectionLost")
    assert state.last_success_at is not None and state.last_success_at > state.last_error_at
    assert item_subjects(runtime) == ["While disconnected"]


def test_a_bad_password_shows_the_mailbox_failing_without_crashing(
    runtime: Runtime, dovecot: Dovecot
) -> None:
    user = dovecot.new_user()
    mailbox = imap_mailbox(dovecot, user, password="wrong")
    settings = dataclasses.replace(runtime.settings, imap=(mailbox,))
    with running_poller(runtime, mailbox) as poller:
        wait_for(lambda: _health(runtime, user).state == "failing", "the mailbox shown failing")
        assert poller.is_alive()
    health = _health(runtime, user)
    assert health.last_success_at is None
    assert health.last_error is not None and "LoginError" in health.last_error
    client = office_client(
        create_app(
            SettingsHolder(settings),
            runtime.engine,
            runtime.sessions,
            runtime.deliverer,
            runtime.inbox.accept,
        ),
        runtime.sessions,
    )
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json is not None
    [detail] = response.json["mailboxes"]
    assert (detail["name"], detail["state"]) == (user, "failing")
    assert "LoginError" in detail["last_error"]
    page = client.get("/").get_data(as_text=True)
    assert user in page and "failing" in page


def _health(runtime: Runtime, name: str) -> MailboxHealth:
    with transaction(runtime.sessions, write=False) as session:
        [health] = mailbox_health(session, [name])
        return health


def _office_reading(tmp_path: Path, dovecot: Dovecot, user: str) -> Path:
    data = tomllib.loads(OFFICE.read_text())
    data["imap"] = [
        {
            "name": "office-inbox",
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": user,
            "password_env": "TEST_IMAP_PASSWORD",
            "backoff_seconds": 0.05,
        }
    ]
    path = tmp_path / "office.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _start_intake(config: Path, database_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "INTAKE_DATABASE_URL": database_url, "TEST_IMAP_PASSWORD": PASSWORD}
    command = [sys.executable, "-m", "intake", "--config", str(config), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop_intake(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=WAIT_DEADLINE_SECONDS)
    assert process.returncode == 0, output
    return output


def test_intake_imap_runs_the_pollers_and_stops_on_sigterm(
    runtime: Runtime, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user()
    dovecot.save(user, email_bytes(subject="Through intake imap"))
    process = _start_intake(_office_reading(tmp_path, dovecot, user), runtime.settings.database.url, "imap")
    try:
        wait_for(lambda: item_subjects(runtime), "the message stored by `intake imap`")
    finally:
        output = _stop_intake(process)
    assert f"IMAP reading office-inbox ({user}@127.0.0.1, INBOX)" in output
    assert "SMTP listening" not in output and "Web listening" not in output
    assert item_subjects(runtime) == ["Through intake imap"]


def test_intake_serve_reads_imap_too_and_shows_it_in_healthz(
    runtime: Runtime, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user()
    web = f"127.0.0.1:{free_port()}"
    config = _office_reading(tmp_path, dovecot, user)
    process = _start_intake(
        config, runtime.settings.database.url, "serve", "--smtp", f"127.0.0.1:{free_port()}", "--web", web
    )
    try:
        dovecot.save(user, email_bytes(subject="Through intake serve"))
        wait_for(lambda: item_subjects(runtime), "the message stored by `intake serve`")
        add_person(runtime.sessions, "monitor")
        token = new_token(runtime.sessions, "monitor")
        wait_for(lambda: _healthz(web, token)["mailboxes"][0]["state"] == "ok", "the mailbox shown ok")
    finally:
        _stop_intake(process)


def _healthz(web: str, token: str) -> dict[str, Any]:
    """The detail of /healthz, which names the mailboxes to an API token only."""
    request = urllib.request.Request(f"http://{web}/healthz", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            found: dict[str, Any] = json.load(response)
            return found
    except OSError:
        return {"mailboxes": [{"state": "not answering yet"}]}


def test_intake_imap_without_mailboxes_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(OFFICE), "imap"]) == 2
    assert capsys.readouterr().err == f"intake: {OFFICE} names no IMAP mailbox ([[imap]])\n"


def test_a_dead_connection_is_noticed_and_replaced(runtime: Runtime, dovecot: Dovecot) -> None:
    user = dovecot.new_user()
    proxy = BlackHoleProxy(dovecot.port)
    mailbox = imap_mailbox(dovecot, user, port=proxy.port, idle_renew_seconds=0.3, timeout_seconds=0.5)
    try:
        with running_poller(runtime, mailbox):
            wait_for(lambda: _ready(runtime, user), "the first catch-up")
            proxy.black_hole()  # the EXISTS for the mail below never arrives
            dovecot.save(user, email_bytes(subject="Sent into the void"))
            wait_for(lambda: item_subjects(runtime), "the message stored over a new connection")
    finally:
        proxy.close()
    state = mailbox_state(runtime, user)
    assert state is not None and state.last_error is not None
    assert state.last_error.startswith("TimeoutError")


def test_xoauth2_login_reads_the_token_file_at_every_login(
    runtime: Runtime, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.new_user()
    token = tmp_path / "token"
    token.write_text("expired-token\n")
    dovecot.save(user, email_bytes(subject="Read with a token"))
    mailbox = imap_mailbox(dovecot, user, password=None, oauth2_token_file=token)
    with running_poller(runtime, mailbox):
        wait_for(lambda: _health(runtime, user).state == "failing", "the expired token refused")
        token.write_text(PASSWORD + "\n")  # what a token refresher would do
        wait_for(lambda: item_subjects(runtime), "the message stored with the fresh token")
    assert "XOAUTH2" in dovecot.log()
