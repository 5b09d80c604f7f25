"""GET /healthz: whether this process can reach its database, and how each mailbox is read.

The status code means "the database answers"; a failing IMAP mailbox shows in the
detail (and on the queue page) without making the whole process look down.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from routing.database import database_answers
from routing.mailboxes import MailboxHealth, mailbox_health
from web.storage import reading, storage

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    if database_answers(storage().engine):
        return jsonify(status="ok", database="ok", mailboxes=[_detail(m) for m in mailboxes()]), 200
    return jsonify(status="unavailable", database="not answering"), 503


def mailboxes() -> list[MailboxHealth]:
    """The health of every IMAP mailbox the config names."""
    names = [mailbox.name for mailbox in storage().settings.imap]
    if not names:
        return []
    with reading() as session:
        return mailbox_health(session, names)


def _detail(health: MailboxHealth) -> dict[str, Any]:
    return {
        "name": health.name,
        "state": health.state,
        "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
        "last_error": health.last_error,
        "last_error_at": health.last_error_at.isoformat() if health.last_error_at else None,
        "failures": health.failures,
    }
