"""Search: words found in their other forms and without diacritics, the index kept in step
with the items, and queries that cannot be searched refused with a reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, text

from config.loading import load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime
from intake.email.parser import parse_email
from routing.channels.voicemail import CallFacts, Transcription, Voicemail, VoicemailDesk
from routing.queues import reading, search, triage
from routing.queues.filters import BadQuery, Filters
from routing.store.database import transaction
from routing.store.models import Item, Job
from tests.conftest import OFFICE
from tests.support.mail import raw_message
from tests.support.people import new_person
from tests.support.queue_pages import START, add_item
from tests.support.routers import voicemail

LANGUAGES = ("ro", "hu", "en")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The test office, written to in Romanian, Hungarian and English."""
    return replace(load_settings(OFFICE, {"INTAKE_DATABASE_URL": database_url}), languages=LANGUAGES)


def found(runtime: Runtime, query: str, **args: str) -> list[int]:
    filters = Filters.parse({"q": query, "status": "all", **args}, languages=LANGUAGES)
    with transaction(runtime.sessions, write=False) as session:
        return [item.id for item in reading.list_items(session, limit=50, filters=filters).items]


def index_rows(runtime: Runtime, item_id: int) -> int:
    key = "rowid" if runtime.engine.dialect.name == "sqlite" else "item_id"
    with transaction(runtime.sessions, write=False) as session:
        return int(
            session.scalar(text(f"SELECT count(*) FROM item_search WHERE {key} = :id"), {"id": item_id})
        )


def test_inflected_forms_and_missing_diacritics_find_romanian_hungarian_and_english(runtime: Runtime) -> None:
    romanian = add_item(
        runtime,
        1,
        sender="Ana Popescu <ana.popescu@firma.ro>",
        subject="Factura lunii trecute",
        body="Bună ziua, nu am primit încă factura pentru întreținerea din luna trecută. Plătesc mâine.\r\n",
    )
    hungarian = add_item(
        runtime,
        2,
        subject="Számla",
        body="Jó napot, a számlámat még nem kaptam meg, és szeretnék egy időpontot is kérni.\r\n",
    )
    english = add_item(
        runtime, 3, subject="Billing", body="Hello, I was invoiced twice for both appointments last week.\r\n"
    )
    for query in (
        "facturii",
        "facturile",
        "factură",
        "intretinerea",
        "întreținere",
        "plăți",
        "plata",
        "popescu",
    ):
        assert found(runtime, query) == [romanian], query
    for query in ("számla", "szamlat", "számlát", "idopont", "időpontra"):
        assert found(runtime, query) == [hungarian], query
    for query in ("invoice", "INVOICES", "appointment", "Appointments"):
        assert found(runtime, query) == [english], query
    assert found(runtime, "refund") == []


def test_every_word_must_match_phrases_keep_their_order_and_the_last_word_may_be_unfinished(
    runtime: Runtime,
) -> None:
    first = add_item(runtime, 1, subject="Broken gearbox", body="The gearbox of my van broke on Monday.\r\n")
    second = add_item(runtime, 2, subject="Gearbox quote", body="What does a new gearbox cost?\r\n")
    assert found(runtime, "gearbox") == [second, first]
    assert found(runtime, "gearbox van") == [first]
    assert found(runtime, "gearbox lorry") == []
    assert found(runtime, '"new gearbox"') == [second]
    assert found(runtime, '"gearbox new"') == []
    assert found(runtime, "gearbox mond") == [first]  # typing "Monday"
    assert found(runtime, "gearbox mo") == []  # two letters start too many words to be a prefix
    carpet = add_item(runtime, 3, subject="Gearbox", body="And the carpet in the van is wet.\r\n")
    car = add_item(runtime, 4, subject="Gearbox", body="Is my car ready?\r\n")
    assert found(runtime, "carp") == [carpet]
    assert found(runtime, "car") == [car]  # found whole: typed to its end, no longer a prefix
    # The search keeps the queue's filters and order.
    assert found(runtime, "gearbox", sort="urgent") == [car, carpet, second, first]
    assert found(runtime, "gearbox", channel="sms") == []


def test_the_index_follows_the_item_through_a_reroute_a_reply_and_a_deletion(runtime: Runtime) -> None:
    maria = new_person(runtime.sessions, "maria")
    item_id = add_item(runtime, 1, subject="Gearbox", body="The gearbox broke.\r\n")
    assert index_rows(runtime, item_id) == 1
    with transaction(runtime.sessions) as session:
        triage.reroute(session, item_id, maria, "billing", "a repair is paid by billing")
    with transaction(runtime.sessions, write=False) as session:
        assert session.get_one(Item, item_id).department_id == "billing"
    assert found(runtime, "gearbox") == [item_id]
    # A reply by email joins the item (the conversation continues): its words are found too.
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        "Subject: Re: Gearbox",
        "Message-ID: <r1@client.example>",
        "In-Reply-To: <m1@client.example>",
        "",
        "It also makes a clutch noise.",
    )
    runtime.deliverer.deliver(parse_email(reply, received_at=START + timedelta(minutes=2)))
    with transaction(runtime.sessions, write=False) as session:
        assert len(session.get_one(Item, item_id).messages) == 1, "the reply did not join the item"
    assert found(runtime, "clutch") == [item_id]
    assert found(runtime, "gearbox clutch") == [item_id]
    with transaction(runtime.sessions) as session:
        session.execute(delete(Job).where(Job.item_id == item_id))
        session.delete(session.get_one(Item, item_id))
    assert index_rows(runtime, item_id) == 0
    assert found(runtime, "gearbox") == []


def test_a_voicemail_is_found_by_its_transcript_once_it_arrives(runtime: Runtime) -> None:
    call = CallFacts("CA01", "RE01", "https://api.twilio.com/rec/RE01", "+15555550123", "+15555550100")
    desk = VoicemailDesk(runtime.deliverer, transcribe=True)
    item_id = desk.record(Voicemail(voicemail(""), call, "RE01.wav")).item_id
    assert found(runtime, "boiler") == []
    desk.record(
        Voicemail(voicemail(""), call, "RE01.wav"),
        transcription=Transcription("TR01", "completed", "The boiler in flat four is leaking."),
    )
    assert found(runtime, "boilers leaking") == [item_id]


def test_an_item_of_more_distinct_words_than_a_tsvector_holds_is_stored_and_found(runtime: Runtime) -> None:
    """PostgreSQL holds at most 1 MB in a tsvector: a mail of that many distinct words (a
    night's export pasted into it) and a reply with the next night's are stored as read,
    not refused until they are kept raw only."""
    item_id = add_item(runtime, 1, subject="Nightly export", body=f"The export of the night.\r\n{export(0)}")
    assert found(runtime, "nightly export") == [item_id]
    assert found(runtime, "10000005") == [item_id]
    reply = raw_message(
        "From: Ann Example <ann@client.example>",
        "To: sales@office.test",
        "Subject: Re: Nightly export",
        "Message-ID: <r1@client.example>",
        "In-Reply-To: <m1@client.example>",
        "",
        f"And the next one.\r\n{export(1)}",
    )
    assert (
        runtime.deliverer.deliver(parse_email(reply, received_at=START + timedelta(minutes=2))).item_id
        == item_id
    )


def export(night: int) -> str:
    """90,000 distinct numbers, ten to a line: 1 MB of lexemes and positions in a tsvector."""
    first = 10_000_000 + night * 100_000
    lines = (" ".join(str(n) for n in range(start, start + 10)) for start in range(first, first + 90_000, 10))
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ('"', "q has no word to search for"),
        ("*** () : ^ - + & | ! ' \\ <->", "q has no word to search for"),
        (" ".join(["word"] * 17), "q has more than 16 words"),
    ],
)
def test_a_query_with_nothing_or_too_much_to_search_is_refused(query: str, reason: str) -> None:
    with pytest.raises(BadQuery, match=reason.replace("(", r"\(")):
        Filters.parse({"q": query}, languages=LANGUAGES)


@pytest.mark.parametrize(
    "query",
    [
        "NEAR(gearbox van)",
        "gearbox AND OR NOT",
        "gear* OR van:*",
        "terms:gearbox",
        "gearbox & !van | (x",
        "it's 'gearbox'",
        '"unclosed gearbox',
        "^gearbox -van +x",
        "gearbox\\",
    ],
)
def test_search_syntax_of_either_database_is_read_as_plain_words(client: FlaskClient, query: str) -> None:
    for path in ("/departments/sales", "/api/v1/items"):
        answer = client.get(path, query_string={"q": query})
        assert answer.status_code == 200, (query, answer.get_data(as_text=True)[:300])


def test_a_word_in_many_items_pages_the_same_by_walking_the_queue(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        add_item(runtime, n, subject=f"Gearbox {n}", body="gearbox" if n % 3 else "nothing here", priority=p)
        for n, p in enumerate(["low", "urgent", "normal", "high"] * 3, start=1)
    ]
    by_ids = {sort: paged(runtime, "gearbox", sort) for sort in ("newest", "urgent")}
    assert by_ids["newest"] == sorted(items, reverse=True)  # every subject says gearbox
    assert found(runtime, "gearbox here") == [items[11], items[8], items[5], items[2]]
    # Every query takes the way of a common word; on SQLite a chunk of 2 ids at a time.
    monkeypatch.setattr(search, "FEW_MATCHES", 0)
    monkeypatch.setattr(search, "WALK_CHUNK", 2)
    for sort, expected in by_ids.items():
        assert paged(runtime, "gearbox", sort) == expected, sort
    assert found(runtime, "gearbox here") == [items[11], items[8], items[5], items[2]]


def paged(runtime: Runtime, query: str, sort: str) -> list[int]:
    """Every item the search finds, three to a page, following the pages' cursors."""
    filters = Filters.parse({"q": query, "status": "all", "sort": sort}, languages=LANGUAGES)
    ids, after = [], None
    while True:
        with transaction(runtime.sessions, write=False) as session:
            page = reading.list_items(session, limit=3, filters=filters, after=after)
        ids += [item.id for item in page.items]
        if page.next is None:
            return ids
        after = page.next


@pytest.fixture
def typed_words(runtime: Runtime) -> dict[str, int]:
    """Items whose words start alike: `invo` starts two terms, `inv` three."""
    bodies = {
        "march": "The invoice for March is attached.\r\n",
        "twice": "I was invoiced twice.\r\n",
        "dispute": "We are involved in a dispute.\r\n",
        "party": "An invitation to the party.\r\n",
        "gearbox": "Gearbox noise.\r\n",
    }
    return {name: add_item(runtime, n, body=body) for n, (name, body) in enumerate(bodies.items(), start=1)}


# Each way a word being typed can be read must find the same items (newest first):
# SQLite expands it into whole terms or, past MAX_COMPLETIONS, asks FTS5 for the prefix;
# PostgreSQL counts its matches or, when common of late, leaves it to the planner.
TYPED = {
    "invo": ["dispute", "twice", "march"],
    "inv": ["party", "dispute", "twice", "march"],
    "march invo": ["march"],
    "gearbox noi": ["gearbox"],
    "invox": [],
    "gearbox invo": [],
}


@pytest.mark.parametrize(
    "way",
    [
        {},
        {"MAX_COMPLETIONS": 0},  # every start stays a prefix
        {"MAX_COMPLETIONS": 1},  # `invo` stays a prefix, `noi` is expanded
        {"COMMON_OF_LATE": 0},  # every start is common: the planner walks
        {"COMMON_OF_LATE": 0, "FEW_MATCHES": 0},  # and the whole words are many
        {"FEW_MATCHES": 0},  # on SQLite, walk() in chunks
    ],
    ids=repr,
)
def test_a_word_being_typed_finds_the_same_items_every_way_it_is_read(
    runtime: Runtime, typed_words: dict[str, int], way: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in way.items():
        monkeypatch.setattr(search, name, value)
    for query, names in TYPED.items():
        assert found(runtime, query) == [typed_words[name] for name in names], query


def typed_clause(runtime: Runtime, query: str) -> search.Clause:
    """The last clause of the query as matching() reads it on this database."""
    parsed = Filters.parse({"q": query}, languages=LANGUAGES).search
    assert parsed is not None
    with transaction(runtime.sessions, write=False) as session:
        return search.matching(session, parsed).query.clauses[-1]


def test_sqlite_expands_a_start_into_at_most_max_completions_whole_terms(
    runtime: Runtime, typed_words: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        assert typed_clause(runtime, "inv").prefix == "inv"  # PostgreSQL keeps the prefix
        return
    expanded = typed_clause(runtime, "inv")
    assert (expanded.prefix, expanded.completions) == (None, ("invit", "invoic", "involv"))
    monkeypatch.setattr(search, "MAX_COMPLETIONS", 3)
    assert typed_clause(runtime, "inv").completions == ("invit", "invoic", "involv")
    monkeypatch.setattr(search, "MAX_COMPLETIONS", 2)
    too_many = typed_clause(runtime, "inv")
    assert (too_many.prefix, too_many.completions) == ("inv", ())
    assert typed_clause(runtime, "invox").completions == ()  # a start of no term


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("ínvo", TYPED["invo"]),  # folded as the index is
        ("'march' invo", ["march"]),
        ("invo OR", []),  # `or` is a word like any other, and `invo` is typed to its end
        # A word with anything but letters and digits in it is read whole: `inv`, `invoice`.
        ("inv*", []),
        ("inv:*", []),
        ("(inv", []),
        ('"inv', []),
        ('"invoice', ["twice", "march"]),
        ("(invoice", ["twice", "march"]),
        ("march & !invoiced", ["march"]),
    ],
)
def test_a_word_being_typed_among_search_syntax_is_read_as_plain_words(
    runtime: Runtime, typed_words: dict[str, int], query: str, names: list[str]
) -> None:
    assert found(runtime, query) == [typed_words[name] for name in names]
