"""Taking a message by hand: the front desk's form for a call, a visitor or a letter.

The form is read by the adapter in intake.desk.hand_taken and stored through deliver(),
like any channel; the due time, the assignee and who took it are stored with the item
in the same transaction. A form with errors is shown again with everything typed
kept (a browser cannot keep a chosen file) and nothing stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, gettext
from flask_login import current_user
from flask_wtf.csrf import ValidationError, validate_csrf
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wrappers import Response

from intake.desk import hand_taken
from intake.desk.hand_taken import BadForm, HandForm, Scan
from routing.channels.hand_taken import NotTheirs, Taking, record_taking
from routing.delivery import Deliverer, Delivery
from routing.store.database import StorageUnavailable, UnstorableMessage
from routing.store.models import Department, Item, User
from web.access import person
from web.storage import reading, storage

blueprint = Blueprint("take", __name__)
TAKES_MESSAGES = ("receptionist", "admin")
# Room for the form's other fields (its text takes at most some 80 KB) beside the scan.
FORM_BYTES = 1024 * 1024
# The largest request any page accepts: a scan at its limit and the rest of the form.
MAX_REQUEST_BYTES = hand_taken.MAX_SCAN_BYTES + FORM_BYTES
# Of a body too large to read, the head read for the fields sent ahead of the scan.
_HEAD_BYTES = 256 * 1024
_FIELDS = ("kind", "name", "contact", "department", "person", "callback_by", "text")
_ON_SCREEN = (*_FIELDS, "scan")  # the order the fields are shown in


def init_app(app: Flask, deliverer: Deliverer) -> None:
    app.extensions["take"] = deliverer
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.register_blueprint(blueprint)
    app.context_processor(_nav)


@dataclass
class Page:
    """What the form shows: the values typed, the errors, and the choices."""

    key: str
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    lost_file: str | None = None

    @property
    def first_error(self) -> str | None:
        """The field to put the cursor in: the first one shown that has an error."""
        return next((name for name in _ON_SCREEN if name in self.errors), None)


def _nav() -> dict[str, bool]:
    """Whether the header offers "Take a message"; the login page has nobody signed in."""
    signed_in = current_user.is_authenticated
    return {"takes_messages": bool(signed_in and current_user.person.role in TAKES_MESSAGES)}


@blueprint.before_request
def _front_desk_only() -> None:
    if person().role not in TAKES_MESSAGES:
        raise Forbidden("only receptionists and admins take messages by hand")


@blueprint.get("/take")
def form() -> tuple[str, int]:
    kind = request.args.get("kind", "")
    values = dict.fromkeys(_FIELDS, "") | {"kind": kind if kind in hand_taken.KINDS else "phone-note"}
    return _render(Page(hand_taken.new_key(), values), 200)


@blueprint.post("/take")
def take() -> Response | tuple[str, int]:
    values = {name: request.form.get(name, "") for name in _FIELDS}
    page = Page(request.form.get("key", ""), values)
    scan = _scan(values["kind"])
    form = _read(page, scan)
    if page.errors:
        return _refuse(page, scan)
    try:
        message = hand_taken.to_message(form, datetime.now(UTC))
        taking = Taking(form.taken_by, form.kind, form.callback_by, _user_id(form.person))
        delivery = _deliverer().deliver(message, also=lambda s, d: record_taking(s, d, taking))
    except BadForm as error:
        page.errors = error.errors
        return _refuse(page, scan)
    except NotTheirs as error:
        page.errors = {"person": str(error)}
        return _refuse(page, scan)
    except UnstorableMessage as error:
        page.errors = {"form": gettext("the database refused a value: %(error)s", error=str(error))}
        return _refuse(page, scan)
    except StorageUnavailable:
        page.errors = {"form": gettext("the message could not be stored just now; send the form again")}
        return _refuse(page, scan, 503)
    if not delivery.created and not _made_from(delivery.item_id, message.raw):
        return _sent_before(page, scan, delivery.item_id)
    flash(_confirmation(delivery), "done")
    return redirect(url_for("queue.item", item_id=delivery.item_id), 303)


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    """The form again, with the fields the browser sent ahead of the scan; the file is lost."""
    sent, filename = _fields_ahead_of_scan()
    values = dict.fromkeys(_FIELDS, "") | {"kind": hand_taken.LETTER} | _sent_here(sent)
    problem = gettext(
        "the upload is larger than %(size)s MB, so nothing was read or stored; scan at a lower resolution",
        size=_megabytes(_max_scan_bytes()),
    )
    return _render(Page(hand_taken.new_key(), values, {"scan": problem}, lost_file=filename), 413)


def _fields_ahead_of_scan() -> tuple[dict[str, str], str | None]:
    """The fields at the head of a multipart body too large to read, and the name of the
    file that follows them: a browser sends the fields in the page's order, the scan last."""
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype != "multipart/form-data" or not boundary:
        return {}, None
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(request.environ["wsgi.input"].read(_HEAD_BYTES))
    fields: dict[str, str] = {}
    name, data = "", b""
    while not isinstance(event := decoder.next_event(), File | NeedData | Epilogue):
        if isinstance(event, Field):
            name, data = event.name, b""
        elif isinstance(event, Data):
            data += event.data
            if not event.more_data:
                fields[name] = data.decode(errors="replace")
    return fields, event.filename if isinstance(event, File) else None


def _sent_here(fields: dict[str, str]) -> dict[str, str]:
    """The form's values, when the fields came from this site's page (their CSRF token
    holds); none from another site's, which would fill in a message for the receptionist."""
    try:
        validate_csrf(fields.get("csrf_token", ""))
    except ValidationError:
        return {}
    return {name: value for name, value in fields.items() if name in _FIELDS}


def _read(page: Page, scan: Scan | None) -> HandForm:
    """The form as the adapter reads it; the errors only the database can find go on the page."""
    values = page.values
    try:
        callback_by = hand_taken.parse_callback(values["callback_by"], storage().settings.timezone)
    except BadForm as error:
        page.errors.update(error.errors)
        callback_by = None
    page.errors.update(_unknown(values["department"].strip(), values["person"].strip()))
    form = HandForm(
        key=page.key,
        kind=values["kind"],
        name=values["name"],
        contact=values["contact"],
        department=values["department"].strip(),
        person=values["person"].strip(),
        text=values["text"],
        callback_by=callback_by,
        taken_by=person().name,
        scan=scan,
    )
    page.errors = hand_taken.problems(form) | page.errors
    return form


def _unknown(department: str, user: str) -> dict[str, str]:
    found = {}
    with reading() as session:
        if department and department not in _departments(session):
            found["department"] = gettext("there is no department '%(id)s'", id=department)
        if user and user not in _people(session):
            found["person"] = gettext("there is no active user '%(name)s'", name=user)
    return found


def _scan(kind: str) -> Scan | None:
    """A letter's scan; for a call or a visit the file field is hidden, so a file the
    browser still sends (chosen before the kind changed) is not read."""
    upload = request.files.get("scan")
    if kind != hand_taken.LETTER or upload is None or not upload.filename:
        return None
    # One byte past the limit is enough to know it is too large.
    content = upload.stream.read(hand_taken.MAX_SCAN_BYTES + 1)
    return Scan(upload.filename, upload.mimetype or "application/octet-stream", content)


def _made_from(item_id: int, raw: bytes) -> bool:
    """Whether the item was made from this form as it is sent now: a double click or a
    browser resending it, not a form brought back (the Back button) and filled in anew."""
    with reading() as session:
        return session.get_one(Item, item_id).raw.content == raw


def _sent_before(page: Page, scan: Scan | None, item_id: int) -> tuple[str, int]:
    """A form already sent that holds another message now: shown again under a new key,
    so that sending it makes an item of its own."""
    page.key = hand_taken.new_key()
    page.errors = {
        "form": gettext(
            "this form was already sent, as item %(id)s, with other values; nothing new was stored:"
            " send it again to take this as a new message",
            id=item_id,
        )
    }
    return _refuse(page, scan, 409)


def _refuse(page: Page, scan: Scan | None, status: int = 400) -> tuple[str, int]:
    if "key" in page.errors:
        page.key = hand_taken.new_key()  # nothing was stored under the bad one
    if scan is not None:
        page.lost_file = scan.filename
    return _render(page, status)


def _render(page: Page, status: int) -> tuple[str, int]:
    with reading() as session:
        html = render_template(
            "take.html",
            office=storage().settings.office_name,
            page=page,
            kinds=hand_taken.KINDS,
            departments=list(_departments(session).items()),
            people=list(_people(session).items()),
            max_scan_bytes=_max_scan_bytes(),
            max_scan_mb=_megabytes(_max_scan_bytes()),
            field_names=_field_names(),
        )
    return html, status


def _max_scan_bytes() -> int:
    """The largest scan that gets through: the adapter's limit, or less where the web
    server is set to read smaller requests (it refuses a larger one before the page sees it)."""
    server = storage().settings.web.max_request_bytes
    return max(0, min(hand_taken.MAX_SCAN_BYTES, server - FORM_BYTES))


def _megabytes(size: int) -> str:
    shown: str = format_decimal(size / 1024 / 1024, format="#,##0.#")
    return shown


def _field_names() -> dict[str, str]:
    """Each field's label, which also names it in the list of problems."""
    return {
        "kind": gettext("What came in"),
        "name": gettext("From (name)"),
        "contact": gettext("Phone number or email"),
        "department": gettext("For department"),
        "person": gettext("For person"),
        "callback_by": gettext("Callback wanted by"),
        "text": gettext("Message"),
        "scan": gettext("Scan"),
        "key": gettext("Form"),
        "form": gettext("Form"),
    }


def _departments(session: Session) -> dict[str, str]:
    """The active departments, id to name, in the config's order."""
    query = select(Department.id, Department.name).where(Department.active).order_by(Department.position)
    return {department_id: name for department_id, name in session.execute(query)}


def _people(session: Session) -> dict[str, str]:
    """The active users, name to role, by name."""
    query = select(User.name, User.role).where(User.active).order_by(User.name)
    return {name: role for name, role in session.execute(query)}


def _user_id(name: str) -> int | None:
    if not name:
        return None
    with reading() as session:
        found: int | None = session.scalar(select(User.id).where(User.name == name, User.active))
    return found


def _confirmation(delivery: Delivery) -> str:
    if delivery.created:
        with reading() as session:
            department = session.get_one(Department, delivery.department_id).name
        taken: str = gettext(
            "Message taken: item %(id)s, in %(department)s.", id=delivery.item_id, department=department
        )
        return taken
    again: str = gettext(
        "This form was already sent: it is item %(id)s; nothing new was stored.", id=delivery.item_id
    )
    return again


def _deliverer() -> Deliverer:
    found: Deliverer = current_app.extensions["take"]
    return found
