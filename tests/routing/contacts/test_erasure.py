"""Erasing a person erases theirs alone: another person's item merged into one of theirs
goes back to its queue, and the learned words others taught stay. An erasure owes the
search index a compaction, paid at the next start if its process died first."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.cli.runtime import Runtime
from intake.jobs.retention import RetentionWorker
from routing.channels.voicemail import CallFacts, Transcription, Voicemail, VoicemailDesk
from routing.contacts.erasure import erase_contact
from routing.contacts.suggestions import merge_items
from routing.normalize import normalizer_for
from routing.store import search_index
from routing.store.database import transaction
from routing.store.models import AuditEvent, Contact, Item, LearnedDepartment, LearnedWord
from tests.support.contacts import ANA_NUMBER, ARRIVED, RECEPTION, text_message, two_people
from tests.support.routers import invoice_router, voicemail


def test_another_persons_item_merged_into_theirs_is_unmerged_not_erased(runtime: Runtime) -> None:
    people = two_people(runtime)
    [bob] = people.bob_items
    with transaction(runtime.sessions) as session:
        merge_items(
            session, session.get_one(Item, bob), session.get_one(Item, people.ana_items[1]), RECEPTION
        )
    with transaction(runtime.sessions) as session:
        erased = erase_contact(
            session,
            session.get_one(Contact, people.ana_contact),
            "test",
            normalizer_for(runtime.settings.languages),
        )
    assert erased.items == 3
    with transaction(runtime.sessions, write=False) as session:
        item = session.get_one(Item, bob)
        assert (item.status, item.merged_into_id) == ("new", None)
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.item_id == bob)).all()
        assert actions[-2:] == ["merged into", "unmerged"]
        words = set(session.scalars(select(LearnedWord.word).where(LearnedWord.department_id == "billing")))
    assert "invoic" in " ".join(words) and "from:bob@other.example" in words


def test_a_reroute_intake_made_itself_takes_back_nothing_others_taught(
    runtime: Runtime, tmp_path: Path
) -> None:
    people = two_people(runtime)  # Bob's invoice and one email of Ana's were taught to billing
    runtime.deliverer.router = invoice_router(runtime.settings, tmp_path)
    call = CallFacts("CA01", "RE01", "https://api.twilio.com/rec/RE01", ANA_NUMBER, "+15555550100")
    desk = VoicemailDesk(runtime.deliverer, transcribe=True)
    desk.record(Voicemail(voicemail("", ANA_NUMBER), call, "RE01.wav"))
    transcript = Transcription("TR01", "completed", "About the invoice for the chairs")
    item_id = desk.record(
        Voicemail(voicemail("", ANA_NUMBER), call, "RE01.wav"), transcription=transcript
    ).item_id
    with transaction(runtime.sessions) as session:
        rerouted = session.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id)).all()[-1]
        assert (rerouted.actor, rerouted.action, rerouted.detail["to"]) == ("intake", "rerouted", "billing")
        erase_contact(
            session,
            session.get_one(Contact, people.ana_contact),
            "test",
            normalizer_for(runtime.settings.languages),
        )
    with transaction(runtime.sessions, write=False) as session:
        words = set(session.scalars(select(LearnedWord.word).where(LearnedWord.department_id == "billing")))
        taught = session.scalar(
            select(LearnedDepartment.documents).where(LearnedDepartment.department_id == "billing")
        )
    assert taught == 1  # Bob's invoice, which nobody erased
    assert {"invoic", "chair", "from:bob@other.example"} <= words


def _index_blocks(runtime: Runtime) -> list[bytes]:
    """The search index's stored segments (SQLite's FTS5 data)."""
    with runtime.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT block FROM {search_index.TABLE}_data ORDER BY id")
        return [bytes(block or b"") for block in rows.scalars()]


def _in_index_segments(runtime: Runtime, word: bytes) -> bool:
    return any(word in block for block in _index_blocks(runtime))


def test_an_erasure_whose_process_died_before_the_compaction_is_compacted_at_the_next_start(
    runtime: Runtime,
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps no deleted row's terms in its index")
    people = two_people(runtime)
    with transaction(runtime.sessions) as session:
        contact = session.get_one(Contact, people.ana_contact)
        erase_contact(session, contact, "test", normalizer_for(runtime.settings.languages))
    # The process dies here, before it compacts the index: her words are in its segments.
    assert _in_index_segments(runtime, b"zanzibarquux")
    # The next start of a worker compacts what the erasure owes, once.
    worker = RetentionWorker(runtime.sessions, lambda: runtime.settings, clock=lambda: ARRIVED)
    worker.run_once()
    assert not _in_index_segments(runtime, b"zanzibarquux")
    with runtime.engine.connect() as connection:
        assert search_index.compaction_owed(connection) is None
    # Owed no more: a later run leaves the index as it is (a compaction rewrites it whole).
    text_message(runtime, "+447700900999", "another boiler", "SM-later-1", ARRIVED)
    before = _index_blocks(runtime)
    worker.run_once()
    assert _index_blocks(runtime) == before
