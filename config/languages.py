"""The languages an office may name in `[office] languages`: those routing can read;
and in `[office] language`: those the pages are translated into.

A language must be one the detector (lingua), the lemmatizer (simplemma) and the
stemmer (PyStemmer's Snowball) all know; the answer comes from the libraries themselves.
"""

from __future__ import annotations

from functools import cache

import Stemmer
from lingua import IsoCode639_1, Language
from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

# The languages of the pages: English, the one the strings are written in, and one
# catalog each under web/translations/ for the others (a test keeps the two in step).
PAGE_LANGUAGES = ("en", "ro", "hu")


def language(code: str) -> Language:
    """lingua's Language for an ISO 639-1 code, such as "ro"."""
    return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))


@cache
def readable_languages() -> frozenset[str]:
    """The ISO 639-1 codes every step of routing's normalization can handle."""
    stemmers = set(Stemmer.algorithms())
    codes = [name.lower() for name in dir(IsoCode639_1) if len(name) == 2 and name.isupper()]
    return frozenset(
        code for code in codes if code in SUPPORTED_LANGUAGES and language(code).name.lower() in stemmers
    )
