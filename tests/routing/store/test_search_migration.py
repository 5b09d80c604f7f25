"""Migration 0023: the search index is made and filled from the items already stored,
in batches, in the office's languages; a downgrade drops it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.queues import reading
from routing.queues.filters import Filters
from routing.store import search_index
from routing.store.database import transaction
from routing.store.schema import MIGRATIONS, upgrade
from tests.conftest import OFFICE
from tests.support.mail import raw_message
from tests.support.queue_pages import START, add_item

LANGUAGES = ("ro", "hu", "en")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return replace(load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url}), languages=LANGUAGES)


def found(runtime: Runtime, query: str) -> list[int]:
    filters = Filters.parse({"q": query, "status": "all"}, languages=LANGUAGES)
    with transaction(runtime.sessions, write=False) as session:
        return [item.id for item in reading.list_items(session, limit=50, filters=filters).items]


def test_the_index_is_filled_from_stored_items_in_batches_and_dropped_by_a_downgrade(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    romanian = add_item(runtime, 1, body="Bună ziua, nu am primit factura pentru luna trecută.\r\n")
    hungarian = add_item(runtime, 2, body="Jó napot, a számlámat még nem kaptam meg.\r\n")
    others = [add_item(runtime, n, body="Hello, what does the large one cost?\r\n") for n in range(3, 6)]
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        "Subject: Re: Message 5",
        "Message-ID: <r5@client.example>",
        "In-Reply-To: <m5@client.example>",
        "",
        "The gearbox is making a noise too.",
    )
    runtime.deliverer.deliver(parse_email(reply, received_at=START + timedelta(minutes=9)))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0022_contacts")
    assert search_index.TABLE not in sa.inspect(runtime.engine).get_table_names()

    monkeypatch.setattr(search_index, "FILL_BATCH", 2)  # five items: three batches
    upgrade(runtime.engine, LANGUAGES)
    assert found(runtime, "facturii") == [romanian]
    assert found(runtime, "szamla") == [hungarian]
    assert found(runtime, "costs") == others[::-1]
    assert found(runtime, "gearbox") == [others[-1]]  # a follow-up's words count for its item
