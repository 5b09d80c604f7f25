"""Every mail of the shared real-world corpus, sent through the real SMTP server, becomes an item.

The corpus lives beside the project's checkout (shared/corpus/email/*.eml) and is read
here at run time, never copied in; without it these tests skip. Each file is sent as a
mail server would send it (CRLF line endings) to an office address, and must come back
as exactly one item whose stored raw bytes are the bytes sent, with a sender or a
recorded defect saying why there is none. Nothing may be refused: a refusal would be a
lost message. CI sets INTAKE_TEST_REQUIRE_CORPUS=1, where a missing corpus fails.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.parser import parse_email
from routing.store.models import Blob, Item
from tests.conftest import OFFICE
from tests.support.inbox import wait_until_drained
from tests.support.smtp import running

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "email"
FILES = sorted(CORPUS.glob("*.eml")) if CORPUS.is_dir() else []
ENVELOPE_SENDER = "corpus@client.example"
OFFICE_ADDRESS = "hello@office.test"


def as_sent(path: Path) -> bytes:
    """The file as a mail server sends it: CRLF line endings, ending with one."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", path.read_bytes())
    return data if data.endswith(b"\r\n") else data + b"\r\n"


@functools.cache
def sent_digests() -> dict[str, Path]:
    """sha256 of each corpus file as sent -> the file."""
    return {hashlib.sha256(as_sent(path)).hexdigest(): path for path in FILES}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def corpus_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, int]]:
    """The test office on a fresh SQLite database, with its SMTP server listening."""
    database = tmp_path_factory.mktemp("corpus") / "intake.db"
    settings = load_settings(OFFICE, {"INTAKE_DATABASE_URL": f"sqlite:///{database}"})
    runtime = open_runtime(settings)
    with running(runtime) as server:
        yield runtime, server.public.port
    runtime.engine.dispose()


def send(port: int, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail(ENVELOPE_SENDER)
        code, reply = client.rcpt(OFFICE_ADDRESS)
        assert code == 250, reply
        return client.data(raw)


def test_the_corpus_is_present() -> None:
    if not FILES:
        message = f"no real-world mail corpus at {CORPUS} (it sits beside the checkout)"
        if os.environ.get("INTAKE_TEST_REQUIRE_CORPUS") == "1":
            pytest.fail(f"{message}, and INTAKE_TEST_REQUIRE_CORPUS=1")
        pytest.skip(message)
    assert len(FILES) > 100


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_corpus_mail_becomes_exactly_one_item(corpus_office: tuple[Runtime, int], path: Path) -> None:
    runtime, port = corpus_office
    raw = as_sent(path)
    code, reply = send(port, raw)
    assert code == 250, reply
    key = parse_email(raw).idempotency_key
    wait_until_drained(runtime.sessions)
    with runtime.sessions() as session:
        items = session.scalars(select(Item).where(Item.idempotency_key == key)).all()
        assert len(items) == 1
        (item,) = items
        stored = session.get_one(Blob, item.raw_blob_id)
        if stored.sha256 != hashlib.sha256(raw).hexdigest():
            # Another corpus file is the same message (same Message-ID, originator
            # headers and body, with other line endings or header folding): the item
            # made for it, byte for byte that file, is this file's item too, by design.
            assert sent_digests().get(stored.sha256, path) != path
        assert item.sender or any("sender" in defect for defect in item.parse_defects)
        assert item.department_id in {d.id for d in runtime.settings.departments}
        # The budgets against hostile mail are generous enough for every real mail.
        assert not [defect for defect in item.parse_defects if defect.startswith("over limit")]
