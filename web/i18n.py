"""The language of the pages: Flask-Babel, with gettext catalogs under web/translations/.

Templates say `{{ _("...") }}` and Python says `gettext("...")` from flask_babel for every
string a person reads; the API's errors stay English, as they are read by programs.
A signed-in person reads the language they chose (the menu on every page, kept on the
user), or else the office's `[office] language`; a visitor who is not signed in reads
the best of the shipped languages their browser asks for. Times are the office's.
"""

from __future__ import annotations

from pathlib import Path

from babel import Locale
from flask import Blueprint, Flask, flash, redirect, request
from flask_babel import Babel, get_locale, gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from config.languages import PAGE_LANGUAGES
from routing.people import accounts
from routing.store.database import StorageUnavailable
from web.access import local_path, person
from web.storage import storage, writing

TRANSLATIONS = Path(__file__).parent / "translations"
blueprint = Blueprint("language", __name__)


def select_locale() -> str:
    """The signed-in person's language, else the office's; for a visitor, their browser's."""
    office = storage().settings.language
    if current_user.is_authenticated:
        return current_user.person.language or office
    return request.accept_languages.best_match(PAGE_LANGUAGES) or office


def select_timezone() -> str:
    return storage().settings.timezone.key


def page_locale() -> Locale:
    """The locale of this request's page; English outside a request, as in the catalogs' source."""
    return get_locale() or Locale("en")


def _menu() -> dict[str, object]:
    """The languages the menu offers, each named in its own language, and the page's own."""
    names = {code: (Locale(code).get_display_name(code) or code).capitalize() for code in PAGE_LANGUAGES}
    return {"page_languages": names, "page_language": str(page_locale())}


@blueprint.post("/language")
def choose() -> Response:
    """Remember the language a person chose and show them the page they were on, in it."""
    back = local_path(request.form.get("next", ""), "/")
    try:
        with writing() as session:
            accounts.set_language(session, person().id, request.form.get("language", ""))
    except accounts.PeopleError as error:
        flash(gettext("The language was not changed: %(reason)s", reason=str(error)), "error")
    except StorageUnavailable:
        flash(gettext("The language could not be saved just now; try again."), "error")
    return redirect(back, 303)


def init_app(app: Flask) -> None:
    Babel(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(TRANSLATIONS),
    )
    app.context_processor(_menu)
    app.register_blueprint(blueprint)
