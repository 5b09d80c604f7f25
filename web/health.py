"""GET /healthz: whether this process can reach its database, how each mailbox is read,
how many accepted messages wait in the inbox (and the oldest one's age), and how many
jobs of each kind (notifications, downloads) wait or have failed.

The status code means "the database answers"; a failing IMAP mailbox (also shown on the
queue page) or a backlog of jobs shows in the detail without making the whole process
look down. `notifications` repeats the notification jobs' counts under the key it had
before every kind of job shared one queue. Anyone (a load balancer, a monitor) gets the status and the counts;
the mailboxes' names and errors only a signed-in person or an API token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from routing.store import inbox, jobs
from routing.store.database import database_answers
from routing.store.mailboxes import MailboxHealth, mailbox_health
from web.auth import signed_in_person
from web.storage import reading, storage

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    if not database_answers(storage().engine):
        return jsonify(status="unavailable", database="not answering"), 503
    counts = job_counts()
    waiting = {"notifications": counts[jobs.NOTIFICATION], "jobs": counts, "inbox": inbox_backlog()}
    if signed_in_person() is None:
        return jsonify(status="ok", database="ok", **waiting), 200
    return jsonify(status="ok", database="ok", mailboxes=[_detail(m) for m in mailboxes()], **waiting), 200


def mailboxes() -> list[MailboxHealth]:
    """The health of every IMAP mailbox the config names."""
    names = [mailbox.name for mailbox in storage().settings.imap]
    if not names:
        return []
    with reading() as session:
        return mailbox_health(session, names)


def inbox_backlog() -> dict[str, float]:
    """How many accepted messages wait to be made items, and how long the oldest has waited."""
    with reading() as session:
        backlog = inbox.backlog(session)
    age = (datetime.now(UTC) - backlog.oldest).total_seconds() if backlog.oldest else 0.0
    return {"depth": backlog.depth, "oldest_seconds": round(max(age, 0.0), 1)}


def job_counts() -> dict[str, dict[str, int]]:
    """Per kind of job, how many wait ("pending") and how many gave up ("failed")."""
    with reading() as session:
        return jobs.counts(session)


def _detail(health: MailboxHealth) -> dict[str, Any]:
    return {
        "name": health.name,
        "state": health.state,
        "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
        "last_error": health.last_error,
        "last_error_at": health.last_error_at.isoformat() if health.last_error_at else None,
        "failures": health.failures,
        "reader": health.reader,
    }
