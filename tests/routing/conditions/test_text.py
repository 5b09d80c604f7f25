"""The `subject`, `body` and `transcript` conditions: keywords and regular expressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.engine import Router
from tests.support.routers import email, match, office_with, rfc5322, rule_under_test, sms, voicemail


def _mail(subject: str, body: str) -> bytes:
    return rfc5322(
        "From: ann@client.example",
        "To: hello@office.test",
        f"Subject: {subject}",
        "Message-ID: <t@c>",
        body=body,
    )


def test_subject_keywords_are_whole_words_in_any_case_and_any_form(tmp_path: Path) -> None:
    when = 'subject = ["invoice", "credit note"]'
    assert match(tmp_path, when, email(_mail("Your INVOICE 42", "x"))) == "subject has 'invoice'"
    assert match(tmp_path, when, email(_mail("A Credit Note for you", "x"))) == "subject has 'credit note'"
    found = match(tmp_path, when, email(_mail("Re: credit notes", "x")))
    assert found == "subject has 'credit note' (as 'credit notes')"
    assert (
        match(tmp_path, when, email(_mail("Invoices attached", "x")))
        == "subject has 'invoice' (as 'Invoices')"
    )
    assert match(tmp_path, when, email(_mail("Credit for the note", "x"))) is None  # not side by side
    assert match(tmp_path, when, email(_mail("Invoiceless", "x"))) is None  # not a whole word
    assert match(tmp_path, when, email(_mail("Hello", "the invoice is in the body"))) is None


def test_exact_keywords_match_only_as_written(tmp_path: Path) -> None:
    when = 'subject = ["exact:credit note"]'
    assert match(tmp_path, when, email(_mail("A CREDIT NOTE", "x"))) == "subject has exact:'credit note'"
    assert match(tmp_path, when, email(_mail("Re: credit notes", "x"))) is None


FOUR_LANGUAGES = 'languages = ["ro", "en", "hu", "de"]\n'


def _each_matches_as_said(tmp_path: Path, when: str, cases: dict[str, str]) -> None:
    """Each text, as a mail's body in an office of four languages, matches for that reason."""
    for text, reason in cases.items():
        assert match(tmp_path, when, email(_mail("Hello", text)), FOUR_LANGUAGES) == reason, text


def test_keywords_match_inflections_and_missing_diacritics_in_the_office_languages(tmp_path: Path) -> None:
    when = 'body = ["plată", "programare", "számla", "Rechnung"]'
    cases = {
        "Am plătit ieri prin transfer bancar toată suma.": "body has 'plată' (as 'plătit')",
        "Buna ziua, as vrea sa fac plata cu cardul la receptie.": "body has 'plată' (as 'plata')",
        "Doresc să anulez programarea de mâine dimineață.": "body has 'programare' (as 'programarea')",
        "Jó napot, a számlámat még nem kaptam meg, kérem küldjék el.": "body has 'számla' (as 'számlámat')",
        "Guten Tag, die Rechnungen vom März sind noch offen.": "body has 'rechnung' (as 'Rechnungen')",
    }
    _each_matches_as_said(tmp_path, when, cases)
    assert match(tmp_path, when, email(_mail("Hello", "Aș vrea să vorbesc cu medicul."))) is None


def test_a_phrase_keeps_its_meaning_with_one_word_put_into_it(tmp_path: Path) -> None:
    when = 'body = ["miroase a gaz", "nu avem căldură", "riecht nach Gas", "smell of gas"]'
    cases = {
        "Miroase puternic a gaz pe scara B.": "body has 'miroase a gaz' (as 'Miroase puternic a gaz')",
        "De ieri nu mai avem caldura.": "body has 'nu avem căldură' (as 'nu mai avem caldura')",
        "Es riecht stark nach Gas im Treppenhaus.": "body has 'riecht nach gas' (as 'riecht stark nach Gas')",
        "There is a strong smell of gas.": "body has 'smell of gas'",
    }
    _each_matches_as_said(tmp_path, when, cases)
    # Further apart, the words are another sentence's, not the phrase's.
    assert match(tmp_path, when, email(_mail("Hello", "Riecht es im Keller noch immer nach Gas?"))) is None
    assert match(tmp_path, when, email(_mail("Hello", "Nu avem nicio problemă cu căldura."))) is None


def test_keywords_read_only_the_new_words_of_a_reply(tmp_path: Path) -> None:
    reply = "Thanks, see you then.\n\nOn Mon, 2 Nov 2026 at 10:12, Billing <billing@office.test> wrote:\n> Your refund is on its way.\n"
    assert match(tmp_path, 'body = ["refund"]', email(_mail("Re: Tuesday", reply))) is None
    assert (
        match(tmp_path, 'body = ["exact:refund"]', email(_mail("Re: Tuesday", reply)))
        == "body has exact:'refund'"
    )


def test_an_encoded_subject_is_read_decoded(tmp_path: Path) -> None:
    raw = rfc5322(
        "From: ann@client.example",
        "To: hello@office.test",
        "Subject: =?utf-8?q?Rechnung_f=C3=BCr_M=C3=A4rz?=",
        "Message-ID: <t2@c>",
    )
    assert match(tmp_path, 'subject = ["für"]', email(raw)) == "subject has 'für'"


def test_body_keywords_read_mail_and_texts_but_not_voicemail(tmp_path: Path) -> None:
    when = 'body = { keywords = ["refund"] }'
    assert match(tmp_path, when, email(_mail("Hi", "I would like a refund, please."))) == "body has 'refund'"
    assert match(tmp_path, when, sms("REFUND please")) == "body has 'refund'"
    assert match(tmp_path, when, voicemail("I would like a refund")) is None


def test_transcript_reads_voicemail_only(tmp_path: Path) -> None:
    when = 'transcript = ["emergency"]'
    assert (
        match(tmp_path, when, voicemail("This is an emergency, water everywhere"))
        == "transcript has 'emergency'"
    )
    assert match(tmp_path, when, sms("emergency")) is None


def test_a_regex_is_case_insensitive(tmp_path: Path) -> None:
    when = r'body = { regex = "order\\s+#?\\d{5}" }'
    found = match(tmp_path, when, email(_mail("Where is it", "About ORDER #12345 from May")))
    assert found == r"body matches /order\s+#?\d{5}/ at 'ORDER #12345'"
    assert match(tmp_path, when, email(_mail("Where is it", "About order 123"))) is None


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (
            'subject = { regex = "(" }',
            r"rules\[0\]\.when\.subject\.regex: rule 'under-test': '\(' is not a valid regular",
        ),
        (
            'subject = { keywords = ["a"], regex = "b" }',
            "rule 'under-test': subject: give either keywords or regex",
        ),
        ('body = { words = ["a"] }', "rule 'under-test': body: unknown key 'words'"),
        ("transcript = 5", "rule 'under-test': transcript must be a string or a list of strings"),
        ('body = ["exact: "]', "rule 'under-test': body: give the words after 'exact:'"),
        ('body = ["--"]', "rule 'under-test': body: a keyword needs at least one word"),
    ],
)
def test_bad_arguments_are_refused_naming_the_rule(tmp_path: Path, when: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Router(office_with(tmp_path, rule_under_test(when)))
