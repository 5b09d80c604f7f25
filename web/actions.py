"""Doing things to items from the pages: one POST per action, on one item or many.

Forms post to /items/<id>/<action> (or /items/bulk with `action` and repeated `item`
fields) and are sent back where they came from with a message. A request that asks
for JSON (`Accept: application/json`, as the pages' keyboard script does) gets the
item as JSON, or {"error": {"status", "message"}}. The JSON API shares the actions
through `perform`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response as BaseResponse

from config.settings import PRIORITIES
from routing.contacts import item_actions as contact_actions
from routing.people.accounts import Person, person_of
from routing.queues import replies, triage
from routing.queues.filters import row_id
from routing.store.database import StorageUnavailable
from routing.store.models import Department, Item, User
from web.access import local_path, person
from web.item_json import item_json
from web.storage import storage, writing

blueprint = Blueprint("actions", __name__)

Fields = Mapping[str, Any]
Action = Callable[[Session, int, Person, Fields], Item]
MAX_BULK = 500


class BadField(triage.TriageError):
    """A form or JSON field that is missing or not of the right kind."""


def _text(fields: Fields, name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadField(f"{name} is required")
    return value.strip()


def _due(fields: Fields) -> datetime | None:
    """A due time: ISO 8601, or the office's local time as a datetime-local field sends it."""
    value = fields.get("due")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadField("due must be a date and time, like 2026-11-30T14:00")
    try:
        due = datetime.fromisoformat(value)
    except ValueError:
        raise BadField(f"due {value!r} is not a date and time, like 2026-11-30T14:00") from None
    return due if due.tzinfo else triage.local_moment(due, storage().settings.timezone)


def _optional(fields: Fields, name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadField(f"{name} must be text")
    return str(value).strip() or None


def _item_number(fields: Fields, name: str) -> int | None:
    value = _optional(fields, name)
    if value is None:
        return None
    number = row_id(value.lstrip("#"))
    if number is None:
        raise BadField(f"{name} must be an item's number, like 12")
    return number


ACTIONS: dict[str, Action] = {
    "claim": lambda s, i, p, f: triage.claim(s, i, p),
    "release": lambda s, i, p, f: triage.release(s, i, p),
    "assign": lambda s, i, p, f: triage.assign(s, i, p, _text(f, "person")),
    "reroute": lambda s, i, p, f: triage.reroute(s, i, p, _text(f, "department"), _text(f, "reason")),
    "confirm": lambda s, i, p, f: triage.confirm(s, i, p),
    "priority": lambda s, i, p, f: triage.set_priority(s, i, p, _text(f, "priority")),
    "due": lambda s, i, p, f: triage.set_due(s, i, p, _due(f)),
    "note": lambda s, i, p, f: triage.add_note(s, i, p, _text(f, "text")),
    "resolve": lambda s, i, p, f: triage.resolve(s, i, p),
    "reopen": lambda s, i, p, f: triage.reopen(s, i, p),
    "spam": lambda s, i, p, f: triage.mark_spam(s, i, p),
    "called-back": lambda s, i, p, f: replies.called_back(s, i, p),
    "link": lambda s, i, p, f: contact_actions.link(s, i, p, _optional(f, "contact"), storage().settings),
    "merge": lambda s, i, p, f: contact_actions.merge(s, i, p, _item_number(f, "into")),
    "unmerge": lambda s, i, p, f: contact_actions.unmerge(s, i, p),
    "dismiss": lambda s, i, p, f: contact_actions.dismiss(s, i, p),
}
# The actions that are not refused for a merged item before they start: an unmerge is the
# one a merged item takes, and a merge refuses one itself, once it has locked its two
# items in id order (item_actions.merge), which locking one of them here first would upset.
MERGE_CHECKED = frozenset({"merge", "unmerge"})
# What an action did, as the message after it says: "Item 12: claimed."
DONE = {
    "claim": lazy_gettext("claimed"),
    "release": lazy_gettext("released"),
    "assign": lazy_gettext("assigned"),
    "reroute": lazy_gettext("rerouted"),
    "confirm": lazy_gettext("confirmed where it is"),
    "priority": lazy_gettext("given a new priority"),
    "due": lazy_gettext("given a new due time"),
    "note": lazy_gettext("noted"),
    "resolve": lazy_gettext("resolved"),
    "reopen": lazy_gettext("reopened"),
    "spam": lazy_gettext("marked as spam"),
    "called-back": lazy_gettext("marked as called back"),
    "link": lazy_gettext("linked to the contact"),
    "merge": lazy_gettext("merged"),
    "unmerge": lazy_gettext("unmerged"),
    "dismiss": lazy_gettext("has no suggestion any more"),
}


@dataclass(frozen=True)
class Choices:
    """What the item page's action forms offer: where to reroute, whom to assign."""

    departments: list[Department]
    people: list[str]
    priorities: tuple[str, ...] = PRIORITIES


def choices(session: Session, item: Item) -> Choices:
    departments = session.scalars(select(Department).where(Department.active).order_by(Department.position))
    users = session.scalars(
        select(User).where(User.active).options(selectinload(User.memberships)).order_by(User.name)
    )
    people = [user.name for user in users if person_of(user).may_see(item.department_id)]
    return Choices(list(departments), people)


def perform(session: Session, item_id: int, action: str, fields: Fields) -> Item:
    """Do the named action to one item; raises NotFound for an unknown action, and
    TriageError for a merged item, which takes no action but an unmerge."""
    act = ACTIONS.get(action)
    if act is None:
        raise NotFound(f"there is no action {action!r}")
    who = person()
    if action not in MERGE_CHECKED:
        contact_actions.unmerged(session, item_id, who)
    return act(session, item_id, who, fields)


@blueprint.post("/items/<int:item_id>/<action>")
def one(item_id: int, action: str) -> BaseResponse | tuple[Response, int]:
    try:
        with writing() as session:
            item = perform(session, item_id, action, request.form)
            shown = item_json(item)
    except triage.NoSuchItem as error:
        raise NotFound(str(error)) from None
    except triage.TriageError as error:
        return refused(str(error), url_for("queue.item", item_id=item_id))
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None
    if wants_json():
        return jsonify(item=shown), 200
    flash(gettext("Item %(id)s: %(done)s.", id=item_id, done=DONE[action]), "done")
    return redirect(_back(url_for("queue.item", item_id=item_id)), 303)


@blueprint.post("/items/bulk")
def many() -> BaseResponse | tuple[Response, int]:
    action = request.form.get("action", "")
    ids = [row_id(text) for text in request.form.getlist("item")]
    back = _back(url_for("queue.index"))
    if action not in ACTIONS:
        return refused(f"choose an action ({', '.join(ACTIONS)})", back)
    if not ids or None in ids or len(ids) > MAX_BULK:
        return refused(f"choose from 1 to {MAX_BULK} items", back)
    try:
        with writing() as session:
            result = triage.bulk(
                (i for i in ids if i is not None),
                lambda item_id: perform(session, item_id, action, request.form),
            )
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None
    if wants_json():
        return jsonify(done=result.done, refused={str(k): v for k, v in result.refused.items()}), 200
    if result.done:
        flash(
            ngettext(
                "%(num)s item: %(done)s.", "%(num)s items: %(done)s.", len(result.done), done=DONE[action]
            ),
            "done",
        )
    for item_id, why in result.refused.items():
        flash(gettext("Item %(id)s was left as it was: %(reason)s", id=item_id, reason=why), "error")
    return redirect(back, 303)


def refused(message: str, back: str) -> BaseResponse | tuple[Response, int]:
    """Send a refusal back: as JSON when asked for, else as a message on the page `back`."""
    if wants_json():
        return jsonify(error={"status": 400, "message": message}), 400
    flash(message, "error")
    return redirect(_back(back), 303)


def wants_json() -> bool:
    """Whether the request prefers JSON (the pages' keyboard script) to a page."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _back(default: str) -> str:
    return local_path(request.form.get("next", ""), default)
