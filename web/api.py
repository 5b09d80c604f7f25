"""The JSON API, /api/v1: items and queues for scripts and other tools.

Errors are JSON too: {"error": {"status": 400, "message": "..."}}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, ServiceUnavailable

from routing.contacts import directory
from routing.contacts.reading import search
from routing.queues import reading as queues
from routing.queues import triage
from routing.queues.filters import FILTER_NAMES, row_id
from routing.store.database import StorageUnavailable
from web import actions, contacts, forwards, replies
from web.access import person, visible_departments, visible_item
from web.item_json import item_detail_json, item_json, items_json
from web.storage import reading, storage, writing

blueprint = Blueprint("api", __name__)

MAX_LIMIT = 500
API_PATH = "/api/"  # every error under it is JSON


@blueprint.get("/items")
def list_items() -> Response:
    """Items newest (or most urgent) first, with the filters of the queue view:
    department, status (a status, open or all; all by default), channel, priority,
    tag, assignee (a user name, me or nobody), due=overdue, q (search) and sort."""
    args = request.args
    limit = _limit(args.get("limit"))
    department = args.get("department") or None
    try:
        filters = queues.Filters.parse(args, languages=storage().settings.languages)
        after = queues.Cursor.parse(args["cursor"], filters.sort) if args.get("cursor") else None
        with reading() as session:
            if department is not None:
                _check_department(session, department)
            page = queues.list_items(
                session,
                limit=limit,
                department_id=department,
                filters=filters,
                after=after,
                departments=visible_departments(),
                me=person().name,
            )
            items = items_json(session, page.items)
    except queues.BadQuery as error:
        raise BadRequest(str(error)) from None
    next_url = None
    if page.next is not None:
        view = {name: args[name] for name in ("department", *FILTER_NAMES) if args.get(name)}
        next_url = url_for(".list_items", _external=True, limit=limit, cursor=str(page.next), **view)
    return jsonify(items=items, next=next_url)


@blueprint.get("/items/<int:item_id>")
def get_item(item_id: int) -> Response:
    with reading() as session:
        return jsonify(item_detail_json(visible_item(session, item_id)))


def _check_department(session: Session, department_id: str) -> None:
    """A department this person may not see is as unknown as one that does not exist."""
    if not person().may_see(department_id) or queues.get_department(session, department_id) is None:
        raise NotFound(f"there is no department {department_id!r}")


@blueprint.post("/items/<int:item_id>/reply")
def reply(item_id: int) -> tuple[Response, int]:
    """Answer the item: {"text": "...", "channel": "email"}, the channel defaulting to
    the item's own. 202: the reply is stored and queued; its status says how sending went."""
    return _stored_and_queued(
        replies.answer, item_id, 'the reply as a JSON object: {"text": "...", "channel": "email"}'
    )


@blueprint.post("/items/<int:item_id>/forward")
def forward(item_id: int) -> tuple[Response, int]:
    """Forward the item with the original attached: {"to": "someone@partner.example" or a
    department id with an outside address, "note": "..."}. 202: stored and queued."""
    return _stored_and_queued(
        forwards.forwarded, item_id, 'the forward as a JSON object: {"to": "...", "note": "..."}'
    )


def _stored_and_queued(
    store: Callable[[int, Mapping[str, Any]], dict[str, Any]], item_id: int, expected: str
) -> tuple[Response, int]:
    """Store what the request's JSON body asks to send from the item, queued for the
    job worker: 202 with it, or the reason it was refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(f"send {expected}")
    try:
        return jsonify(store(item_id, body)), 202
    except triage.NoSuchItem as error:
        raise NotFound(str(error)) from None
    except triage.TriageError as error:
        raise BadRequest(str(error)) from None
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None


@blueprint.get("/items/<int:item_id>/templates")
def templates(item_id: int) -> Response:
    """The canned answers of the item's department, its fields filled in: [{"name", "text"}]."""
    return jsonify(templates=[{"name": name, "text": text} for name, text in replies.templates(item_id)])


@blueprint.get("/items/<int:item_id>/replies")
def list_replies(item_id: int) -> Response:
    """The item's replies, oldest first, each with its status (queued, sent, failed)."""
    return jsonify(replies=replies.listed(item_id))


@blueprint.post("/items/<int:item_id>/<action>")
def act(item_id: int, action: str) -> Response:
    """Do an action to an item: claim, resolve, note {"text"}, reroute {"department", "reason"}, ...

    The body, when the action needs fields, is a JSON object of them."""
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise BadRequest("send the action's fields as a JSON object, or no body")
    try:
        with writing() as session:
            return jsonify(item_json(actions.perform(session, item_id, action, body)))
    except triage.NoSuchItem as error:
        raise NotFound(str(error)) from None
    except triage.TriageError as error:
        raise BadRequest(str(error)) from None
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None


@blueprint.get("/contacts")
def list_contacts() -> Response:
    """Contacts whose name holds q, or with an address or number that holds it."""
    query = request.args.get("q", "")
    if not query.strip():
        raise BadRequest("q is required: part of a name, an address or a number")
    limit = _limit(request.args.get("limit"))
    with reading() as session:
        found = search(session, query, storage().settings.region, visible_departments(), limit)
        return jsonify(contacts=[contacts.contact_json(contact) for contact in found])


@blueprint.get("/contacts/<int:contact_id>")
def get_contact(contact_id: int) -> Response:
    """The contact, its addresses and numbers, and its items newest first."""
    with reading() as session:
        return jsonify(contacts.contact_items_json(contacts.visible_contact(session, contact_id)))


@blueprint.post("/contacts/<int:contact_id>/split")
def split_contact(contact_id: int) -> Response:
    """Take {"address": "..."} out of the contact into a new one, with the items sent from it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("address"), str):
        raise BadRequest('send the address or number to split off as {"address": "..."}')
    try:
        with writing() as session:
            contacts.visible_contact(session, contact_id)
            new = directory.split(session, contact_id, body["address"], person(), storage().settings.region)
            return jsonify(contacts.contact_json(new))
    except directory.ContactError as error:
        raise BadRequest(str(error)) from None
    except StorageUnavailable as error:
        raise ServiceUnavailable(str(error)) from None


def _limit(text: str | None) -> int:
    if text is None:
        return storage().settings.web.page_size
    limit = row_id(text)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


@blueprint.app_errorhandler(HTTPException)
def json_error(error: HTTPException) -> HTTPException | tuple[Response, int]:
    """Every error under /api/ as JSON, also for a path that matches no view (an id no
    row can have, a method the view does not take): a blueprint's own handler sees
    only its views' errors. Elsewhere the error is left to the pages' default."""
    if not request.path.startswith(API_PATH):
        return error
    status = error.code or 500
    return jsonify(error={"status": status, "message": error.description}), status
