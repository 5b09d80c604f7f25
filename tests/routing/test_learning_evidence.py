"""What counts as evidence for a department: whole keyword phrases, not the office's name,
not what a writer thanks for, and never one plain word alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from config.settings import Settings
from routing.engine import Router
from routing.message_text import courtesy_terms
from routing.normalize import normalizer_for
from routing.seeds import KEYWORD_WEIGHT, ConfigSeeds
from tests.support.routers import email, rfc5322, sms, suggest

LANGUAGES = ("ro", "hu", "en", "de")
OFFICE = """
[office]
name = "Casa Verde Property Management"
domains = ["office.test"]
timezone = "Europe/Bucharest"
default_department = "front-desk"
languages = ["ro", "hu", "en", "de"]

[[departments]]
id = "front-desk"
name = "Front desk"
addresses = ["hello@office.test"]
phones = ["+15555550100"]
description = "General questions and visits."

[[departments]]
id = "repairs"
name = "Repairs"
description = "Broken things in the flats."
addresses = ["repairs@office.test"]
keywords = ["apă caldă", "meleg víz", "hot water", "Warmwasser", "leak", "szivárog", "scurgere", "undicht"]

[[departments]]
id = "accounts"
name = "Accounts"
description = "Rent and the fees tenants pay; jobs at Casa Verde are not ours."
addresses = ["accounts@office.test"]
keywords = ["factură", "számla", "invoice", "Rechnung", "management fee"]

[[departments]]
id = "leasing"
name = "Leasing"
description = "Flats to let and viewings."
keywords = ["vizionare", "megtekintés", "viewing", "Besichtigung"]
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "office.toml"
    path.write_text(OFFICE)
    return load_settings(path)


def _mail(body: str, to: str = "hello@office.test") -> bytes:
    headers = (
        "From: tenant@client.example",
        f"To: {to}",
        "Subject: A question",
        "Message-ID: <e@client.example>",
    )
    return rfc5322(*headers, body=body + "\r\n")


@pytest.mark.parametrize(
    ("language", "phrase", "text"),
    [
        ("ro", "apă caldă", "Nu avem apa calda de ieri."),
        ("hu", "meleg víz", "Tegnap óta nincs meleg víz a lakásban."),
        ("en", "hot water", "There has been no hot water since yesterday."),
    ],
)
def test_a_keyword_phrase_whose_words_stand_together_counts_as_one_keyword(
    settings: Settings, language: str, phrase: str, text: str
) -> None:
    normalizer = normalizer_for(LANGUAGES)
    seeds = ConfigSeeds(settings, normalizer)
    read = normalizer.read(text, language)
    found = normalizer.with_known_parts(read, seeds.vocabulary, joined=False)
    (form,) = {" ".join(f) for f in normalizer.spellings(phrase)} & set(found.terms)
    assert form in seeds.keywords["repairs"]
    # In place of its words, so a phrase does not count twice.
    assert not set(form.split()) & set(found.terms)
    assert seeds.seeds["repairs"][form] == pytest.approx(
        KEYWORD_WEIGHT * min(seeds.seeds["repairs"].values())
    )
    said = Router(settings).route(email(_mail(text))).suggestion
    assert said is not None and said.department_id == "repairs" and said.keywords == 1


def test_the_words_of_a_phrase_apart_are_no_keyword(settings: Settings) -> None:
    said = suggest(settings, None, "The water in the hall is hot.")
    assert said is None or said.keywords == 0


def test_the_office_name_says_nothing_of_a_department(settings: Settings) -> None:
    # Accounts' description names the office ("jobs at Casa Verde"): a caller saying the
    # name is not writing to accounts. A keyword's words stay: "management fee".
    seeds = ConfigSeeds(settings, normalizer_for(LANGUAGES))
    assert {"casa", "verd"} <= seeds.filler
    assert suggest(settings, None, "Hello, is this Casa Verde? Please call me back.") is None
    fee = Router(settings).route(email(_mail("What is the management fee this year?"))).suggestion
    assert fee is not None and fee.department_id == "accounts" and fee.keywords == 1


@pytest.mark.parametrize(
    ("language", "text", "thanked", "asked"),
    [
        (
            "ro",
            "Vă mulțumesc pentru factură, am plătit-o. Altceva: vreau o vizionare sâmbătă.",
            "factur",
            "vizionar",
        ),
        (
            "hu",
            "Köszönöm a számlát, kifizettem. Másik kérdés: lehetne egy megtekintés szombaton?",
            "szaml",
            "megtekintes",
        ),
        (
            "en",
            "Thanks for the invoice, it's paid. Another thing: can I book a viewing on Saturday?",
            "invoic",
            "view",
        ),
        (
            "de",
            "Danke für die Rechnung, ist bezahlt. Noch etwas: geht eine Besichtigung am Samstag?",
            "rechnung",
            "besichtig",
        ),
    ],
)
def test_what_a_writer_thanks_for_weighs_less_than_what_they_ask(
    settings: Settings, language: str, text: str, thanked: str, asked: str
) -> None:
    normalizer = normalizer_for(LANGUAGES)
    courtesy = courtesy_terms(text, normalizer.read(text, language), normalizer)
    assert any(term.startswith(thanked) for term in courtesy)
    assert not any(term.startswith(asked) for term in courtesy)
    # Sent to accounts, whose invoice it thanks for: it asks for a viewing, and reads so.
    decision = Router(settings).route(email(_mail(text, to="accounts@office.test")))
    assert decision.suggestion is not None and decision.suggestion.department_id == "leasing"
    assert decision.department_id != "accounts"


def test_a_thank_you_alone_or_a_season_greeting_beside_it_asks_nothing_new(settings: Settings) -> None:
    normalizer = normalizer_for(LANGUAGES)
    # Every sentence thanks: nothing is set apart, the message is what it thanks for.
    thanks = "Thanks for fixing the leak! Thank you all."
    assert courtesy_terms(thanks, normalizer.read(thanks, "en"), normalizer) == frozenset()
    greeting = "Just a note to say the new flat is lovely. Merry Christmas and happy holidays!"
    assert {"holiday", "christma"} & courtesy_terms(greeting, normalizer.read(greeting, "en"), normalizer)


def test_one_word_that_is_no_keyword_routes_nothing(settings: Settings) -> None:
    # "Flats" is a word of leasing's description, and a tenant's word for any flat.
    decision = Router(settings).route(sms("my flats deposit, when do i get it back"))
    suggestion = decision.suggestion
    assert suggestion is not None and suggestion.department_id == "leasing"
    assert suggestion.terms == 1 and suggestion.keywords == 0 and not suggestion.well_founded
    assert decision.department_id == "front-desk"
    assert decision.decision_needed is not None and "one word" in decision.decision_needed
    keyword = Router(settings).route(sms("can i book a viewing"))
    assert keyword.department_id == "leasing"
