"""Answering an item from its page and from the API: the request stores the reply and
queues its sending (routing.queues.replies); the reply worker sends it later, so no
request waits on a mail server.

The page's form posts to /items/<id>/reply (text, channel, and the key it was shown
with) and, once the reply is stored, is sent back to /items/<id>?sent=<key>; the API's POST /api/v1/items/<id>/reply takes {"text", "channel", "key"} (the key
optional) and answers 202 with the reply. The same key and text again answer the reply
stored the first time: a double click or a request sent again sends one reply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, url_for
from flask import request as web_request
from flask_babel import gettext
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response as BaseResponse

from config.twilio_section import MAX_TEXT
from intake.email.reply_mail import email_addressing
from intake.phone.texting import text_addressing
from routing.queues import replies, triage
from routing.queues.templates import filled_templates
from routing.store.database import StorageUnavailable
from routing.store.models import Reply, utcnow
from web.access import person, visible_item
from web.actions import BadField, refused, wants_json
from web.storage import reading, storage, writing

blueprint = Blueprint("replies", __name__)


def addresses() -> dict[str, replies.Address]:
    """The channels a reply can go by in this office, each with its way of addressing one."""
    settings = storage().settings
    texts = {channel: text_addressing(settings, channel) for channel in replies.TEXT_CHANNELS}
    return {"email": email_addressing(settings), **texts}


def answer(item_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store the reply the fields describe; raises TriageError (400), NoSuchItem (404)."""
    text, channel, key = fields.get("text"), fields.get("channel") or None, fields.get("key") or None
    if not isinstance(text, str):
        raise BadField("text is required: the words of the reply")
    if channel is not None and not isinstance(channel, str):
        raise BadField(f"channel must be one of {', '.join(replies.CHANNELS)}")
    if key is not None and not isinstance(key, str):
        raise BadField(replies.BAD_REQUEST_KEY)
    # The write holds SQLite's one writer: the channels are worked out before it, the JSON after.
    ways = addresses()
    with writing() as session:
        reply = replies.answer(session, item_id, person(), text, channel, ways, utcnow(), key)
    return reply_json(reply)


@blueprint.app_template_global()
def reply_limit(channel: str) -> int:
    """The most characters an answer by `channel` may have: the answer box holds no more."""
    return MAX_TEXT if channel in replies.TEXT_CHANNELS else replies.MAX_REPLY


@blueprint.app_template_global()
def counted_as_text(channel: str) -> bool:
    """Whether an answer by `channel` is a text, whose length the answer box counts down as
    Twilio counts it (config.twilio_section.text_length)."""
    return channel in replies.TEXT_CHANNELS


@blueprint.app_template_global()
def new_reply_key() -> str:
    """The answer form's key, new each time the item's page is shown."""
    return replies.new_request_key()


def listed(item_id: int) -> list[dict[str, Any]]:
    """The item's replies, oldest first, for the API."""
    with reading() as session:
        return [reply_json(reply) for reply in visible_item(session, item_id).replies]


def templates(item_id: int) -> list[tuple[str, str]]:
    """(name, text) of the canned answers for the item, its fields filled in."""
    with reading() as session:
        return filled_templates(storage().settings, visible_item(session, item_id))


def reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "item": reply.item_id,
        "kind": reply.kind,
        "channel": reply.channel,
        "status": reply.status,
        "last_error": reply.last_error,
        "author": reply.author,
        "from": reply.sender,
        "to": reply.recipient,
        "subject": reply.subject,
        "message_id": reply.message_id,
        "text": reply.text,
        "created_at": reply.created_at.isoformat(),
        "sent_at": reply.sent_at.isoformat() if reply.sent_at else None,
    }


@blueprint.post("/items/<int:item_id>/reply")
def page(item_id: int) -> BaseResponse | tuple[Response, int]:
    """The item page's answer form (and its keyboard script, asking for JSON)."""
    return sent_from_page(
        item_id,
        answer,
        "reply",
        lambda shown: gettext(
            "Reply to item %(id)s stored; it is being sent to %(to)s.", id=item_id, to=shown["to"]
        ),
    )


def sent_from_page(
    item_id: int,
    store: Callable[[int, Mapping[str, Any]], dict[str, Any]],
    key: str,
    done: Callable[[dict[str, Any]], str],
) -> BaseResponse | tuple[Response, int]:
    """A form of the item page that stores something to send (an answer, a forward): JSON
    under `key` for the keyboard script, else back to the item with `done`'s message and
    the form's key as `sent`."""
    back = url_for("queue.item", item_id=item_id)
    try:
        shown = store(item_id, web_request.form)
    except triage.NoSuchItem as error:
        raise NotFound(str(error)) from None
    except triage.TriageError as error:
        return refused(str(error), back)
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None
    if wants_json():
        return jsonify({key: shown}), 202
    flash(done(shown), "done")
    # The form's key named in the address tells item.js that what was typed is stored.
    return redirect(url_for("queue.item", item_id=item_id, sent=web_request.form.get("key") or None), 303)
