"""Voicemail items: one per call, made at the first callback that carries a recording.

The recording callback and the transcription callback may arrive in either order and
more than once; both go through deliver() with the call's key, and what each adds
(duration, recording download, transcript) is stored once on the same item. The
first callback's raw form is the item's raw; each later one is kept as an attachment
(`callback-2.form`, ...), once. A transcript may move an item to another department
only while no person has said where it belongs; after that its words are stored and
searchable, and the item stays where the person put it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routing.delivery import Deliverer, Delivery
from routing.engine import Routes
from routing.item_fields import apply_decision
from routing.message import InboundMessage
from routing.normalize import normalizer_for
from routing.store import search_index
from routing.store.downloads import enqueue
from routing.store.item_rows import new_blob
from routing.store.models import SYSTEM_ACTOR, Attachment, AuditEvent, Blob, Item, VoiceCall
from routing.store.stored_message import message_of

# The events of a person saying where an item belongs (routing.queues.triage's actions
# that settle it, and a merge): after one, the item is theirs to move, not the words'.
# Its status does not tell: a reroute or a confirm leaves it "new", and so do a release,
# a reopen and an unmerge after the claim, resolve or merge that placed it.
PLACED_BY_A_PERSON = ("rerouted", "confirmed", "claimed", "assigned", "resolved", "spam", "merged into")


@dataclass(frozen=True)
class CallFacts:
    """What a recording or transcription callback says about the call."""

    call_sid: str
    recording_sid: str
    recording_url: str
    caller: str
    called: str
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Transcription:
    sid: str
    status: str  # "completed" or "failed"
    text: str


@dataclass(frozen=True)
class Voicemail:
    """A callback turned into the item it makes and the call facts that go with it."""

    message: InboundMessage
    call: CallFacts
    recording_filename: str


class VoicemailDesk:
    """Stores voicemail callbacks on their call's item."""

    def __init__(self, deliverer: Deliverer, *, transcribe: bool) -> None:
        self.deliverer = deliverer
        self.transcribe = transcribe

    def record(
        self,
        voicemail: Voicemail,
        *,
        refused: str | None = None,
        transcription: Transcription | None = None,
    ) -> Delivery:
        """Make or find the call's item; add the recording download and any transcript.

        `refused` says why the recording URL may not be fetched (kept as a failed download).
        """

        def store(session: Session, delivery: Delivery) -> None:
            call = _call_row(session, delivery.item_id, voicemail.call, self.transcribe)
            enqueue(
                session,
                delivery.item_id,
                voicemail.call.recording_url,
                voicemail.recording_filename,
                "recording",
                due=voicemail.message.received_at,
                refused=refused,
            )
            if not delivery.created:
                _keep_raw_form(session, delivery.item_id, voicemail.message)
            if transcription is not None:
                # Locked as a person's action locks it (triage.item_for), so that a reroute
                # committed meanwhile is seen here rather than overwritten.
                item = session.get_one(
                    Item, delivery.item_id, with_for_update={"key_share": True}, populate_existing=True
                )
                _add_transcript(session, item, call, transcription, self.deliverer.router)

        return self.deliverer.deliver(voicemail.message, also=store)


def call_of(session: Session, item_id: int) -> VoiceCall | None:
    return session.scalar(select(VoiceCall).where(VoiceCall.item_id == item_id))


def _call_row(session: Session, item_id: int, facts: CallFacts, transcribe: bool) -> VoiceCall:
    call = call_of(session, item_id)
    if call is None:
        call = VoiceCall(
            item_id=item_id,
            call_sid=facts.call_sid,
            caller=facts.caller,
            called=facts.called,
            transcript_status="pending" if transcribe else "off",
        )
        session.add(call)
    call.recording_sid = call.recording_sid or facts.recording_sid
    if call.duration_seconds is None:
        call.duration_seconds = facts.duration_seconds
    return call


def _keep_raw_form(session: Session, item_id: int, message: InboundMessage) -> None:
    """Attach a later callback's raw form to the item, unless the same bytes are there already."""
    digest = hashlib.sha256(message.raw).hexdigest()
    attached = select(Attachment.blob_id).where(Attachment.item_id == item_id)
    raw = select(Item.raw_blob_id).where(Item.id == item_id)
    kept = select(Blob.id).where(Blob.sha256 == digest, Blob.id.in_(attached.union(raw))).limit(1)
    if session.scalar(kept) is not None:
        return  # a replay
    forms = select(func.count()).where(
        Attachment.item_id == item_id, Attachment.filename.like("callback-%.form")
    )
    number = (session.scalar(forms) or 0) + 2  # the first callback is the item's raw form
    session.add(
        Attachment(
            item_id=item_id,
            filename=f"callback-{number}.form",
            content_type=message.raw_content_type,
            size=len(message.raw),
            inline=False,
            blob=new_blob(message.raw),
        )
    )


def _add_transcript(
    session: Session, item: Item, call: VoiceCall, transcription: Transcription, router: Routes
) -> None:
    if (call.transcription_sid, call.transcript_status) == (transcription.sid, transcription.status):
        return  # a replay of a callback already stored
    call.transcription_sid, call.transcript_status = transcription.sid, transcription.status
    if transcription.status != "completed":
        _event(session, item, "transcription failed", {"status": transcription.status})
        return
    call.transcript = item.text = transcription.text
    search_index.reindex(session, normalizer_for(router.settings.languages), item.id)
    _event(session, item, "transcribed", {"characters": len(transcription.text)})
    if not _done_by_a_person(session, item, PLACED_BY_A_PERSON):
        _reroute(session, item, router)


def _done_by_a_person(session: Session, item: Item, actions: tuple[str, ...]) -> bool:
    """Whether a person did one of `actions` to the item: the machine's routing then yields."""
    done = select(AuditEvent.id).where(AuditEvent.item_id == item.id, AuditEvent.action.in_(actions))
    return session.scalar(done.where(AuditEvent.actor != SYSTEM_ACTOR).limit(1)) is not None


def _reroute(session: Session, item: Item, router: Routes) -> None:
    """Route the item again now that its words are known; record a move to another queue.
    A priority a person set stays: they said how urgent the call is, having heard more of
    it than its first words may tell a rule."""
    decision = router.route(message_of(item), session)
    if decision.department_id != item.department_id:
        _event(
            session,
            item,
            "rerouted",
            {"from": item.department_id, "to": decision.department_id, "reason": decision.reason},
        )
    kept = item.priority if _done_by_a_person(session, item, ("prioritised",)) else None
    apply_decision(item, decision)
    if kept is not None:
        item.priority = kept


def _event(session: Session, item: Item, action: str, detail: dict[str, object]) -> None:
    session.add(AuditEvent(item_id=item.id, actor=SYSTEM_ACTOR, action=action, detail=detail))
