"""The language of the pages: Flask-Babel, with gettext catalogs under web/translations/.

Templates say `{{ _("...") }}` and Python says `gettext("...")` from flask_babel for every
string a person reads; the API's errors stay English, as they are read by programs.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel

TRANSLATIONS = Path(__file__).parent / "translations"
# English is the language the strings are written in; the others have a catalog each.
SHIPPED_LANGUAGES = ("en",)


def select_locale() -> str | None:
    """The browser's preferred language among those shipped."""
    return request.accept_languages.best_match(SHIPPED_LANGUAGES) or SHIPPED_LANGUAGES[0]


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
