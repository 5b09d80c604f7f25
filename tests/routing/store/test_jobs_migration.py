"""Migration 0014: the notifications and downloads waiting in their old tables move into
the one job queue, and back again on a downgrade, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select

from config.settings import Settings
from intake.email.parser import parse_email
from intake.rules.rule_tests import build_router
from routing.delivery import Deliverer
from routing.engine import RouterHolder
from routing.store import jobs
from routing.store.database import make_engine, make_session_factory, transaction
from routing.store.item_rows import new_blob
from routing.store.models import Attachment, Job
from routing.store.schema import MIGRATIONS, sync_departments
from tests.support.mail import email_bytes

BEFORE = "0013_session_epoch"
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings.database)
    yield made
    made.dispose()


def _table(engine: Engine, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=engine)


def _rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    table = _table(engine, name)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(table).order_by(table.c.id)).mappings()]


def _old_office(engine: Engine, settings: Settings) -> tuple[int, int]:
    """An office at revision 0013 with one item and its waiting work; the item and a file's ids.

    The item is delivered by today's code at the newest revision, then the schema is taken
    back to 0013, where the old tables get their waiting rows."""
    _migrate(engine, "head")
    sessions = make_session_factory(engine)
    sync_departments(sessions, settings)
    item_id = (
        Deliverer(sessions, RouterHolder(build_router(settings))).deliver(parse_email(email_bytes())).item_id
    )
    with transaction(sessions) as session:
        attachment = Attachment(
            item_id=item_id,
            filename="RE1.wav",
            content_type="audio/wav",
            size=4,
            inline=False,
            blob=new_blob(b"RIFF"),
        )
        session.add(attachment)
        session.flush()
        attachment_id = attachment.id
    _migrate(engine, BEFORE, down=True)
    common = {"item_id": item_id, "next_attempt_at": AT, "created_at": AT, "last_error": None}
    notification = {**common, "department_id": "sales"}
    download = {**common, "purpose": "media", "attachment_id": None}
    with engine.begin() as connection:
        connection.execute(
            _table(engine, "notifications").insert(),
            [
                {**notification, "id": 41, "kind": "email", "target": "a@office.test", "status": "sent", "attempts": 1},
                {**notification, "id": 42, "kind": "digest", "target": "a@office.test", "status": "pending", "attempts": 1},
                {**notification, "id": 43, "kind": "webhook", "target": "https://chat.test/h", "status": "failed",
                 "attempts": 3, "last_error": "the webhook answered HTTP 500"},
            ],
        )  # fmt: skip
        connection.execute(
            _table(engine, "pending_downloads").insert(),
            [
                {**download, "url": "https://api.test/RE1", "filename": "RE1.wav", "purpose": "recording",
                 "status": "done", "attempts": 1, "attachment_id": attachment_id},
                {**download, "url": "https://api.test/ME1", "filename": "ME1.png", "status": "pending", "attempts": 0},
            ],
        )  # fmt: skip
    return item_id, attachment_id


def test_waiting_work_moves_into_the_job_queue_and_back(engine: Engine, settings: Settings) -> None:
    item_id, attachment_id = _old_office(engine, settings)
    _migrate(engine, "head")
    moved = [
        (r["id"], r["kind"], r["key"], r["batch"], r["status"], r["attempts"]) for r in _rows(engine, "jobs")
    ]
    assert moved[:2] == [
        (42, "notification", "digest", "digest sales", "pending", 1),
        (43, "notification", "webhook", None, "failed", 3),
    ]  # the same ids, so a retry keeps its Message-ID and X-Intake-Delivery; sent ones stay behind
    assert [row[1:] for row in moved[2:]] == [
        ("download", "RE1.wav", None, "done", 1),
        ("download", "ME1.png", None, "pending", 0),
    ]
    assert min(row[0] for row in moved[2:]) > 43
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        payloads = [job.payload for job in session.scalars(select(Job).order_by(Job.id))]
        assert payloads[1] == {"via": "webhook", "department_id": "sales", "target": "https://chat.test/h"}
        assert payloads[2] == {
            "url": "https://api.test/RE1", "filename": "RE1.wav", "purpose": "recording", "attachment_id": attachment_id
        }  # fmt: skip
        # A job queued after the upgrade takes a new id, past every moved one.
        jobs.add(
            session,
            jobs.DOWNLOAD,
            item_id,
            "ME2.png",
            {"url": "u", "filename": "ME2.png", "purpose": "media"},
            due=AT,
        )
        session.flush()
        assert session.scalars(select(Job.id).where(Job.key == "ME2.png")).one() > max(
            row[0] for row in moved
        )
    claimed = jobs.claim(sessions, [jobs.NOTIFICATION], AT + timedelta(seconds=1), 3)
    assert claimed is not None and claimed.id == 42  # running when the downgrade comes

    _migrate(engine, BEFORE, down=True)
    back = [
        (r["id"], r["kind"], r["status"], r["attempts"], r["next_attempt_at"] is not None)
        for r in _rows(engine, "notifications")
    ]
    assert back == [(42, "digest", "pending", 2, True), (43, "webhook", "failed", 3, True)]
    downloads = [(r["filename"], r["status"], r["attachment_id"]) for r in _rows(engine, "pending_downloads")]
    assert downloads == [
        ("RE1.wav", "done", attachment_id),
        ("ME1.png", "pending", None),
        ("ME2.png", "pending", None),
    ]
    _migrate(engine, "head")  # and up again, with what came back
    assert [r["id"] for r in _rows(engine, "jobs")][:2] == [42, 43]
