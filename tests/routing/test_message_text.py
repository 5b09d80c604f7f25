"""Only the new words: replies from the common mail programs in the office's languages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from re import _constants as sre  # the parser of `re` itself, to read the library's patterns
from re import _parser
from typing import Any

import pytest
from mailparser_reply.constants import NOLIST_SIGNATURE_REGEX, OUTLOOK_MAIL_SEPARATOR, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage

from config.languages import readable_languages
from config.loading import load_settings
from intake.rules.labelled_set import read_labels
from routing.message_text import (
    _DISCLAIMER_MARK,
    _HEADER_MARKS,
    _SENTENCE_END,
    FORWARDED,
    NewText,
    _OfficeMail,
    _patterns,
    known,
    new_text,
    read_message,
)
from routing.normalize import normalizer_for
from tests.support.routers import email, rfc5322, sms

LANGUAGES = ("ro", "en", "hu", "de")
NEW = {
    "ro": "Aș vrea să plătesc factura cu cardul.",
    "en": "Can I pay the invoice by card?",
    "hu": "Szeretném kártyával kifizetni a számlát.",
    "de": "Kann ich die Rechnung mit Karte bezahlen?",
}
# What each program puts under the new words, in each language: its quote header, the
# quoted message (about another department's matter), and often a signature above it.
REPLIES = {
    (
        "gmail",
        "ro",
    ): "\n\nÎn lun., 2 nov. 2026 la 10:12, Recepție <receptie@office.test> a scris:\n> Programarea dvs. pentru reparație este confirmată.\n",
    (
        "gmail",
        "en",
    ): "\n\nOn Mon, 2 Nov 2026 at 10:12, Front desk <hello@office.test> wrote:\n> Your repair visit is confirmed\n> for Tuesday.\n",
    (
        "gmail",
        "hu",
    ): "\n\nRecepció <hello@office.test> ezt írta (időpont: 2026. nov. 2., H, 10:12):\n> A javítás időpontja megerősítve.\n",
    (
        "gmail",
        "de",
    ): "\n\nAm Mo., 2. Nov. 2026 um 10:12 Uhr schrieb Empfang <hello@office.test>:\n> Ihr Reparaturtermin ist bestätigt.\n",
    (
        "outlook",
        "ro",
    ): "\n\nCu stimă,\nIon Popescu\n\nDe la: Recepție <receptie@office.test>\nTrimis: luni, 2 noiembrie 2026 10:12\nCătre: Ion Popescu <ion@client.example>\nSubiect: Reparație\n\nProgramarea dvs. pentru reparație este confirmată.\n",
    (
        "outlook",
        "en",
    ): "\n\nKind regards,\nAnn Smith\n\nFrom: Front desk <hello@office.test>\nSent: Monday, November 2, 2026 10:12 AM\nTo: Ann Smith <ann@client.example>\nSubject: Repair\n\nYour repair visit is confirmed for Tuesday.\n",
    (
        "outlook",
        "hu",
    ): "\n\nÜdvözlettel,\nKiss Anna\n\nFeladó: Recepció <hello@office.test>\nElküldve: 2026. november 2., hétfő 10:12\nCímzett: Kiss Anna <anna@client.example>\nTárgy: Javítás\n\nA javítás időpontja megerősítve.\n",
    (
        "outlook",
        "de",
    ): "\n\nMit freundlichen Grüßen\nHans Müller\n\nVon: Empfang <hello@office.test>\nGesendet: Montag, 2. November 2026 10:12\nAn: Hans Müller <hans@client.example>\nBetreff: Reparatur\n\nIhr Reparaturtermin ist bestätigt.\n",
    (
        "apple",
        "ro",
    ): "\n\nTrimis de pe iPhone\n\n> Pe 2 nov. 2026, la 10:12, Recepție <receptie@office.test> a scris:\n> \n> Programarea dvs. pentru reparație este confirmată.\n",
    (
        "apple",
        "en",
    ): "\n\nSent from my iPhone\n\n> On 2 Nov 2026, at 10:12, Front desk <hello@office.test> wrote:\n> \n> Your repair visit is confirmed.\n",
    (
        "apple",
        "hu",
    ): "\n\n> 2026. nov. 2. dátummal, 10:12 időpontban Recepció <hello@office.test> írta:\n> \n> A javítás időpontja megerősítve.\n",
    (
        "apple",
        "de",
    ): "\n\nVon meinem iPhone gesendet\n\n> Am 02.11.2026 um 10:12 schrieb Empfang <hello@office.test>:\n> \n> Ihr Reparaturtermin ist bestätigt.\n",
    (
        "thunderbird",
        "ro",
    ): "\n\nPe 02.11.2026 10:12, Recepție a scris:\n> Programarea dvs. pentru reparație este confirmată.\n",
    ("thunderbird", "en"): "\n\nOn 02/11/2026 10:12, Front desk wrote:\n> Your repair visit is confirmed.\n",
    (
        "thunderbird",
        "hu",
    ): "\n\n2026. 11. 02. 10:12 keltezéssel, Recepció írta:\n> A javítás időpontja megerősítve.\n",
    (
        "thunderbird",
        "de",
    ): "\n\nAm 02.11.26 um 10:12 schrieb Empfang:\n> Ihr Reparaturtermin ist bestätigt.\n",
}


@pytest.mark.parametrize(("program", "language"), sorted(REPLIES))
def test_a_reply_keeps_only_its_new_words(program: str, language: str) -> None:
    assert new_text(NEW[language] + REPLIES[program, language], LANGUAGES).words == NEW[language]


def test_a_header_of_another_office_language_is_known_too() -> None:
    # A German patient answers a Romanian receptionist under Gmail's Romanian header.
    assert new_text(NEW["de"] + REPLIES["gmail", "ro"], LANGUAGES).words == NEW["de"]


def test_a_signature_after_the_dash_line_goes_and_a_list_stays() -> None:
    assert (
        new_text("Can I pay by card?\n\n-- \nAnn Smith\nRepairs Ltd\n", LANGUAGES).words
        == "Can I pay by card?"
    )
    signed = new_text("Can I pay by card?\n\n-- \nAnn Smith\nRepairs Ltd\n", LANGUAGES).signature
    assert "Repairs Ltd" in signed  # kept apart: it says who is writing, not what about
    listed = "Please send:\n- the invoice\n- the receipt"
    assert new_text(listed, LANGUAGES).words == listed


@pytest.mark.parametrize(
    ("thanks", "asked"),
    [
        ("Mulțumesc,", "Vă rog să-mi trimiteți decontul."),
        ("Multumesc!", "Va rog sa-mi trimiteti decontul."),
        ("Köszönöm!", "Kérem, küldjék el a kimutatást."),
        ("Thank you!", "Please send me the statement."),
        ("Vielen Dank!", "Bitte schicken Sie mir die Abrechnung."),
    ],
)
def test_a_thanks_on_a_line_of_its_own_begins_the_signature(thanks: str, asked: str) -> None:
    # What follows a closing thanks is who writes ("proprietar ap. 3"), not what is asked.
    read = new_text(f"Bună ziua,\n\n{asked}\n\n{thanks}\nLiviu Coroian\nproprietar ap. 3\n", LANGUAGES)
    assert read.words == f"Bună ziua,\n\n{asked}"
    assert "proprietar ap. 3" in read.signature
    # A sentence that begins with thanks and goes on is part of the new words.
    going_on = f"Bună ziua,\n\n{thanks} Am primit factura.\n{asked}"
    assert new_text(going_on, LANGUAGES).words == going_on


def test_a_forward_keeps_its_note_or_what_it_forwards() -> None:
    forwarded = "---------- Forwarded message ---------\nFrom: Ann <ann@client.example>\nDate: Mon, 2 Nov 2026\nSubject: Leak\nTo: <hello@office.test>\n\nWater is coming through the ceiling.\n"
    assert (
        new_text("Please deal with the invoice.\n\n" + forwarded, LANGUAGES).words
        == "Please deal with the invoice."
    )
    assert "ceiling" in new_text(forwarded, LANGUAGES).words  # no note: the forwarded mail is the message


def test_a_forward_with_a_short_note_is_read_with_what_it_passes_on() -> None:
    forwarded = "---------- Forwarded message ---------\nFrom: Ann <ann@client.example>\nSubject: Leak\n\nWater is coming through the ceiling.\n"
    long_note = "We moved in last week and would like to know when the first invoice comes, whether the deposit was received and how to pay."

    def body(subject: str, note: str) -> tuple[str, ...]:
        raw = rfc5322("From: bob@client.example", f"Subject: {subject}", body=f"{note}\n\n{forwarded}")
        return read_message(email(raw), normalizer_for(LANGUAGES)).body.terms

    assert "ceil" in body("Fwd: Leak", "Please deal with this.")
    assert "ceil" not in body("Fwd: Leak", long_note)
    assert "ceil" not in body("Leak", "Please deal with this.")  # not a forward: the note alone


def test_the_router_reads_the_new_words_and_marks_an_old_subject() -> None:
    raw = rfc5322(
        "From: ann@client.example",
        "To: hello@office.test",
        "Subject: Re: AW: Repair visit",
        "Message-ID: <r@c>",
        body=NEW["en"] + REPLIES["gmail", "en"],
    )
    read = read_message(email(raw), normalizer_for(LANGUAGES))
    assert read.language == "en" and read.old_subject
    assert read.subject.words == ("Repair", "visit")
    assert "confirm" not in read.body.terms and "invoic" in read.body.terms


def test_a_text_message_has_no_quotes_and_its_made_up_subject_is_not_read() -> None:
    message = sms("On Mon Ann wrote: the boiler is broken")
    read = read_message(message, normalizer_for(LANGUAGES))
    assert read.subject.terms == () and not read.old_subject
    assert "boiler" in read.body.terms and "ann" in read.body.terms


def _holds(parsed: Iterable[tuple[Any, Any]], marks: tuple[str, ...]) -> bool:
    """Whether every match of a parsed pattern has one of `marks` in it: a sequence has one
    when its letters in a row spell it or one of its parts always has one."""
    run = ""
    for op, value in parsed:
        run = run + chr(value) if op is sre.LITERAL else ""
        if any(mark in run for mark in marks) or _part_holds(op, value, marks):
            return True
    return False


def _part_holds(op: Any, value: Any, marks: tuple[str, ...]) -> bool:
    if op is sre.SUBPATTERN:
        return _holds(value[-1], marks)
    if op is sre.BRANCH:
        return all(_holds(branch, marks) for branch in value[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        least, _, repeated = value
        return _holds(list(repeated) * min(least, 8), marks)  # as many in a row as it must
    return False  # anchors, lookarounds, classes: nothing that must be in the text


# Sentences end after their stop or at an empty line, whatever whitespace is around.
SENTENCES = [
    "Thanks for the invoice. Can I pay by card?\n\nAnn",
    "Paid.\u00a0Thank you!\tWhen?\r\n\r\nAnn",
    "No stop here\n \n\nnext line\nsame sentence",
    "Done. \n\n Next!  \n",
    "Mulțumesc! Pot plăti cu cardul?\u2028Da.",
    "...\n\n\n?",
    "",
]


@pytest.mark.parametrize("text", SENTENCES)
def test_sentences_end_where_their_plain_pattern_says(text: str) -> None:
    plain = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
    ends = [end.span() for end in _SENTENCE_END.finditer(text)]
    assert ends == [end.span() for end in plain.finditer(text)]


def test_every_quote_header_and_disclaimer_has_what_new_text_looks_for_first() -> None:
    # new_text spares a text the header pattern when it has no colon and no five dashes, and
    # the disclaimer pattern when it lacks "mail": in every language an office may name,
    # each match of them has those.
    patterns = _patterns(tuple(sorted(code for code in readable_languages() if known(code))))
    assert _holds(_parser.parse(patterns.header.pattern, patterns.header.flags), _HEADER_MARKS)
    assert _holds(_parser.parse(patterns.disclaimers.pattern, patterns.disclaimers.flags), ("mail",))
    # "mail" is looked for ignoring case as the pattern does: `re` takes the Turkish dotted and dotless i for an i.
    assert _DISCLAIMER_MARK.search("MA\u0130L") and _DISCLAIMER_MARK.search("ma\u0131l")


def _starts_at(parsed: Iterable[tuple[Any, Any]], firsts: str) -> bool | None:
    """Whether every match of a parsed pattern starts at a line's start or with one of
    `firsts`; None when it may match nothing there (then what follows decides)."""
    for op, value in parsed:
        if op is sre.AT:
            return value in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
        if op is sre.LITERAL:
            return chr(value) in firsts
        if op in (sre.ASSERT, sre.ASSERT_NOT):  # takes no character
            continue
        if op is sre.SUBPATTERN:
            found = _starts_at(value[-1], firsts)
        elif op is sre.BRANCH:
            each = [_starts_at(branch, firsts) for branch in value[1]]
            found = False if False in each else None if None in each else True
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            least, _, repeated = value
            found = _starts_at(repeated, firsts)
            found = None if found and least == 0 else found
        else:
            return False  # a class, any character: it may start anywhere
        if found is not None:
            return found
    return None


def test_every_quote_header_starts_where_new_text_tries_it() -> None:
    # new_text tries the header pattern only at a line's start, at its line break and at
    # dashes: in every language an office may name, each header starts at one of them.
    codes = sorted(code for code in readable_languages() if known(code))
    header = _OfficeMail(text="", languages=codes, keep_hyphen_lists=True).HEADER_REGEX
    assert _starts_at(_parser.parse(header.pattern, header.flags), "\n-") is True
    assert _patterns(tuple(codes)).header.pattern.endswith(header.pattern + ")")
    # The check itself: a header that may start elsewhere is told apart.
    for anywhere in (r"(?:> )?From:", r"^From:|Sent:", r"(?:^|\s)From:", r"(?:-----)?From:"):
        assert _starts_at(_parser.parse(anywhere, header.flags), "\n-") is not True


def test_the_signature_pattern_starts_only_where_new_text_looks_first() -> None:
    # new_text reads a part of the text with the signature pattern from the first line that
    # starts as the sign-off pattern does (or the blank lines above it) on, and spares it
    # the pattern when no line does, unless a line of dashes or underscores is there: the
    # library builds the signature pattern so, around the same sign-offs.
    mail = _OfficeMail(text="", languages=list(LANGUAGES), keep_hyphen_lists=True)
    said = {
        key: "|".join(filter(None, (mail._get_language_regex(code, key) for code in mail.languages)))
        for key in ("sent_from", "signatures")
    }
    quoted = QUOTED_MATCH_INCLUDE
    assert _patterns(LANGUAGES).sign_off.pattern == rf"^{quoted}(?:{said['sent_from']}|{said['signatures']})"
    # (sic: "(1, 3)" is what the library's f-string makes of its "{1,3}")
    assert mail.SIGNATURE_REGEX.pattern == (
        rf"(({NOLIST_SIGNATURE_REGEX}|{OUTLOOK_MAIL_SEPARATOR}|"
        rf"\s*^{quoted}(?:{said['sent_from']}) ?(?:(?:[\w.<>:// ]+)|(?:\w+ )(1, 3))$|"
        rf"(?<!\A)^{quoted}(?:{said['signatures']}))(.|\s)*)"
    )
    # new_text takes the rest of the text after a signature starts by a character class,
    # which matches the same (the tests below: as the library alone reads).
    assert (
        _patterns(LANGUAGES).signature.pattern
        == mail.SIGNATURE_REGEX.pattern[: -len(r"(.|\s)*)")] + r"[\s\S]*)"
    )


def _as_the_library_reads(text: str, languages: tuple[str, ...]) -> NewText:
    """new_text with every pattern of the library run over the whole text."""
    cut = FORWARDED.search(text)
    codes = [code for code in languages if known(code)]
    mail = _OfficeMail(text=text[: cut.start()] if cut else text, languages=codes, keep_hyphen_lists=True)
    replies = mail.read().replies
    if not replies or not replies[0].body.strip():
        return NewText(text)
    return NewText(replies[0].body, replies[0].signatures)


SPARED = [
    "Can I pay by card?\nSent from my iPhone",
    "Can I pay by card?\r\n\r\nBest regards,\r\nAnn",
    "Can I pay by card?\n\n" + "_" * 40 + "\nAnn Smith",
    "Can I pay by card?\n--\nAnn Smith",
    "Can I pay by card?\n\n  Kind Regards  \nAnn",
    "Important Notice: this e-MAİL is for its addressee only.\n\nCan I pay by card?",
    "Pot plăti cu cardul?\n\nCu stima\nIon",
    "Can I pay by card?",
    "",
]


@pytest.mark.parametrize("text", SPARED)
def test_new_text_reads_as_the_library_alone_does(text: str) -> None:
    assert new_text(text, LANGUAGES) == _as_the_library_reads(text, LANGUAGES)


# new_text looks for a signature from the first line that opens with a sign-off, or the
# blank lines above it, on: after words that are none, or a sign-off that ends none.
SIGNED_LATER = [
    "Can I pay by card?\n\n\n\nSent from my iPhone",
    "Thanks, I will pay by card.\nBest regards,\nAnn",
    "Best regards from the third floor: can I pay by card?\n\nKind Regards\nAnn",
    "Can I pay by card?\nSent from my phone, which is broken: call me.\n\nThank you,\nAnn",
    "Can I pay by card?\n\n> Kind Regards\n> Ann",
    "Mulțumesc pentru factură. Pot plăti cu cardul?\n\n\nMulțumesc,\nIon",
    "Can I pay by card?\n\nBest regards,\nAnn" + REPLIES["gmail", "en"] + "\nKind Regards\nBob",
    REPLIES["gmail", "en"].lstrip() + "\nCan I pay by card?\n\nSent from my iPad",
]


@pytest.mark.parametrize("text", SIGNED_LATER)
def test_new_text_finds_a_signature_after_the_words_as_the_library_does(text: str) -> None:
    assert new_text(text, LANGUAGES) == _as_the_library_reads(text, LANGUAGES)


# Outlook's separator line after the new words, with the line ends and spaces mail has.
SEPARATED = [
    "Can I pay by card?\n\n" + "_" * 32 + "\nFrom: Front desk",
    "Can I pay by card?\r\n  \r\n  " + "-_" * 20 + "  \r\nFrom: Front desk\r\n",
    "Can I pay by card?\n\n\n " + "-" * 40 + "\n> quoted\n\n" + "_" * 33 + "\n",
    "".join(f"Line {n}\n\n{'_' * 32}\n" for n in range(12)),  # more than the library changes
    "Can I pay by card?\n\n- by card\n- in cash\n",
]


# Replies under one quote header or more, or none before them: new_text reads up to the
# first reply with words, the library on through every one.
QUOTING = [
    *(NEW[language] + reply for (_, language), reply in sorted(REPLIES.items())),
    NEW["en"] + REPLIES["gmail", "en"] + "> \n" + REPLIES["outlook", "de"].replace("\n", "\n> "),
    REPLIES["gmail", "en"].lstrip() + "\n" + NEW["en"],
    REPLIES["gmail", "en"] + REPLIES["thunderbird", "ro"] + "\n\n" + NEW["ro"],
    "\n\n" + REPLIES["outlook", "en"] + REPLIES["outlook", "hu"],
    "Can I pay by card?\n\nBest regards,\nAnn\nTel: +40 722 123 456\n" + REPLIES["apple", "en"],
    "Can I pay by card?\n\nImportant Notice: this e-mail is for its addressee only.\n"
    + REPLIES["thunderbird", "en"],
]


@pytest.mark.parametrize("text", [*QUOTING, *SEPARATED])
def test_new_text_reads_a_reply_as_the_library_alone_does(text: str) -> None:
    assert new_text(text, LANGUAGES) == _as_the_library_reads(text, LANGUAGES)


@pytest.mark.parametrize("text", [*SPARED, *QUOTING, *SEPARATED])
def test_the_text_is_normalized_as_the_library_does(text: str) -> None:
    languages = list(LANGUAGES)
    assert (
        _OfficeMail(text=text, languages=languages).text == EmailMessage(text=text, languages=languages).text
    )


def test_new_text_reads_the_labelled_set_as_the_library_alone_does() -> None:
    routing_set = Path(__file__).parents[1] / "data" / "routing_set"
    settings = load_settings(routing_set / "office.toml", {})
    for row in read_labels(routing_set / "LABELS.tsv", settings):
        text = row.message.text
        assert new_text(text, settings.languages) == _as_the_library_reads(text, settings.languages), row.id
