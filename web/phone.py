"""What the queue shows of a phone item: call facts, recording, transcript, downloads.

The files themselves (the recording, MMS photos) are served by web.files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy.orm import Session, object_session

from routing.downloads import downloads_of
from routing.models import Attachment, Item, PendingDownload, VoiceCall
from routing.voicemail import call_of


@dataclass(frozen=True)
class PhoneFacts:
    call: VoiceCall | None
    recording: Attachment | None
    downloads: list[PendingDownload]

    @property
    def unfinished(self) -> list[PendingDownload]:
        return [d for d in self.downloads if d.status != "done"]


def phone_facts(session: Session, item_id: int) -> PhoneFacts:
    downloads = downloads_of(session, item_id)
    recording_ids = [d.attachment_id for d in downloads if d.purpose == "recording" and d.attachment_id]
    recording = session.get(Attachment, recording_ids[0]) if recording_ids else None
    return PhoneFacts(call_of(session, item_id), recording, downloads)


def phone_json(item: Item) -> dict[str, Any]:
    """The item's recording and transcript for the JSON API (null for other channels)."""
    session = object_session(item)
    if session is None:
        raise ValueError("phone_json needs an item loaded in a session")
    facts = phone_facts(session, item.id)
    recording = None
    if facts.recording is not None:
        recording = {
            "url": url_for(
                "files.attachment", item_id=item.id, attachment_id=facts.recording.id, _external=True
            ),
            "content_type": facts.recording.content_type,
            "size": facts.recording.size,
        }
    call = facts.call
    return {
        "recording": recording,
        "transcript": call.transcript if call else None,
        "transcript_status": call.transcript_status if call else None,
        "duration_seconds": call.duration_seconds if call else None,
        "downloads": [
            {"filename": d.filename, "status": d.status, "error": d.last_error} for d in facts.downloads
        ],
    }
