"""`intake contacts export|erase` and `intake retention run` as an operator types them."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select

from config.settings import Settings
from intake.cli.runtime import Runtime
from routing.store.database import transaction
from routing.store.models import AuditEvent, Base, Contact, ContactAddress, Erasure, Item
from tests.conftest import OFFICE
from tests.support.command import intake
from tests.support.contacts import ANA_ADDRESS, ANA_NUMBER, ANA_TRACES, ARRIVED, text_message, two_people


def _run(settings: Settings, *args: str) -> Any:
    return intake("--config", str(OFFICE), *args, database_url=settings.database.url)


def _every_row(runtime: Runtime) -> str:
    """Every row of every table, as one text to search (bytes read as Latin-1)."""
    seen = []
    with runtime.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                seen += [v.decode("latin-1") if isinstance(v, bytes) else repr(v) for v in row]
    return "\n".join(seen)


def test_erase_leaves_no_trace_of_the_person_and_only_a_tombstone(
    runtime: Runtime, settings: Settings
) -> None:
    people = two_people(runtime)
    before = _every_row(runtime)
    assert all(trace in before for trace in ANA_TRACES), [t for t in ANA_TRACES if t not in before]

    done = _run(settings, "contacts", "erase", ANA_NUMBER, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Erased contact {people.ana_contact}" in done.stdout and "3 items" in done.stdout

    after = _every_row(runtime)
    assert [trace for trace in ANA_TRACES if trace in after] == []
    with transaction(runtime.sessions, write=False) as session:
        assert session.scalars(select(Item.id)).all() == list(people.bob_items)
        assert {e.item_id for e in session.scalars(select(AuditEvent))} == set(people.bob_items)
        [stone] = session.scalars(select(Erasure)).all()
        assert (stone.actor, stone.reason, stone.items, stone.contacts) == (
            "intake contacts erase",
            "request",
            3,
            1,
        )
    assert "Bob Stone" in after and "chairs" in after  # the other person is untouched
    database = make_url(settings.database.url).database
    if settings.database.url.startswith("sqlite") and database:
        runtime.engine.dispose()
        files = [Path(database), Path(database + "-wal")]
        on_disk = b"".join(path.read_bytes() for path in files if path.exists())
        assert b"Bob Stone" in on_disk
        assert [t for t in ANA_TRACES if t.encode() in on_disk] == []


def test_export_holds_every_item_and_file_of_the_person_and_nothing_of_anyone_else(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    people = two_people(runtime)
    target = tmp_path / "ana.zip"
    done = _run(settings, "contacts", "export", ANA_ADDRESS, "--output", str(target))
    assert done.returncode == 0, done.stderr
    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    document = json.loads(archive.read("contact.json"))
    assert sorted(a["value"] for a in document["contact"]["addresses"]) == [ANA_NUMBER, ANA_ADDRESS]
    assert [item["id"] for item in document["items"]] == list(people.ana_items)
    names = archive.namelist()
    text, email, photo = people.ana_items
    assert {f"items/{text}/raw.form", f"items/{email}/raw.eml", f"items/{photo}/raw.eml"} <= set(names)
    [attachment] = [name for name in names if "/attachments/" in name]
    assert attachment.endswith("-boiler.jpg") and archive.read(attachment) == b"ana-photo-bytes"
    everything = b"".join(archive.read(name) for name in names)
    assert b"qwertyfrobnicate" in everything and b"zanzibarquux" in everything
    assert b"bob" not in everything.lower() and b"other.example" not in everything


def test_export_holds_the_persons_items_stored_before_contacts_were_kept(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    # Items stored before contacts were kept have none: they are the person's by their
    # sender's address, as an erasure finds them too.
    people = two_people(runtime)
    _, email, _ = people.ana_items
    with transaction(runtime.sessions) as session:
        session.get_one(Item, email).contact_id = None
    target = tmp_path / "ana.zip"
    done = _run(settings, "contacts", "export", ANA_ADDRESS, "--output", str(target))
    assert done.returncode == 0, done.stderr
    document = json.loads(zipfile.ZipFile(io.BytesIO(target.read_bytes())).read("contact.json"))
    assert [item["id"] for item in document["items"]] == list(people.ana_items)


def test_unknown_people_and_an_erase_without_confirmation_are_refused(
    runtime: Runtime, settings: Settings
) -> None:
    two_people(runtime)
    unknown = _run(settings, "contacts", "export", "nobody@nowhere.example")
    assert unknown.returncode == 2
    assert "no contact has the address or number nobody@nowhere.example" in unknown.stderr
    nonsense = _run(settings, "contacts", "erase", "hello there", "--yes")
    assert nonsense.returncode == 2 and "neither an email address nor a phone number" in nonsense.stderr
    unconfirmed = _run(settings, "contacts", "erase", ANA_NUMBER)
    assert unconfirmed.returncode == 2 and "give --yes" in unconfirmed.stderr
    with transaction(runtime.sessions, write=False) as session:
        assert len(session.scalars(select(Item.id)).all()) == 4


def test_a_number_written_as_digits_finds_its_person_and_one_that_is_also_an_id_is_refused(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    people = two_people(runtime)
    # Ana's number as people type it, without spaces: not contact 7700900123.
    exported = _run(settings, "contacts", "export", "07700900123", "--output", str(tmp_path / "ana.zip"))
    assert exported.returncode == 0, exported.stderr
    assert f"contact {people.ana_contact}, 3 items" in exported.stdout
    # A short number that texted the office, whose digits are another contact's id too.
    text_message(runtime, "61234", "Your parcel is on its way", "SM-short-1", ARRIVED)
    with transaction(runtime.sessions) as session:
        dan = ContactAddress(kind="email", value="dan@ode.example")
        session.add(Contact(id=61234, name="Dan Ode", addresses=[dan]))
    refused = _run(settings, "contacts", "erase", "61234", "--yes")
    assert refused.returncode == 2
    assert "61234 is contact 61234, and the number +4461234 is contact" in refused.stderr
    with transaction(runtime.sessions, write=False) as session:
        assert session.get(Contact, 61234) is not None
        assert session.scalar(select(ContactAddress.id).where(ContactAddress.value == "+4461234")) is not None
        assert session.scalars(select(Erasure)).all() == []
