"""A person's page: every item of a contact across channels, newest first, and the
search that finds contacts by name, address or number. Splitting an address off a
contact is a form on the page; an admin downloads the person's zip from it. The API's contact routes (web.api) share the JSON here.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from routing.contacts import directory
from routing.contacts.export import export_contact
from routing.contacts.reading import ContactItems, contact_items, search
from routing.store.models import Contact
from web.access import person, visible_departments
from web.storage import reading, storage, writing

blueprint = Blueprint("contacts", __name__)

SEARCH_RESULTS = 50
ADMIN = "admin"


@blueprint.get("/contacts")
def index() -> str:
    query = request.args.get("q", "")
    with reading() as session:
        found = search(session, query, storage().settings.region, visible_departments(), SEARCH_RESULTS)
        return render_template("contacts.html", query=query, contacts=found)


@blueprint.get("/contacts/<int:contact_id>")
def page(contact_id: int) -> str:
    with reading() as session:
        return render_template("contact.html", found=visible_contact(session, contact_id))


@blueprint.get("/contacts/<int:contact_id>/export")
def export(contact_id: int) -> Response:
    """The person's zip (as `intake contacts export`), for admins only: it holds every
    item of theirs, whatever the queue."""
    if person().role != ADMIN:
        raise NotFound()
    with reading() as session:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"there is no contact {contact_id}")
        into = io.BytesIO()
        export_contact(session, contact, into)
    into.seek(0)
    return send_file(
        into, mimetype="application/zip", as_attachment=True, download_name=f"contact-{contact_id}.zip"
    )


@blueprint.post("/contacts/<int:contact_id>/split")
def split_off(contact_id: int) -> BaseResponse:
    address = request.form.get("address", "")
    try:
        with writing() as session:
            visible_contact(session, contact_id)
            new = directory.split(session, contact_id, address, person(), storage().settings.region)
            new_id = new.id
    except directory.NoSuchContact:
        raise NotFound() from None
    except directory.ContactError as error:
        flash(str(error), "error")
        return redirect(url_for(".page", contact_id=contact_id), 303)
    flash(gettext("%(address)s is a contact of its own now.", address=address), "done")
    return redirect(url_for(".page", contact_id=new_id), 303)


def visible_contact(session: Session, contact_id: int) -> ContactItems:
    """The contact and the items this person may see; 404 as for a missing one."""
    found = contact_items(session, contact_id, visible_departments())
    if found is None:
        raise NotFound(f"there is no contact {contact_id}")
    return found


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "addresses": [{"kind": a.kind, "value": a.value} for a in contact.addresses],
    }


def contact_items_json(found: ContactItems) -> dict[str, Any]:
    """A contact with its items, newest first, each with its status and department."""
    items = [
        {
            "id": item.id,
            "channel": item.channel,
            "status": item.status,
            "department": item.department_id,
            "subject": item.subject,
            "received_at": item.received_at.isoformat(),
            "merged_into": item.merged_into_id,
        }
        for item in found.items
    ]
    return {**contact_json(found.contact), "items": items, "more": found.more}
