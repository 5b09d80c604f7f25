"""An item's stored files served to the browser: downloads, and the images inside HTML mail.

A file from outside is never rendered as a page of this site: downloads always come
as attachments under a cleaned name, and only plain raster images are served inline,
for the `cid:` pictures of an HTML mail. Every answer forbids sniffing and sandboxes
itself, in case a browser opens it anyway.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Blueprint, Response, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from routing.shown_text import file_name
from routing.store.models import Attachment, Item
from web.access import visible_item
from web.storage import reading

blueprint = Blueprint("files", __name__)

# Types a page element plays or shows (the voicemail <audio>, a photo); anything else
# is sent as bytes of no particular kind.
_MEDIA_TYPES = (
    "audio/",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "video/mp4",
    "application/pdf",
)
# No SVG: it is a document that can run script, not a picture.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def download_name(filename: str) -> tuple[str, str]:
    """The attachment's name for Content-Disposition: a plain-ASCII one, and the full UTF-8
    one (routing.shown_text.file_name)."""
    cleaned = file_name(filename) or "attachment"
    ascii_name = unicodedata.normalize("NFKD", cleaned).encode("ascii", "ignore").decode().strip()
    if not ascii_name.strip("."):
        ascii_name = "attachment"
    elif ascii_name.startswith("."):
        ascii_name = "attachment" + ascii_name  # "日本.pdf" keeps its extension
    return ascii_name, cleaned


def content_disposition(filename: str) -> str:
    """`attachment` with the name twice: quoted ASCII for old clients, RFC 5987 for the rest."""
    ascii_name, full_name = download_name(filename)
    header = f'attachment; filename="{ascii_name}"'
    if full_name != ascii_name:
        header += f"; filename*=UTF-8''{quote(full_name, safe='')}"
    return header


def inline_images(item: Item) -> dict[str, str]:
    """The item's inline images by Content-ID, as the URLs that serve them."""
    return {
        attachment.content_id: url_for("files.inline_image", item_id=item.id, attachment_id=attachment.id)
        for attachment in item.attachments
        if attachment.content_id and attachment.content_type.lower() in INLINE_IMAGE_TYPES
    }


@blueprint.get("/items/<int:item_id>/attachments/<int:attachment_id>")
def attachment(item_id: int, attachment_id: int) -> Response:
    with reading() as session:
        found = _attachment_of(session, item_id, attachment_id)
        media = found.content_type.lower().startswith(_MEDIA_TYPES)
        response = Response(
            found.blob.content, mimetype=found.content_type if media else "application/octet-stream"
        )
        response.headers["Content-Disposition"] = content_disposition(found.filename)
    return _sandboxed(response)


@blueprint.get("/items/<int:item_id>/inline/<int:attachment_id>")
def inline_image(item_id: int, attachment_id: int) -> Response:
    with reading() as session:
        found = _attachment_of(session, item_id, attachment_id)
        content_type = found.content_type.lower()
        if content_type not in INLINE_IMAGE_TYPES:
            raise NotFound("that attachment is not an image shown inline")
        response = Response(found.blob.content, mimetype=content_type)
        response.headers["Content-Disposition"] = "inline"
    return _sandboxed(response)


def _attachment_of(session: Session, item_id: int, attachment_id: int) -> Attachment:
    visible_item(session, item_id)
    found = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.item_id == item_id)
    )
    if found is None:
        raise NotFound(f"item {item_id} has no attachment {attachment_id}")
    return found


def _sandboxed(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
