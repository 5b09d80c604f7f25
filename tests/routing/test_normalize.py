"""One normalized text for routing: folding, lemmas and stems in each office language."""

from __future__ import annotations

import pytest

from routing.normalize import fold, normalizer_for

LANGUAGES = ("ro", "hu", "en", "de")


def test_folding_drops_case_and_diacritics_and_joins_the_romanian_comma_and_cedilla() -> None:
    assert fold("Plăți ÎNTREȚINERE") == "plati intretinere"
    # s and t with a comma below (ș, ț) and with a cedilla (ş, ţ), as old keyboards type them
    assert fold("ș ş Ș Ş ț ţ Ț Ţ") == "s s s s t t t t"
    # ß, the "fi" ligature and full-width letters
    assert fold("Größe \ufb01nal \uff32\uff45\uff43\uff48\uff4e\uff55\uff4e\uff47") == "grosse final rechnung"
    assert fold("számla fűtés") == "szamla futes"


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("ro", ["plată", "plata", "plătit", "plăți", "plătesc", "PLATA"]),
        ("ro", ["programare", "programarea", "programări", "programez"]),
        ("ro", ["factură", "factura", "facturii", "facturile"]),
        ("ro", ["întreținere", "intretinere", "întreţinerea"]),
        ("hu", ["számla", "számlát", "számlámat", "szamlat"]),
        ("hu", ["időpont", "időpontot", "időpontra", "idopont"]),
        ("hu", ["fizet", "fizettem", "fizetni"]),
        ("de", ["Rechnung", "Rechnungen", "rechnung"]),
        ("de", ["Termin", "Termine", "Terminen"]),
        ("de", ["Zahlung", "Zahlungen"]),
        ("en", ["invoice", "invoices", "invoiced"]),
        ("en", ["appointment", "appointments"]),
        ("en", ["refund", "refunded", "refunds"]),
    ],
)
def test_every_form_of_a_word_becomes_one_term(language: str, forms: list[str]) -> None:
    normalizer = normalizer_for(LANGUAGES)
    assert len({normalizer.term(form, language) for form in forms}) == 1, forms


@pytest.mark.parametrize(
    ("language", "apart"),
    [
        ("ro", ["plată", "programare", "factură", "chirie"]),
        ("hu", ["számla", "száj", "fizetés", "időpont"]),
        ("de", ["Rechnung", "Termin", "Miete", "Heizung"]),
        ("en", ["invoice", "interview", "in", "rent"]),
    ],
)
def test_different_words_stay_apart(language: str, apart: list[str]) -> None:
    normalizer = normalizer_for(LANGUAGES)
    assert len({normalizer.term(word, language) for word in apart}) == len(apart)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bună ziua, aș vrea să plătesc întreținerea pe luna aceasta.", "ro"),
        ("Buna ziua, as vrea sa platesc intretinerea pe luna aceasta.", "ro"),
        ("Jó napot, szeretném befizetni a bérleti díjat.", "hu"),
        ("Guten Tag, ich möchte die Miete für Dezember überweisen.", "de"),
        ("Hello, I would like to pay the rent for December.", "en"),
    ],
)
def test_the_language_is_told_among_the_office_languages(text: str, language: str) -> None:
    assert normalizer_for(LANGUAGES).language(text) == language


def test_an_office_of_one_language_reads_everything_in_it() -> None:
    english = normalizer_for(("en",))
    assert english.detector is None
    assert english.language("Jó napot, szeretném befizetni a bérleti díjat.") == "en"


def test_a_keyword_is_spelled_in_the_office_languages_that_know_it() -> None:
    normalizer = normalizer_for(LANGUAGES)
    assert ("plat",) in normalizer.spellings("plată")
    assert normalizer.spellings("!!") == set()
    # English "rent" read as Hungarian would stem like "rendben" ("all right").
    assert normalizer.spellings("rent") == {("rent",)}
    assert normalizer.term("Rendben", "hu") not in {t for form in normalizer.spellings("rent") for t in form}
    # A word no dictionary knows (a name, a code) is spelled in every language.
    assert normalizer.spellings("Xqzvbn") == {(normalizer.term("Xqzvbn", code),) for code in LANGUAGES}


def test_a_stem_of_one_or_two_letters_keeps_its_word() -> None:
    normalizer = normalizer_for(LANGUAGES)
    # kiadó ("to let") would stem to "ki" ("who", "out"), áram ("power") to ár ("price").
    assert normalizer.term("kiadó", "hu") != normalizer.term("ki", "hu")
    assert normalizer.term("áram", "hu") != normalizer.term("árat", "hu")


def test_the_end_of_a_german_compound_is_found_among_known_words() -> None:
    normalizer = normalizer_for(LANGUAGES)
    known = frozenset({normalizer.term("Rechnung", "de"), normalizer.term("Schaden", "de")})
    read = normalizer.read("Bitte die Mietrechnung und den Wasserschaden prüfen", "de")
    found = normalizer.with_known_parts(read, known, joined=False)
    assert known <= set(found.terms)
    assert found.words[-2:] == ("Mietrechnung", "Wasserschaden")
    # Hungarian suffixes make false parts (`viszonthallásra` is not an `állás`): not looked into.
    hungarian = normalizer.read("viszonthallásra", "hu")
    job = frozenset({normalizer.term("állás", "hu")})
    assert normalizer.with_known_parts(hungarian, job, joined=False) == hungarian


def test_a_word_heard_as_two_is_joined_only_in_a_transcript() -> None:
    normalizer = normalizer_for(LANGUAGES)
    broken = frozenset({normalizer.term("elromlott", "hu")})
    read = normalizer.read("jó napot el romlott a zár", "hu")
    assert set(broken) <= set(normalizer.with_known_parts(read, broken, joined=True).terms)
    assert normalizer.with_known_parts(read, broken, joined=False) == read


def test_filler_words_of_each_language_are_known_as_terms() -> None:
    filler = normalizer_for(LANGUAGES).filler
    assert {"the", "si", "und", "es"} <= filler
    assert "plat" not in filler and "rechnung" not in filler
    # Greetings and thanks open and close every department's mail.
    normalizer = normalizer_for(LANGUAGES)
    courtesy = {("ro", "ziua"), ("ro", "mulțumesc"), ("hu", "napot"), ("en", "regards"), ("de", "Grüße")}
    assert {normalizer.term(word, code) for code, word in courtesy} <= filler


def test_numbers_stay_as_written() -> None:
    read = normalizer_for(LANGUAGES).read("Apartamentul 12, factura 2026", "ro")
    assert read.terms[1] == "12" and read.terms[3] == "2026"
    assert read.words == ("Apartamentul", "12", "factura", "2026")
    assert read.find(("factur", "2026")) == "factura 2026"
    assert read.find(("2026", "factur")) is None
