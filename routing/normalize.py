"""One normalized text for routing: the terms keyword conditions and the learner both read.

A word becomes a term in four steps: Unicode normalization and case folding; its lemma
in the message's language (simplemma: `plătit` -> `plăti`, `Rechnungen` -> `Rechnung`);
diacritics folded away, so that a message typed without them (`plata`) and the
Romanian comma and cedilla letters (ș/ş, ț/ţ) meet; then the Snowball stem of that
(PyStemmer), which joins what the lemmatizer leaves apart (`plăti` and `plată` both
give `plat`). The language is detected among the office's languages only (lingua,
whose models ship with it), so a short text is not mistaken for one nobody writes in.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import simplemma
import Stemmer
from lingua import LanguageDetector, LanguageDetectorBuilder
from stop_words import StopWordError, get_stop_words

from config.languages import language as lingua_language

_WORD = re.compile(r"[^\W_]+")
# Past this many characters the language is told from the start of the text alone:
# detection costs time in proportion to the text, and a paragraph is plenty.
DETECTION_SAMPLE = 600
# How many first letters a lemma must share with its word to be trusted.
LEMMA_PREFIX = 4
# The shortest stem trusted to stand for a longer word.
MIN_STEM = 3
# Greetings, thanks and sign-offs, which every department's mail opens or closes with:
# filler too, although the stop-word lists leave them out.
COURTESY: dict[str, tuple[str, ...]] = {
    "ro": ("bună", "ziua", "seara", "dimineața", "salut", "mulțumesc", "mersi", "stimă", "rog"),
    "hu": ("jó", "napot", "estét", "reggelt", "üdvözlettel", "köszönöm", "tisztelettel", "kérem"),
    "en": ("hello", "hi", "good", "morning", "afternoon", "evening", "thanks", "thank", "regards", "please"),
    "de": ("guten", "tag", "morgen", "abend", "hallo", "danke", "bitte", "grüße", "freundlichen"),
}
# Languages that write compounds as one word, and the shortest compound and part looked
# into; Hungarian's are left out, its suffixes make too many false parts (`viszonthallásra`).
COMPOUNDING = frozenset({"de", "nl", "sv", "da"})
MIN_COMPOUND = 8
MIN_PART = 4
# How many words may stand between two words of a keyword phrase: people put a word into
# a set phrase (`miroase puternic a gaz`, `nu mai avem căldură`, `riecht stark nach Gas`).
PHRASE_GAP = 1
# How many recent texts and language samples a normalizer keeps the reading of.
RECENT_TEXTS = 8


def phrase_term(terms: tuple[str, ...]) -> str:
    """A phrase of several terms as one term: no term has a space, so none is mistaken for it."""
    return " ".join(terms)


@lru_cache(maxsize=8)
def _phrases(vocabulary: frozenset[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The vocabulary's phrases as their terms, by first term (worked out once per vocabulary)."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for term in vocabulary:
        if " " in term:
            words = tuple(term.split(" "))
            found.setdefault(words[0], []).append(words)
    return {first: tuple(phrases) for first, phrases in found.items()}


def fold(text: str) -> str:
    """Case folded, without diacritics: `Plăți` and `plati` both become `plati`.

    NFKD splits a letter from its accents (and ș/ş from the comma or cedilla under
    them), which are then dropped; the compatibility forms (ligatures, full-width
    letters) become plain letters on the way.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def word_count(text: str) -> int:
    """How many words a text has as a normalizer reads it, one term each."""
    return len(_WORD.findall(unicodedata.normalize("NFC", text)))


@dataclass(frozen=True)
class NormalizedText:
    """A text as routing reads it: its language and its terms, in the order written."""

    language: str
    terms: tuple[str, ...]
    # The words as written, one per term: what an explanation shows.
    words: tuple[str, ...]

    def find(self, phrase: tuple[str, ...]) -> str | None:
        """The words where the phrase's terms stand in order, at most PHRASE_GAP words
        between two of them, or None."""
        first, rest = phrase[0], phrase[1:]
        for start, term in enumerate(self.terms):
            if term == first:
                end = self._follows(rest, start)
                if end is not None:
                    return " ".join(self.words[start : end + 1])
        return None

    def _follows(self, rest: tuple[str, ...], position: int) -> int | None:
        """Where `rest` ends when it follows the term at `position`, each of its terms
        within PHRASE_GAP words of the one before; None when it does not follow."""
        for term in rest:
            ahead = self.terms[position + 1 : position + 2 + PHRASE_GAP]
            if term not in ahead:
                return None
            position += 1 + ahead.index(term)
        return position


def _known(word: str, language: str) -> bool:
    """Whether `word` is a word of `language`, by its lemmatizer's dictionary; digits are in all."""
    return word.isdigit() or bool(simplemma.is_known(word, lang=language))


def _stop_words(language: str) -> list[str]:
    try:
        return list(get_stop_words(language.lower()))
    except StopWordError:  # a language the list does not cover has no filler removed
        return []


@lru_cache(maxsize=8)
def normalizer_for(languages: tuple[str, ...]) -> Normalizer:
    """One normalizer per set of languages in a process: its models load once, its cache is shared."""
    return Normalizer(languages)


class Normalizer:
    """Turns texts into terms for one office's languages; built once per router."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        """`languages`: codes the config has checked (config.languages), the likeliest first."""
        self.languages = languages
        self.detector: LanguageDetector | None = None
        if len(languages) > 1:
            self.detector = (
                LanguageDetectorBuilder.from_languages(*(lingua_language(code) for code in languages))
                .with_preloaded_language_models()
                .with_low_accuracy_mode()
                .build()
            )
        self.term = lru_cache(maxsize=65536)(self._term)
        # Routing, the search index and the acknowledgement each ask a new message's
        # language and read its text: the last few answers are kept, so each is worked out once.
        self.read = lru_cache(maxsize=RECENT_TEXTS)(self._read)
        self._detect = lru_cache(maxsize=RECENT_TEXTS)(self._detect_sample)
        self.stemmers = {code: Stemmer.Stemmer(lingua_language(code).name.lower()) for code in languages}
        # The terms of each language's filler words ("the", "și", "és", "und"), which say
        # nothing about a department; as terms, so that every form of them is known.
        self.filler = frozenset(
            self.term(word, code)
            for code in languages
            for word in (*_stop_words(lingua_language(code).name), *COURTESY.get(code, ()))
        )

    def language(self, text: str) -> str:
        """The office language the text is likeliest written in (the first one if unsure)."""
        if self.detector is None:
            return self.languages[0]
        return self._detect(text[:DETECTION_SAMPLE])

    def _detect_sample(self, sample: str) -> str:
        assert self.detector is not None  # language() asks only when there is a choice
        found = self.detector.detect_language_of(sample)
        if found is None:
            return self.languages[0]
        return found.iso_code_639_1.name.lower()

    def _read(self, text: str, language: str) -> NormalizedText:
        """The text's terms in `language`; digits stay as written (order numbers, dates)."""
        words = tuple(_WORD.findall(unicodedata.normalize("NFC", text)))
        return NormalizedText(language, tuple(map(self.term, words, itertools.repeat(language))), words)

    def terms(self, text: str, language: str) -> tuple[str, ...]:
        return self.read(text, language).terms

    def piece_terms(self, text: str, language: str) -> list[str]:
        """The terms of a piece of a text, which the recent readings do not keep."""
        return [self.term(word, language) for word in _WORD.findall(unicodedata.normalize("NFC", text))]

    def with_known_parts(
        self, read: NormalizedText, vocabulary: frozenset[str], joined: bool
    ) -> NormalizedText:
        """`read` with the terms of `vocabulary` that its words make together or hide inside.

        A phrase of the vocabulary whose words stand together counts as itself, in place
        of its words (`management fee`, not `management` and `fee`). A German compound
        ends in the word that says what it is (`Mietrechnung` is a `Rechnung`,
        `Wasserschaden` a `Schaden`): that word is added after the others. With `joined`,
        for speech-to-text, two neighbouring words may make one (`el romlott`, `a dunarea`).
        """
        terms, words = self._with_phrases(read, vocabulary)
        if read.language in COMPOUNDING:  # no other language's words are looked into
            for term, word in zip(read.terms, read.words, strict=True):
                part = self._last_part(word, read.language, vocabulary) if term not in vocabulary else None
                if part is not None:
                    terms.append(part)
                    words.append(word)
        if joined:
            pairs = zip(itertools.pairwise(read.words), itertools.pairwise(read.terms), strict=True)
            for (first, second), pair in pairs:
                term = self.term(first + second, read.language)
                if term in vocabulary and not vocabulary.intersection(pair):
                    terms.append(term)
                    words.append(f"{first} {second}")
        return NormalizedText(read.language, tuple(terms), tuple(words))

    @staticmethod
    def _with_phrases(read: NormalizedText, vocabulary: frozenset[str]) -> tuple[list[str], list[str]]:
        """The terms and words of `read`, each phrase of `vocabulary` found in it as one term."""
        phrases = _phrases(vocabulary)
        if phrases.keys().isdisjoint(read.terms):  # most texts: no phrase starts here
            return list(read.terms), list(read.words)
        terms: list[str] = []
        words: list[str] = []
        done = 0  # the terms before this one are in `terms`
        # Only where a phrase may start is looked at; the terms between are copied whole.
        for start in itertools.compress(range(len(read.terms)), map(phrases.__contains__, read.terms)):
            if start < done:  # within a phrase already found
                continue
            found = next(
                (p for p in phrases[read.terms[start]] if read.terms[start : start + len(p)] == p),
                None,
            )
            if found is None:
                continue
            terms += read.terms[done:start]
            words += read.words[done:start]
            terms.append(phrase_term(found))
            words.append(" ".join(read.words[start : start + len(found)]))
            done = start + len(found)
        terms += read.terms[done:]
        words += read.words[done:]
        return terms, words

    def _last_part(self, word: str, language: str, vocabulary: frozenset[str]) -> str | None:
        """The longest known word that ends a compound, or None."""
        if len(word) < MIN_COMPOUND:
            return None
        for start in range(MIN_PART, len(word) - MIN_PART + 1):
            term = self.term(word[start:], language)
            if term in vocabulary:
                return term
        return None

    def spellings(self, phrase: str) -> set[tuple[str, ...]]:
        """A config keyword's terms in each office language whose dictionary knows its words,
        or in every one when none does (a name, a code): a keyword names no language, but
        English `rent` read as Hungarian would stem like `rendben`, "all right"."""
        words = _WORD.findall(unicodedata.normalize("NFC", phrase.casefold()))
        known = [code for code in self.languages if all(_known(word, code) for word in words)]
        return {self.terms(phrase, code) for code in known or self.languages} - {()}

    def _term(self, word: str, language: str) -> str:
        if word.isdigit():
            return word
        stem = self.stemmers[language].stemWord
        folded = fold(word)
        lemma = fold(simplemma.lemmatize(word.casefold(), lang=language))
        # A lemma that does not start like the word is a guess from a lookalike
        # (Hungarian `számlámat`, "my invoice", read as `száj`, "mouth"; `interview` as
        # `in`): the word's own stem is safer.
        trusted = lemma[:LEMMA_PREFIX] == folded[:LEMMA_PREFIX]
        base = lemma if trusted else folded
        term = str(stem(base))
        # A stem of one or two letters joins unrelated words (Hungarian `kiad`, "let",
        # and `ki`, "who"; `áram`, "power", and `ár`, "price"): the unstemmed form is safer.
        return base if len(term) < MIN_STEM <= len(base) else term
