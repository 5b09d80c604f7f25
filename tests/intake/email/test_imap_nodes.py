"""Two `intake serve` nodes on one PostgreSQL and one Dovecot mailbox: one reads it at a
time, and the survivor takes it over when the reader is killed with SIGKILL."""

from __future__ import annotations

import re
import socket
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import tomli_w
from sqlalchemy import Select, create_engine, select

from routing.store.models import Item, MailboxState
from tests.conftest import OFFICE
from tests.support.dovecot import PASSWORD, Dovecot, wait_for
from tests.support.mail import email_bytes
from tests.support.people import HttpUser
from tests.support.serving import ServeProcess

pytestmark = pytest.mark.postgresql

LEASE_SECONDS = 2.0
T = TypeVar("T")
READ = re.compile(r"office-inbox: UID (\d+) is item")


def _office(tmp_path: Path, dovecot: Dovecot, user: str) -> Path:
    """The test office reading `user`'s mailbox, flagging what it stored (so that mail read
    twice would be there to read again), under a short lease."""
    data = tomllib.loads(OFFICE.read_text())
    data["imap"] = [
        {
            "name": "office-inbox",
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": user,
            "password": PASSWORD,
            "backoff_seconds": 0.05,
            "lease_seconds": LEASE_SECONDS,
        }
    ]
    path = tmp_path / "office.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.fixture
def nodes(postgresql_url: str, dovecot: Dovecot, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    user = dovecot.new_user()
    yield user, _office(tmp_path, dovecot, user)


def _subjects(database_url: str) -> Counter[str]:
    return Counter(_query(database_url, select(Item.subject)))


def _last_uid(database_url: str) -> int:
    return sum(_query(database_url, select(MailboxState.last_uid)))


def _query(database_url: str, query: Select[tuple[T]]) -> list[T]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(query))
    finally:
        engine.dispose()


def _read_uids(node: ServeProcess) -> list[int]:
    return [int(found[1]) for line in node.output if (found := READ.search(line))]


def _reader(admin: HttpUser, node: ServeProcess) -> str:
    """The reader of the mailbox as the node's /healthz names it, without its random part."""
    health = admin.get_json(f"http://127.0.0.1:{node.web_port}/healthz")
    reader: str = health["mailboxes"][0]["reader"]
    return reader.rpartition(":")[0]


def _holder_prefix(node: ServeProcess) -> str:
    return f"{socket.gethostname()}:{node.process.pid}"


def _logins(dovecot: Dovecot, user: str) -> int:
    return dovecot.log().count(f"Login: user=<{user}>")


def _save(dovecot: Dovecot, user: str, numbers: range) -> None:
    for number in numbers:
        raw = email_bytes(subject=f"Mail {number}", message_id=f"<m{number}@client.example>")
        dovecot.save(user, raw)


def test_two_nodes_read_one_mailbox_once_and_the_survivor_takes_over(
    nodes: tuple[str, Path], postgresql_url: str, dovecot: Dovecot
) -> None:
    user, config = nodes
    first = ServeProcess(config, postgresql_url)
    second: ServeProcess | None = None
    try:
        first.wait_for_line("imap:office-inbox: lease taken")
        second = ServeProcess(config, postgresql_url)
        second.wait_until_running()
        _save(dovecot, user, range(1, 6))
        wait_for(lambda: len(_read_uids(first)) == 5, "five mails read")
        assert (_read_uids(first), _read_uids(second)) == ([1, 2, 3, 4, 5], [])
        assert _logins(dovecot, user) == 1  # the second node never logged in
        admin = first.user
        # Either node's /healthz says which node reads the mailbox.
        assert [_reader(admin, node) for node in (first, second)] == [_holder_prefix(first)] * 2
        # Killed between a commit and saving its position, a node leaves that mail to be read
        # again (deliver() keeps one item); here it is killed with nothing in hand.
        wait_for(lambda: _last_uid(postgresql_url) == 5, "the position saved")

        first.process.kill()
        first.process.wait()
        _save(dovecot, user, range(6, 11))
        wait_for(lambda: len(_read_uids(second)) == 5, "the survivor reading the next five")
        assert _reader(admin, second) == _holder_prefix(second)
    finally:
        for node in (first, second):
            if node is not None:
                node.stop()
    assert _read_uids(second) == [6, 7, 8, 9, 10]
    assert any("imap:office-inbox: lease taken" in line for line in second.output)
    assert _subjects(postgresql_url) == Counter(f"Mail {number}" for number in range(1, 11))
    assert _logins(dovecot, user) == 2
