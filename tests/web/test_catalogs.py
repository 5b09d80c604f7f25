"""The shipped catalogs against the strings the code marks: none missing, none guessed,
none left behind, and each compiled .mo in step with its .po. `make translations` brings
them in step; a translator then fills in what this test names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from config.languages import PAGE_LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "web" / "translations"
TRANSLATED = [code for code in PAGE_LANGUAGES if code != "en"]  # English is the source


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Every string the web marks, extracted as `make translations` does."""
    template = tmp_path_factory.mktemp("catalogs") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with template.open("rb") as file:
        return read_po(file)


def catalog(code: str) -> Catalog:
    with (CATALOGS / code / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=code)


def test_a_catalog_is_shipped_for_each_language_the_pages_offer() -> None:
    shipped = sorted(path.parent.parent.name for path in CATALOGS.glob("*/LC_MESSAGES/messages.po"))
    assert shipped == sorted(TRANSLATED)


def test_the_extraction_finds_the_strings_of_templates_and_python(extracted: Catalog) -> None:
    # A string from a template, one from Python, one from a lazy label: the extraction reads all three kinds.
    for msgid in ("Take a message", "Wrong name or password, or the user is disabled.", "taken by hand"):
        assert msgid in extracted


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_catalog_has_every_string_and_nothing_else(extracted: Catalog, code: str) -> None:
    shipped = catalog(code)
    wanted = {_singular(message) for message in extracted if message.id}
    have = {_singular(message) for message in shipped if message.id}
    assert sorted(wanted - have) == [], f"missing from {code}: run `make translations` and translate them"
    assert sorted(have - wanted) == [], f"no longer in the code, still in {code}: run `make translations`"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_string_is_translated_with_its_placeholders(code: str) -> None:
    shipped = catalog(code)
    assert not shipped.fuzzy, f"the {code} catalog is marked fuzzy as a whole"
    fuzzy = [message.id for message in shipped if message.id and message.fuzzy]
    empty = [message.id for message in shipped if message.id and _untranslated(message)]
    assert fuzzy == [], f"guessed, not yet checked by a translator ({code})"
    assert empty == [], f"not translated yet ({code})"
    problems = [(message.id, [str(error) for error in errors]) for message, errors in shipped.check()]
    assert problems == [], f"placeholders that do not match ({code})"


def _singular(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _untranslated(message: Message) -> bool:
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return not all(forms)


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalog_is_in_step_with_its_source(code: str) -> None:
    source = catalog(code)
    with (CATALOGS / code / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = read_mo(file)
    assert _pairs(compiled) == _pairs(source), (
        f"{code}'s messages.mo is older than its messages.po: run `make translations`"
    )


def _pairs(shipped: Catalog) -> dict[object, object]:
    """Each msgid and its translation, plural forms as tuples (a .mo reads them as lists)."""
    return {_plain(message.id): _plain(message.string) for message in shipped if message.id}


def _plain(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value
