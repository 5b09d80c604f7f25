"""GET /healthz: whether this process can reach its database, how each mailbox is read,
and how many notifications wait to be sent or have failed.

The status code means "the database answers"; a failing IMAP mailbox (also shown on the
queue page) or a backlog of notifications shows in the detail without making the whole
process look down. Anyone (a load balancer, a monitor) gets the status and the counts;
the mailboxes' names and errors only a signed-in person or an API token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from routing.store import outbox
from routing.store.database import database_answers
from routing.store.mailboxes import MailboxHealth, mailbox_health
from web.auth import signed_in_person
from web.storage import reading, storage

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    if not database_answers(storage().engine):
        return jsonify(status="unavailable", database="not answering"), 503
    if signed_in_person() is None:
        return jsonify(status="ok", database="ok", notifications=notifications()), 200
    return jsonify(
        status="ok",
        database="ok",
        mailboxes=[_detail(m) for m in mailboxes()],
        notifications=notifications(),
    ), 200


def mailboxes() -> list[MailboxHealth]:
    """The health of every IMAP mailbox the config names."""
    names = [mailbox.name for mailbox in storage().settings.imap]
    if not names:
        return []
    with reading() as session:
        return mailbox_health(session, names)


def notifications() -> dict[str, int]:
    """How many notifications wait in the outbox ("pending") and how many gave up ("failed")."""
    with reading() as session:
        return outbox.counts(session, ("pending", "failed"))


def _detail(health: MailboxHealth) -> dict[str, Any]:
    return {
        "name": health.name,
        "state": health.state,
        "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
        "last_error": health.last_error,
        "last_error_at": health.last_error_at.isoformat() if health.last_error_at else None,
        "failures": health.failures,
    }
