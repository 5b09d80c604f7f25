"""The words a page shows for values the database keeps in English: statuses, priorities,
channels, roles, the actions of an item's history, the kinds of machine mail, and why an
item needs a decision.

The stored value stays what forms send and the API shows; only the page reads it in the
person's language, through the `label` filter. A value not named here (a rule's tag, a
new kind of event) is shown as it is stored.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext

from routing import undecided
from web.storage import storage

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
    "erased": lazy_gettext("erased"),
    # what admins did (routing.people.accounts.record)
    "user added": lazy_gettext("user added"),
    "role changed": lazy_gettext("role changed"),
    "user disabled": lazy_gettext("user disabled"),
    "user enabled": lazy_gettext("user enabled"),
    "password reset": lazy_gettext("password reset"),
    "token created": lazy_gettext("token created"),
    "token revoked": lazy_gettext("token revoked"),
    # a reply's state
    "queued": lazy_gettext("queued"),
    "sent": lazy_gettext("sent"),
    "failed": lazy_gettext("failed"),
    "delivered": lazy_gettext("delivered"),
    "undelivered": lazy_gettext("undelivered"),
    # the kinds of machine mail (intake.email.machine_mail, intake.phone.sms)
    "bounce": lazy_gettext("bounce"),
    "read-receipt": lazy_gettext("read receipt"),
    "complaint": lazy_gettext("complaint"),
    "auto-reply": lazy_gettext("auto-reply"),
    "auto-generated": lazy_gettext("automatic mail"),
    "list": lazy_gettext("mailing list"),
    "bulk": lazy_gettext("bulk mail"),
    "automated": lazy_gettext("automated text"),
    # mailboxes' states
    "ok": lazy_gettext("ok"),
    "failing": lazy_gettext("failing"),
    "waiting": lazy_gettext("waiting"),
}


# Each kind of routing.undecided's reasons, with the same fields.
_WHY = {
    "machine": lazy_gettext("machine mail (%(machine)s) that no rule recognised"),
    "disagree": lazy_gettext(
        "the address and the words disagree: they read as %(department)s (%(confidence)s)"
    ),
    "below": lazy_gettext("weak suggestion: %(department)s (%(confidence)s, below %(threshold)s)"),
    "unkeyed": lazy_gettext("weak suggestion: %(department)s, on one word that is no keyword of it%(words)s"),
    "contested": lazy_gettext(
        "weak suggestion: %(department)s, on words that say as much for another department%(words)s"
    ),
    "unrouted": lazy_gettext("no rule or address chose a department"),
}


def label(value: str) -> str:
    """The page's word for a stored value, or the value itself."""
    word = _WORDS.get(value)
    return str(word) if word is not None else value


def why(reason: str) -> str:
    """Why an item needs a decision, in the page's language and with the department's
    name; a reason of no known pattern as it is stored."""
    found = undecided.read(reason)
    if found is None:
        return reason
    fields = dict(found.fields)
    if "department" in fields:
        fields["department"] = _department_name(fields["department"])
    if "machine" in fields:
        fields["machine"] = label(fields["machine"])
    return str(_WHY[found.kind]) % fields


def _department_name(department_id: str) -> str:
    try:
        return storage().settings.department(department_id).name
    except KeyError:  # a department the config no longer has
        return department_id


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_filter(why, "why")
