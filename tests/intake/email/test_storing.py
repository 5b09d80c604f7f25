"""Email that once broke parsing or storing is stored, over deliver() and over real SMTP."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text

from intake.cli.runtime import Runtime
from intake.email.parser import EmailLimits, Envelope
from intake.email.storing import store_email
from routing import message
from routing.store.database import UnstorableMessage, transaction
from routing.store.models import Attachment
from tests.intake.email.test_robustness import REAL_MAIL, SOURCES, damaged
from tests.support.mail import email_bytes
from tests.support.smtp import client, item_count, running, send, stored_item

SMTP_ENVELOPE = Envelope("a@client.example", (), ("sales@office.test",))


@contextmanager
def refusing_values(engine: Engine, column: str, value: str, table: str = "items") -> Iterator[None]:
    """Inside the block PostgreSQL refuses a row of `table` (an item) whose `column` is
    `value` as bad data (SQLSTATE 22000, a data exception), as it refuses a NUL or a
    malformed byte."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION refuse_value() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'bad value' USING ERRCODE = '22000'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        connection.execute(
            text(
                f"CREATE TRIGGER refuse_value BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_value()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER refuse_value ON {table}"))
            connection.execute(text("DROP FUNCTION refuse_value()"))


def only_on_postgresql(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores any value: it has no data exceptions")


@pytest.mark.parametrize("name", sorted(REAL_MAIL))
def test_real_mail_that_broke_parsing_is_stored_parsed(runtime: Runtime, name: str) -> None:
    delivery = store_email(runtime.deliverer.deliver, REAL_MAIL[name], SMTP_ENVELOPE, limits=EmailLimits())
    item = stored_item(runtime, delivery.item_id)
    assert (item.raw.content, item.sender, delivery.department_id) == (
        REAL_MAIL[name],
        "a@client.example",
        "sales",
    )
    assert not any("stored raw only" in defect for defect in item.parse_defects)


def test_over_smtp_a_nul_in_an_attachment_type_is_accepted_and_stored(runtime: Runtime) -> None:
    raw = REAL_MAIL["NUL in an attachment's content type"]
    with running(runtime) as server, client(server) as connection:
        code, _ = send(connection, raw)
    assert code == 250
    with transaction(runtime.sessions, write=False) as session:
        # The database is this test's own: the one message's attachments are all there are.
        stored = session.execute(select(Attachment.content_type))
        assert list(stored.scalars()) == ["application/xy"]


def test_a_value_postgresql_refuses_is_unstorable_not_an_outage(runtime: Runtime) -> None:
    only_on_postgresql(runtime)
    refused = message.InboundMessage(
        channel="email",
        sender="a@client.example",
        recipients=("sales@office.test",),
        subject="Bad type",
        text="",
        idempotency_key="email:bad-type",
        received_at=datetime.now(UTC),
        raw=b"raw",
        raw_content_type="message/rfc822",
        attachments=(message.Attachment("a.bin", "application/x\x00y", b"data"),),
    )
    with pytest.raises(UnstorableMessage):
        runtime.deliverer.deliver(refused)
    assert item_count(runtime) == 0


def test_mail_whose_parsed_form_is_refused_is_stored_raw_only(runtime: Runtime) -> None:
    only_on_postgresql(runtime)
    raw = email_bytes(subject="Refused as parsed")
    with refusing_values(runtime.engine, "subject", "Refused as parsed"):
        delivery = store_email(runtime.deliverer.deliver, raw, SMTP_ENVELOPE, limits=EmailLimits())
        again = store_email(runtime.deliverer.deliver, raw, SMTP_ENVELOPE, limits=EmailLimits())
    item = stored_item(runtime, delivery.item_id)
    assert (item.raw.content, item.subject, item.sender, delivery.department_id) == (
        raw,
        "",
        "a@client.example",
        "sales",
    )
    [defect] = item.parse_defects
    assert defect.startswith("the database refused a value (") and defect.endswith("; stored raw only")
    assert (again.item_id, again.created) == (delivery.item_id, False)


def test_over_smtp_mail_the_inbox_refuses_gets_a_permanent_554(runtime: Runtime) -> None:
    only_on_postgresql(runtime)
    raw = email_bytes(sender="bad@client.example", subject="Never storable")
    with (
        refusing_values(runtime.engine, "sender", "bad@client.example", table="inbox"),
        running(runtime) as server,
        client(server) as connection,
    ):
        code, reply = send(connection, raw, sender="bad@client.example")
    assert (code, reply.split()[0]) == (554, "5.6.0")
    assert item_count(runtime) == 0


def test_damaged_mail_is_stored_parsed_on_every_database(runtime: Runtime) -> None:
    rng = random.Random("stored")
    sources = sorted(SOURCES)
    keys = set()
    for _ in range(60):
        raw = damaged(SOURCES[rng.choice(sources)], rng)
        delivery = store_email(runtime.deliverer.deliver, raw, SMTP_ENVELOPE, limits=EmailLimits(max_parts=5))
        item = stored_item(runtime, delivery.item_id)
        assert not any("stored raw only" in defect for defect in item.parse_defects), raw
        keys.add(item.idempotency_key)
    assert item_count(runtime) == len(keys)
