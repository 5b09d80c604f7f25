"""Forwarding an item from its page and from the API: the request stores the forward and
queues its sending (routing.queues.forwards); the reply worker sends it, with the
original message attached.

The page's dialog posts to /items/<id>/forward (to, note, and the key it was shown with);
the API's POST /api/v1/items/<id>/forward takes {"to", "note", "key"} (the key optional)
and answers 202 with the forward; the same key, address and note again answer the forward
stored the first time. `to` is an email address outside the office, or a department
whose `forward_to` it is.
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
from routing.queues.replies import BAD_REQUEST_KEY
from routing.store.models import Item, utcnow
from web.access import person
from web.actions import BadField
from web.replies import reply_json, sent_from_page
from web.storage import storage, writing

blueprint = Blueprint("forwards", __name__)


def forwarded(item_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store the forward the fields describe; raises TriageError (400), NoSuchItem (404)."""
    to, note, key = fields.get("to"), fields.get("note", ""), fields.get("key") or None
    if not isinstance(to, str):
        raise BadField("to is required: an email address, or a department with a forward_to address")
    if not isinstance(note, str):
        raise BadField("note must be text")
    if key is not None and not isinstance(key, str):
        raise BadField(BAD_REQUEST_KEY)
    address = forward_addressing(storage().settings, to)
    with writing() as session:
        return reply_json(forward(session, item_id, person(), note, address, utcnow(), key))


@dataclass(frozen=True)
class Forwarding:
    """What the item page's forward dialog offers: the departments' outside addresses."""

    addresses: list[tuple[str, str]]


def forwarding(item: Item) -> Forwarding | None:
    """The forward dialog for the item, or None where it cannot be forwarded (no relay;
    a resolved or spam item: reopen it first; a merged one: forward the item it joined)."""
    settings = storage().settings
    if settings.outbound.server is None or item.spam or item.status == "resolved":
        return None
    if item.merged_into_id is not None:
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
