"""The words a page shows for values the database keeps in English: statuses, priorities,
channels, roles, the actions of an item's history.

The stored value stays what forms send and the API shows; only the page reads it in the
person's language, through the `label` filter. A value not named here (a rule's tag, a
new kind of event) is shown as it is stored.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext

_WORDS = {
    # statuses and the status filter's views
    "new": lazy_gettext("new"),
    "claimed": lazy_gettext("claimed"),
    "resolved": lazy_gettext("resolved"),
    "open": lazy_gettext("open"),
    "all": lazy_gettext("all"),
    # priorities
    "low": lazy_gettext("low"),
    "normal": lazy_gettext("normal"),
    "high": lazy_gettext("high"),
    "urgent": lazy_gettext("urgent"),
    # channels, and the kinds of message taken by hand
    "email": lazy_gettext("email"),
    "sms": lazy_gettext("SMS"),
    "whatsapp": lazy_gettext("WhatsApp"),
    "voicemail": lazy_gettext("voicemail"),
    "phone-note": lazy_gettext("phone note"),
    "visit": lazy_gettext("visit"),
    "post": lazy_gettext("post"),
    # roles
    "admin": lazy_gettext("admin"),
    "receptionist": lazy_gettext("receptionist"),
    "staff": lazy_gettext("staff"),
    # what happened to an item (routing.queues.triage and the channels' events)
    "received": lazy_gettext("received"),
    "reply received": lazy_gettext("reply received"),
    "reopened": lazy_gettext("reopened"),
    "replied": lazy_gettext("replied"),
    "assigned": lazy_gettext("assigned"),
    "released": lazy_gettext("released"),
    "rerouted": lazy_gettext("rerouted"),
    "confirmed": lazy_gettext("confirmed"),
    "prioritised": lazy_gettext("prioritised"),
    "due": lazy_gettext("due"),
    "note": lazy_gettext("note"),
    "spam": lazy_gettext("spam"),
    "taken-by-hand": lazy_gettext("taken by hand"),
    "transcribed": lazy_gettext("transcribed"),
    "transcription failed": lazy_gettext("transcription failed"),
    "downloaded": lazy_gettext("downloaded"),
    "acknowledged": lazy_gettext("acknowledged"),
    "forwarded": lazy_gettext("forwarded"),
    "called back": lazy_gettext("called back"),
    "reply delivered": lazy_gettext("reply delivered"),
    "reply undelivered": lazy_gettext("reply undelivered"),
    "reply failed": lazy_gettext("reply failed"),
    # what admins did (routing.people.accounts.record)
    "user added": lazy_gettext("user added"),
    "role changed": lazy_gettext("role changed"),
    "user disabled": lazy_gettext("user disabled"),
    "password reset": lazy_gettext("password reset"),
    "token created": lazy_gettext("token created"),
    "token revoked": lazy_gettext("token revoked"),
    # a reply's state
    "queued": lazy_gettext("queued"),
    "sent": lazy_gettext("sent"),
    "failed": lazy_gettext("failed"),
    "delivered": lazy_gettext("delivered"),
    "undelivered": lazy_gettext("undelivered"),
    # mailboxes' states
    "ok": lazy_gettext("ok"),
    "failing": lazy_gettext("failing"),
    "waiting": lazy_gettext("waiting"),
}


def label(value: str) -> str:
    """The page's word for a stored value, or the value itself."""
    word = _WORDS.get(value)
    return str(word) if word is not None else value


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
