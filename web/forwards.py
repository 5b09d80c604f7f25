"""Forwarding an item from its page and from the API: the request stores the forward and
queues its sending (routing.queues.forwards); the reply worker sends it, with the
original message attached.

The page's dialog posts to /items/<id>/forward (to, note); the API's
POST /api/v1/items/<id>/forward takes {"to", "note"} and answers 202 with the forward.
`to` is an email address outside the office, or a department whose `forward_to` it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from intake.email.forward_mail import forward_addressing
from routing.queues.forwards import forward
from routing.store.models import Item, utcnow
from web.access import person
from web.actions import BadField
from web.replies import reply_json, sent_from_page
from web.storage import storage, writing

blueprint = Blueprint("forwards", __name__)


def forwarded(item_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store the forward the fields describe; raises TriageError (400), NoSuchItem (404)."""
    to, note = fields.get("to"), fields.get("note", "")
    if not isinstance(to, str):
        raise BadField("to is required: an email address, or a department with a forward_to address")
    if not isinstance(note, str):
        raise BadField("note must be text")
    address = forward_addressing(storage().settings, to)
    with writing() as session:
        return reply_json(forward(session, item_id, person(), note, address, utcnow()))


@dataclass(frozen=True)
class Forwarding:
    """What the item page's forward dialog offers: the departments' outside addresses."""

    addresses: list[tuple[str, str]]


def forwarding(item: Item) -> Forwarding | None:
    """The forward dialog for the item, or None where it cannot be forwarded (no relay;
    a resolved or spam item: reopen it first)."""
    settings = storage().settings
    if settings.outbound.server is None or item.spam or item.status == "resolved":
        return None
    return Forwarding([(d.forward_to, d.name) for d in settings.departments if d.forward_to])


@blueprint.post("/items/<int:item_id>/forward")
def page(item_id: int) -> BaseResponse | tuple[Response, int]:
    """The item page's forward dialog (and its keyboard script, asking for JSON)."""
    return sent_from_page(
        item_id,
        forwarded,
        "forward",
        lambda shown: gettext("Item %(id)s is being forwarded to %(to)s.", id=item_id, to=shown["to"]),
    )
