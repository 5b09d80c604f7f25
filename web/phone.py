"""What the queue shows of a phone item: call facts, recording, transcript, downloads.

The files themselves (the recording, MMS photos) are served by web.files.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.store.downloads import Download, downloads_of
from routing.store.models import Attachment, Item, VoiceCall


@dataclass(frozen=True)
class PhoneFacts:
    call: VoiceCall | None
    recording: Attachment | None
    downloads: list[Download]

    @property
    def unfinished(self) -> list[Download]:
        return [d for d in self.downloads if d.status != "done"]


def phone_facts(session: Session, item_id: int) -> PhoneFacts:
    return phone_facts_of(session, [item_id])[item_id]


def phone_facts_of(session: Session, item_ids: Collection[int]) -> dict[int, PhoneFacts]:
    """The phone facts of many items in at most three queries, whatever their number (a page of the API)."""
    ids = sorted(set(item_ids))
    calls = {c.item_id: c for c in session.scalars(select(VoiceCall).where(VoiceCall.item_id.in_(ids)))}
    downloads = downloads_of(session, ids)
    recording_ids = {
        item_id: next((d.attachment_id for d in found if d.purpose == "recording" and d.attachment_id), None)
        for item_id, found in downloads.items()
    }
    wanted = [a for a in recording_ids.values() if a is not None]
    recordings: dict[int, Attachment] = {}
    if wanted:  # most items (every email) have no recording: then there is nothing to ask for
        recordings = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(wanted)))}
    return {
        item_id: PhoneFacts(
            calls.get(item_id), recordings.get(recording_ids[item_id] or 0), downloads[item_id]
        )
        for item_id in ids
    }


def phone_json(item: Item, facts: PhoneFacts) -> dict[str, Any]:
    """The item's recording and transcript for the JSON API (null for other channels)."""
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
