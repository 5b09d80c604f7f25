"""Stored IMAP positions and mailbox health, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from intake.cli.runtime import Runtime
from routing.store.database import transaction
from routing.store.mailboxes import (
    MAX_ERROR_LENGTH,
    UNHEALTHY_AFTER,
    MailboxHealth,
    MailboxStore,
    Position,
    mailbox_health,
)
from routing.store.models import Base, MailboxState
from routing.store.search_index import outside_models


def _health(runtime: Runtime, *names: str) -> list[MailboxHealth]:
    with transaction(runtime.sessions, write=False) as session:
        return mailbox_health(session, list(names))


def test_a_position_holds_only_for_the_same_folder_and_uidvalidity(runtime: Runtime) -> None:
    store = MailboxStore(runtime.sessions, "shared")
    assert store.position("INBOX", 7) == Position("INBOX", 7, 0)
    store.save_position(Position("INBOX", 7, 42))
    assert store.position("INBOX", 7) == Position("INBOX", 7, 42)
    assert store.position("INBOX", 8) == Position("INBOX", 8, 0)  # the folder was re-created
    assert store.position("Archive", 7) == Position("Archive", 7, 0)  # the config names another folder
    assert MailboxStore(runtime.sessions, "other").position("INBOX", 7).last_uid == 0


def test_uidvalidity_above_32_bit_signed_is_kept(runtime: Runtime) -> None:
    store = MailboxStore(runtime.sessions, "big")
    store.save_position(Position("INBOX", 4_294_967_295, 4_000_000_000))
    assert store.position("INBOX", 4_294_967_295).last_uid == 4_000_000_000


def test_health_moves_from_waiting_to_failing_and_back(runtime: Runtime) -> None:
    store = MailboxStore(runtime.sessions, "shared")
    assert _health(runtime, "shared") == [MailboxHealth("shared", "waiting")]
    for attempt in range(1, UNHEALTHY_AFTER):
        store.record_failure(f"OSError: attempt {attempt}")
        assert _health(runtime, "shared")[0].state == "ok"  # one lost connection is routine
    store.record_failure("LoginError: wrong password")
    [failing] = _health(runtime, "shared")
    assert (failing.state, failing.failures, failing.last_success_at) == ("failing", UNHEALTHY_AFTER, None)
    assert failing.last_error == "LoginError: wrong password"
    assert failing.last_error_at is not None and failing.last_error_at.tzinfo is not None
    store.record_success()
    [healed] = _health(runtime, "shared")
    assert (healed.state, healed.failures, healed.last_error) == ("ok", 0, "LoginError: wrong password")
    assert healed.last_success_at is not None and healed.last_success_at >= failing.last_error_at


def test_health_lists_the_named_mailboxes_in_order(runtime: Runtime) -> None:
    MailboxStore(runtime.sessions, "b").record_success()
    MailboxStore(runtime.sessions, "a").record_failure("x" * (MAX_ERROR_LENGTH + 10))
    found = _health(runtime, "c", "b", "a")
    assert [(h.name, h.state) for h in found] == [("c", "waiting"), ("b", "ok"), ("a", "ok")]
    assert found[2].last_error == "x" * MAX_ERROR_LENGTH


def test_position_and_health_share_one_row(runtime: Runtime) -> None:
    store = MailboxStore(runtime.sessions, "shared")
    store.save_position(Position("INBOX", 3, 9))
    store.record_failure("OSError: gone")
    with transaction(runtime.sessions, write=False) as session:
        row = session.get(MailboxState, "shared")
        assert row is not None
        assert (row.folder, row.uidvalidity, row.last_uid, row.failures) == ("INBOX", 3, 9, 1)


def test_the_migrations_match_the_models(runtime: Runtime) -> None:
    with runtime.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"include_name": outside_models}), Base.metadata
        )
    assert differences == []
