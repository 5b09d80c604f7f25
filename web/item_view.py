"""What the item page shows: the conversation (what came in and what people answered, in
order) with each body made safe, the routing trace and the history in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext, lazy_gettext
from markupsafe import Markup

from config.settings import BuiltInStep
from routing.engine import OutcomeKind
from routing.store.models import SYSTEM_ACTOR, ArrivedMessage, AuditEvent, Item, Reply
from web.display import local_time, outside
from web.files import inline_images
from web.mail_html import safe_html

# The event details worth a line, in the order they read best, with their labels.
_DETAIL_LABELS = {
    "from": lazy_gettext("from"),
    "to": lazy_gettext("to"),
    "department": lazy_gettext("to"),
    "other_departments": lazy_gettext("also for"),
    "assignee": lazy_gettext("for"),
    "due_at": lazy_gettext("callback wanted by"),
    "reason": lazy_gettext("why"),
    "note": "",
    "text": "",  # a note's words stand on their own after the action "note"
    "at": lazy_gettext("by"),
    "matcher": lazy_gettext("matched by"),
    "status": lazy_gettext("status"),
    "error": lazy_gettext("error"),
    "attempts": lazy_gettext("attempts"),
    "characters": lazy_gettext("characters"),
    "url": lazy_gettext("from"),
    "size": lazy_gettext("bytes"),
}
_DEPARTMENT_KEYS = frozenset({"from", "to", "department", "other_departments"})
# Details that are moments, stored as ISO text: shown in the office's time zone ("at" is
# a new due time's).
_MOMENT_KEYS = frozenset({"due_at", "at"})


@dataclass(frozen=True)
class ShownMessage:
    """One message of the conversation: who, when, and its body as safe HTML or as text."""

    sender: Markup  # the names and addresses in it as web.display.outside shows them
    received_at: datetime
    channel: str
    text: str
    html: Markup | None
    # A reply the office sent: its state ("queued", "sent", "failed") and last error.
    status: str | None = None
    error: str | None = None
    # Which email from the item it is: "reply", "acknowledgement" or "forward".
    kind: str | None = None
    # The message that made the item: a voicemail's page shows it as the recording and
    # the transcript, and lists only the others (answers, the items merged into it).
    opening: bool = False


@dataclass(frozen=True)
class Conversation:
    messages: list[ShownMessage]
    blocked_images: int


@dataclass(frozen=True)
class ShownEvent:
    at: datetime
    actor: str
    action: str
    details: list[tuple[str, str]]


def conversation(item: Item, *, remote_images: bool) -> Conversation:
    """The item's first message, its follow-ups and the office's replies, oldest first,
    with those of the items merged into it as the same request."""
    images = inline_images(item)
    shown: list[ShownMessage] = []
    blocked = 0
    joined = [item, *item.merged_items]
    messages: list[ArrivedMessage] = []
    for one in joined:
        messages += [one, *one.messages]
    for message in messages:
        html = None
        if message.html:
            cleaned = safe_html(message.html, images.get, remote_images=remote_images)
            html, blocked = cleaned.markup, blocked + cleaned.blocked_images
        shown.append(_shown(message, html, opening=message is item))
    shown += [_shown_reply(reply) for one in joined for reply in one.replies]
    return Conversation(sorted(shown, key=lambda message: message.received_at), blocked)


def _shown_reply(reply: Reply) -> ShownMessage:
    # The words are the catalog's; the names in them are escaped, the recipient's address shown as `outside`.
    names = {
        "author": reply.author,
        "office": reply.sender_name,
        "recipient": outside(reply.recipient, strict=True),
    }
    if reply.author == SYSTEM_ACTOR:
        sender = Markup(gettext("%(office)s, to %(recipient)s")) % names
    else:
        sender = Markup(gettext("%(author)s for %(office)s, to %(recipient)s")) % names
    return ShownMessage(
        sender, reply.created_at, reply.channel, reply.text, None, reply.status, reply.last_error, reply.kind
    )


def _shown(message: ArrivedMessage, html: Markup | None, *, opening: bool) -> ShownMessage:
    if message.sender_name:
        sender = Markup("%s &lt;%s&gt;") % (
            outside(message.sender_name),
            outside(message.sender, strict=True),
        )
    else:
        sender = (
            outside(message.sender, strict=True)
            if message.sender
            else Markup.escape(gettext("(unknown sender)"))
        )
    return ShownMessage(sender, message.received_at, message.channel, message.text, html, opening=opening)


@dataclass(frozen=True)
class TraceLine:
    """One rule or built-in step of the routing trace stored on an item."""

    name: str
    kind: OutcomeKind
    matched: bool
    reason: str


def routing_trace(hits: list[Any]) -> list[TraceLine]:
    """The stored routing trace, each line saying whether a rule or a built-in step spoke.

    Items routed before outcomes carried their kind are read as the engine read them
    then: a line bearing a built-in step's name was that step.
    """
    steps = frozenset(BuiltInStep)
    lines = []
    for hit in hits:
        name = str(hit.get("rule", ""))
        stored = hit.get("kind")
        if stored in frozenset(OutcomeKind):
            kind = OutcomeKind(stored)
        else:
            kind = OutcomeKind.STEP if name in steps else OutcomeKind.RULE
        lines.append(TraceLine(name, kind, bool(hit.get("matched")), str(hit.get("reason", ""))))
    return lines


def history(events: list[AuditEvent], departments: Mapping[str, str]) -> list[ShownEvent]:
    """The audit trail with each event's detail as label and value, departments by name."""
    return [ShownEvent(e.at, e.actor, e.action, event_details(e.detail, departments)) for e in events]


def event_details(detail: Mapping[str, Any], departments: Mapping[str, str]) -> list[tuple[str, str]]:
    """The readable parts of an event's detail; nested records (rule outcomes) stay in the API."""
    lines = []
    for key, label in _DETAIL_LABELS.items():
        if key in _MOMENT_KEYS:
            value = _moment(detail.get(key))
        else:
            value = _readable(detail.get(key), departments if key in _DEPARTMENT_KEYS else {})
        if value:
            lines.append((str(label), value))
    return lines


def _moment(value: Any) -> str | None:
    """A stored moment as the page writes times; text that is no moment as it is."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return local_time(moment) if moment.tzinfo is not None else value


def _readable(value: Any, names: Mapping[str, str]) -> str | None:
    """A plain value or a list of them as text, ids swapped for names; None for anything else."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return names.get(value, str(value)) if isinstance(value, str) else str(value)
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return ", ".join(names.get(v, v) if isinstance(v, str) else str(v) for v in value)
    return None
