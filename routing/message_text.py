"""What routing reads of a message: only the new words, normalized once.

A reply's quoted history, a forward's history and the signature are cut off (for
mail; texts and transcripts have none), the language is told from what is left, and
subject and text become terms (routing.normalize). A subject that only repeats an
old one (`Re: ...`) is marked, so the learner weighs it less. The signature is kept
apart, read only for who is writing ("Owner, Republicii 7").

mail-parser-reply knows the quote headers and sign-offs of many languages' mail
programs; Romanian and Hungarian it lacks, so they are added here through its own
language table, in the shapes Gmail, Outlook, Apple Mail and Thunderbird write them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage, EmailReply

from routing.message import InboundMessage
from routing.normalize import NormalizedText, Normalizer, word_count

_Q = QUOTED_MATCH_INCLUDE


def _header_lines(*names: str) -> str:
    """Outlook's block of header lines ("From: ...", "Sent: ..."), two or more in a row."""
    return rf"((?:(?:^|\n|\n{_Q})[* ]*(?:{'|'.join(names)}):[ *]*(?:\s{{,2}}).*){{2,}}(?:\n.*){{,1}})"


# A thanks on a line of its own closes the new text as a sign-off does ("Mulțumesc,",
# then the name and "proprietar ap. 3"): what follows is the signature, read for who
# writes. Only alone on its line, since a sentence may begin with thanks and go on.
_ALONE = r"[,!.]?[ \t]*$"
_THANKS_ALONE = {
    "ro": [rf"(?:V[aă] )?mul[tțţ]umesc(?: frumos| mult)?{_ALONE}", rf"Mersi(?: frumos| mult)?{_ALONE}"],
    "hu": [rf"K[oö]sz[oö]n[oö]m(?: sz[eé]pen)?{_ALONE}", rf"K[oö]szi{_ALONE}"],
    "en": [rf"(?:Many )?Thanks(?: again| a lot)?{_ALONE}", rf"Thank you(?: very much)?{_ALONE}"],
    "de": [rf"(?:Vielen )?Dank(?:e)?(?: schön| sehr)?{_ALONE}"],
}

EXTRA_LANGUAGES: dict[str, dict[str, object]] = {
    "ro": {
        # Gmail "În lun., 3 nov. 2025 la 10:12, Ana <a@b> a scris:"; Apple Mail and
        # Thunderbird "Pe 3 nov. 2025, la 10:12, Ana a scris:".
        "wrote_header": rf"^({_Q}(?:[IÎ]n|Pe)\s(?:.+?\s?.+?)\s?a\sscris:)$",
        "from_header": _header_lines(
            "De la", "Trimis", "Către", "Catre", "Subiect", "Data", "Dată", "Cc", "Date", "Subject", "To"
        ),
        "disclaimers": [r"Notă de confidențialitate:", r"Confidențialitate:"],
        "signatures": [
            r"Cu (?:stimă|stima|respect|drag|bine)",
            r"Toate cele bune",
            r"O zi bună",
            *_THANKS_ALONE["ro"],
        ],
        "sent_from": r"Trimis de pe|Trimis din|Obțineți Outlook pentru",
    },
    "hu": {
        # Gmail "Ann <a@b> ezt írta (időpont: 2025. nov. 3., H, 10:12):"; Apple Mail
        # "2025. nov. 3. dátummal, 10:12 időpontban Ann írta:"; Thunderbird
        # "2025. 11. 03. 10:12 keltezéssel, Ann írta:".
        "wrote_header": rf"^({_Q}(?:.+?\s)?(?:ezt )?írta(?:\s\(időpont:.+?\))?:)$",
        "from_header": _header_lines("Feladó", "Elküldve", "Küldve", "Címzett", "Tárgy", "Dátum", "Másolat"),
        "disclaimers": [r"Jogi nyilatkozat:", r"Titoktartási nyilatkozat:"],
        "signatures": [
            r"Üdvözlettel",
            r"Tisztelettel",
            r"Köszönettel",
            r"Szép napot",
            r"Üdv,",
            *_THANKS_ALONE["hu"],
        ],
        "sent_from": r"iPhone-ról küldve|Elküldve az iPhone|Küldve",
    },
    # The library's German knows "Gesendet von ..." but not Apple Mail's word order.
    "de": {
        "sent_from": r"Gesendet von|Von meinem",
        "signatures": [*MAIL_LANGUAGES["de"]["signatures"], *_THANKS_ALONE["de"]],
    },
    "en": {"signatures": [*MAIL_LANGUAGES["en"]["signatures"], *_THANKS_ALONE["en"]]},
}
FORWARDED = re.compile(
    r"^-{5,} ?(?:Forwarded message|Original Message|Mesaj redirecționat|Mesajul original|"
    r"Továbbított üzenet|Eredeti üzenet|Weitergeleitete Nachricht|Ursprüngliche Nachricht) ?-{5,}$",
    re.MULTILINE | re.IGNORECASE,
)


class _OfficeMail(EmailMessage):  # type: ignore[misc]  # the library ships no type hints
    """The library's message, reading its language table with Romanian and Hungarian added."""

    text: str  # the library's field, declared for the type checker

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        value = EXTRA_LANGUAGES.get(language, {}).get(regex_key)
        if value is None:
            return str(super()._get_language_regex(language, regex_key))
        return "|".join(value) if isinstance(value, list) else str(value)

    def _normalize_text(self) -> None:
        """The library's: line ends made one, each line stripped, then Outlook's separator
        line after an empty line made a line break, looked for through the whole text,
        quotes and all. That search is made only in a text with an empty line before dashes
        or underscores; the first two steps, done here, change nothing when done again."""
        self.text = "\n".join(line.strip() for line in self.text.replace("\r\n", "\n").split("\n"))
        if any(mark in self.text for mark in _SEPARATOR_MARKS):
            super()._normalize_text()

    def first_reply(self, patterns: _Patterns) -> EmailReply:
        """The reply read() puts first: the first part before, between or after the quote
        headers that has words, else the part after the last header. read() goes on
        through every quoted message for its header, signature and disclaimers, which
        routing does not read: on a reply that quotes a long mail, most of its time."""
        start, header = 0, ""
        matches = patterns.header_for(self.text).finditer(self.text)
        headers = (found for match in matches for found in match.groups() if found)
        for following in headers:
            # As read() does: the header is looked for again as text, from where it stands.
            end = self.text.find(following, start + 1 if start > 0 else start)
            if self.text[start:end].strip():
                return self._reply(header, self.text[start:end], patterns)
            start, header = (end if end >= 0 else 0), following
        return self._reply(header, self.text[start:], patterns)

    @staticmethod
    def _reply(header: str, content: str, patterns: _Patterns) -> EmailReply:
        """The reply of this part, its signature and disclaimers found as the library finds
        them, the disclaimers only in a part that has "mail" (the rest of the text is not read)."""
        disclaimers = patterns.disclaimers.findall(content) if _DISCLAIMER_MARK.search(content) else []
        signature = patterns.signature_in(content)
        return EmailReply(
            headers=header,
            content=content,
            signatures=signature.group() if signature else "",
            disclaimers=disclaimers,
        )


# A pattern that fails at once, read with in place of one of the library's where the text
# holds nothing it could match.
_NOTHING = re.compile(r"\A(?!)")
# Every quote header of the languages an office may name holds a colon (its "wrote:", its
# "From:" lines; full width in Chinese) or the dashes of "-----Original Message-----".
_HEADER_MARKS = (":", "\uff1a", "-----")
# The library takes a disclaimer for one only with the word "mail" after it.
_DISCLAIMER_MARK = re.compile("mail", re.IGNORECASE)
# Outlook's separator line (32 dashes or underscores) after an empty line starts so.
_SEPARATOR_MARKS = ("\n\n-", "\n\n_", "\n\n ")
# Its signature may start at a line of two dashes or underscores, or at Outlook's line of
# 32 of them after an empty line: a text holds one of these if it has either.
_SIGNATURE_MARKS = ("-\n", "_\n", *_SEPARATOR_MARKS)


@dataclass(frozen=True)
class _Patterns:
    """The library's three patterns for a set of languages, and what the first two need to find anything."""

    header: re.Pattern[str]
    signature: re.Pattern[str]
    disclaimers: re.Pattern[str]
    # The other two ways the signature pattern starts: a line that opens with a sign-off
    # ("Best regards") or a mail program's "Sent from my iPhone", in these languages.
    sign_off: re.Pattern[str]

    def header_for(self, text: str) -> re.Pattern[str]:
        """The header pattern to read `text` with (as the library has normalized it), or one
        that fails at once where it cannot match. The library runs it over the whole text,
        most of routing's time on a long mail, though most texts hold no quote header."""
        return self.header if any(mark in text for mark in _HEADER_MARKS) else _NOTHING

    def signature_in(self, part: str) -> re.Match[str] | None:
        """The signature pattern's search of `part` (the text before, between or after
        quote headers), begun where a signature can first start. Without a line of dashes
        or underscores, a signature starts at a line that opens as `sign_off` looks for,
        or in the blank lines above it (its `\\s*^`): not in the words before them, which
        the library reads character by character, most of its time on a long reply."""
        if any(mark in part for mark in _SIGNATURE_MARKS):
            return self.signature.search(part)
        sign_off = self.sign_off.search(part)
        if sign_off is None:
            return None
        # Searched from a later position, `^` and `\A` still see the part from its start.
        return self.signature.search(part, len(part[: sign_off.start()].rstrip()))


@functools.lru_cache(maxsize=16)
def _patterns(languages: tuple[str, ...]) -> _Patterns:
    """The library's patterns for these languages, built once: it builds them anew for
    every message it reads (about 30 us of the 240 that routing a message took)."""
    mail = _OfficeMail(text="", languages=list(languages), keep_hyphen_lists=True)
    # The sign-offs and "Sent from" lines as the library joins them into its signature pattern.
    said = {
        key: "|".join(filter(None, (mail._get_language_regex(code, key) for code in mail.languages)))
        for key in ("sent_from", "signatures")
    }
    sign_off = re.compile(rf"^{_Q}(?:{said['sent_from']}|{said['signatures']})", re.MULTILINE | re.IGNORECASE)
    header = _at_line_starts(mail.HEADER_REGEX)
    return _Patterns(header, _to_the_end(mail.SIGNATURE_REGEX), mail.DISCLAIMERS_REGEX, sign_off)


def _at_line_starts(header: re.Pattern[str]) -> re.Pattern[str]:
    """The library's header pattern, tried only where a quote header can start: at a line's
    start, at the line break before it, or at dashes (a Danish forward's line of them may
    open one mid-line), as the tests check of every language's. It matches the same, with
    the same groups; the library's tries each of its headers at every character of the
    text, most of routing's time on a reply."""
    return re.compile(rf"(?:^|(?=[\n-]))(?:{header.pattern})", header.flags)


# How the library's signature pattern takes the rest of the text after a signature starts:
# one character a step through a group, which is half the time of its search over a long mail.
_REST_BY_GROUP = r"(.|\s)*)"


def _to_the_end(signature: re.Pattern[str]) -> re.Pattern[str]:
    r"""The library's signature pattern, the rest of the text taken by one character class
    (`[\s\S]*`), which matches the same, rather than by its group; unchanged should the
    library write it otherwise. Only the whole match is read (`group()`), not the group."""
    if not signature.pattern.endswith(_REST_BY_GROUP):
        return signature
    return re.compile(signature.pattern[: -len(_REST_BY_GROUP)] + r"[\s\S]*)", signature.flags)


def known(language: str) -> bool:
    """Whether quote headers in this language are recognised."""
    return language in MAIL_LANGUAGES or language in EXTRA_LANGUAGES


@dataclass(frozen=True)
class NewText:
    """The words the sender wrote now, and the signature under them."""

    words: str
    signature: str = ""


def new_text(text: str, languages: tuple[str, ...]) -> NewText:
    """The words the sender wrote now, or the whole text when nothing new is left.

    Quote headers of every office language are tried, whatever the text's own language:
    a German patient answers a Romanian receptionist's mail under a Romanian header.
    A forward with no note of its own keeps what it forwards: that is the message.
    """
    # A forward's line starts with five dashes: a text without them is spared the search.
    cut = FORWARDED.search(text) if "-----" in text else None
    head = text[: cut.start()] if cut else text
    codes = tuple(code for code in languages if known(code))
    mail = _OfficeMail(text=head, languages=list(codes), keep_hyphen_lists=True)
    reply = mail.first_reply(_patterns(codes))
    if not reply.body.strip():
        return NewText(text)
    return NewText(reply.body, reply.signatures)


# Re:, Fwd: and their spellings in the office languages' mail programs, stacked or not.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|vs|sv|ref|răsp|rasp|fw|fwd|wg|tr|i)\s*(?:\[\d+\])?\s*:\s*)+", re.I
)
# A forward's subject prefix in the office languages' mail programs (Fwd, Fw, WG, TR, I).
_FORWARD_PREFIX = re.compile(r"^\s*(?:fw|fwd|wg|tr|i)\s*:", re.I)
# A forward's note of at most this many words only passes the forwarded message on
# ("please deal with this"): the forwarded message is the request, and is read with it.
PASSING_ON_WORDS = 20
# Only mail has quotes, and a subject its sender wrote: other channels' subjects are
# Intake's own ("Text message from ..."), which say nothing of the department.
CHANNELS_WITH_QUOTES = frozenset({"email"})
# Channels whose text is a machine's hearing of speech, with its mishearings.
SPOKEN_CHANNELS = frozenset({"voicemail"})
# Thanks and season's greetings in the office languages, in lower case with or without
# diacritics: a sentence that thanks for something says what was done ("thanks for the
# invoice, that's paid"), and one that wishes a merry Christmas asks nothing, whatever the
# writer asks besides. Searched in the lower-cased text, which is faster than ignoring case.
_COURTESY = re.compile(
    r"\b(?:mul[tțţ]um|mersi|k[oö]sz[oö]n|k[oö]szi|thank|danke|dank"
    r"|merry christmas|happy (?:holidays|new year)|season'?s greetings"
    r"|cr[aă]ciun fericit|s[aă]rb[aă]tori fericite|la mul[tțţ]i ani|an nou fericit"
    r"|boldog kar[aá]csony|kellemes [uü]nnep|boldog [uú]j [eé]v"
    r"|frohe (?:weihnachten|feiertage|festtage)|frohes neues|guten rutsch)"
)
# How many first sentences of a text may say who writes it (routing.learning's writers).
OPENING_SENTENCES = 2
# Where a sentence ends: after its stop, or at an empty line (`(?<=[.!?])\s+|\n\s*\n`),
# written to begin with the whitespace both ways begin with: the engine then skips to it
# rather than trying either way at every character.
_SENTENCE_END = re.compile(r"\s(?:(?<=[.!?]\s)\s*|(?<=\n)\s*\n)")


@dataclass(frozen=True)
class MessageText:
    """A message's new words as terms, with the language they were read in."""

    language: str
    subject: NormalizedText
    body: NormalizedText
    # The subject is an earlier message's, answered or forwarded: weaker evidence.
    old_subject: bool
    # A transcript of speech, where one word is often heard as two (`el romlott`).
    spoken: bool = False
    # The new text's signature: who is writing, not what about.
    signature: NormalizedText | None = None
    # Terms found only in sentences that thank or wish well, beside others that do not.
    courtesy: frozenset[str] = frozenset()
    # The terms of the new text's opening sentences, in order, where writers say who they are.
    opening: tuple[str, ...] = ()

    @property
    def empty(self) -> NormalizedText:
        return NormalizedText(self.language, (), ())


def read_message(message: InboundMessage, normalizer: Normalizer) -> MessageText:
    """The subject and the new words of the text, normalized in the message's language."""
    subject, body, signature = "", message.text, ""
    if message.channel in CHANNELS_WITH_QUOTES:
        new = new_text(body, normalizer.languages)
        subject, body, signature = _REPLY_PREFIX.sub("", message.subject), new.words, new.signature
        if _FORWARD_PREFIX.match(message.subject) and len(body.split()) <= PASSING_ON_WORDS:
            body = message.text
    old_subject = subject != message.subject and bool(subject)
    language = normalizer.language(f"{subject}\n{body}")
    reading = normalizer.read(body, language)
    return MessageText(
        language,
        normalizer.read(subject, language),
        reading,
        old_subject,
        spoken=message.channel in SPOKEN_CHANNELS,
        signature=normalizer.read(signature, language) if signature else None,
        courtesy=courtesy_terms(body, reading, normalizer),
        opening=opening_terms(body, reading),
    )


def opening_terms(text: str, read: NormalizedText) -> tuple[str, ...]:
    """The terms of the text's first OPENING_SENTENCES sentences (a greeting line is one):
    where writers say who they are ("Buna ziua, sunt Muresan, proprietarul de la B4"),
    rather than whom they speak of further on (a tenant asking that the keys be handed
    to the owner, an applicant who worked for an owners' association). `read` is the
    text's reading, one term a word, so the opening is its first terms."""
    start, found = 0, 0
    for end in _SENTENCE_END.finditer(text):
        found += bool(text[start : end.start()].strip())
        if found == OPENING_SENTENCES:
            return read.terms[: word_count(text[: end.start()])]
        start = end.end()
    return read.terms


def courtesy_terms(text: str, read: NormalizedText, normalizer: Normalizer) -> frozenset[str]:
    """The terms of `read` (the text's reading) that only sentences thanking for something
    or wishing well have, when other sentences ask something else (labelling rule 3: a
    message that thanks for one thing and asks another goes where the request belongs);
    none when every sentence is such or none is."""
    if not _COURTESY.search(text.lower()):  # most texts: not one courteous word
        return frozenset()
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    courteous = [s for s in sentences if _COURTESY.search(s.lower())]
    if len(courteous) == len(sentences):
        return frozenset()
    # A term that the courteous sentences have as often as the whole text is theirs alone.
    theirs = Counter(t for s in courteous for t in normalizer.piece_terms(s, read.language))
    everywhere = Counter(read.terms)
    return frozenset(term for term, seen in theirs.items() if everywhere[term] <= seen)
