"""A department's acknowledgement, forward_to and templates: good values load, the
texts are chosen by language, and every bad value is refused by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from tests.conftest import OFFICE, assert_refused
from tests.support.replies import ANSWERING, replying_config


def _office(tmp_path: Path, billing: str, languages: str = '["en", "de"]') -> Path:
    """The test office in `languages`, with `billing` added to the Billing department."""
    text = OFFICE.read_text().replace(
        'addresses = ["billing@office.test"]\n', f'addresses = ["billing@office.test"]\n{billing}'
    )
    path = tmp_path / "office.toml"
    path.write_text(text.replace("[office.hours]", f"languages = {languages}\n\n[office.hours]"))
    return path


def test_acknowledgement_forward_to_and_templates_load(tmp_path: Path) -> None:
    billing = load_settings(replying_config(tmp_path, None, ANSWERING), {}).department("billing")
    acknowledgement = billing.acknowledgement
    assert (acknowledgement.enabled, acknowledgement.hours, billing.forward_to) == (
        True,
        8,
        "partner@outside.example",
    )
    assert acknowledgement.text("de").startswith("Wir haben")
    assert acknowledgement.text("fr").startswith("We have your message")  # the office's first language
    assert [t.name for t in billing.templates] == ["Payment received", "Invoice copy"]
    assert billing.templates[0].filled(
        {"name": "Ann", "id": "7", "subject": "Rent", "department": "Billing"}
    ) == ("Dear Ann,\n\nwe have received your payment for Rent (#7).\n\nBilling")


def test_departments_answer_nothing_by_themselves_unless_told(tmp_path: Path) -> None:
    sales = load_settings(OFFICE, {}).department("sales")
    assert (sales.acknowledgement.enabled, sales.forward_to, sales.templates) == (False, "", ())
    assert sales.acknowledgement.text("en").startswith("Thank you for your message.")


ACK = "[departments.acknowledgement]\n"


@pytest.mark.parametrize(
    ("billing", "key", "problem"),
    [
        (ACK + "enabled = 1", "departments[2].acknowledgement.enabled", "must be bool"),
        (ACK + "hours = 0", "departments[2].acknowledgement.hours", "1"),
        (ACK + "hours = 169", "departments[2].acknowledgement.hours", "168"),
        (ACK + "colour = 1", "departments[2].acknowledgement.colour", "unknown key"),
        (
            ACK + 'texts = { fr = "x" }',
            "departments[2].acknowledgement.texts.fr",
            "is not one of office.languages (en, de)",
        ),
        (
            ACK + 'texts = { en = "#{ref}" }',
            "departments[2].acknowledgement.texts.en",
            "{ref} is not one of {id}, {hours}, {department}",
        ),
        (
            ACK + 'texts = { en = "{id.__class__}" }',
            "departments[2].acknowledgement.texts.en",
            "is not one of",
        ),
        (ACK + 'texts = { en = "{id!r}" }', "departments[2].acknowledgement.texts.en", "is not one of"),
        (ACK + 'texts = { en = "{id:>10}" }', "departments[2].acknowledgement.texts.en", "is not one of"),
        (
            ACK + 'texts = { en = "a { b" }',
            "departments[2].acknowledgement.texts.en",
            "write a brace as {{ or }}",
        ),
        (ACK + 'texts = { en = " " }', "departments[2].acknowledgement.texts.en", "must not be empty"),
        ('forward_to = "nobody"', "departments[2].forward_to", "is not an email address"),
        ('forward_to = "me@office.test"', "departments[2].forward_to", "reroute the item instead"),
        ('[[departments.templates]]\nname = "A"', "departments[2].templates[0].text", "is required"),
        (
            '[[departments.templates]]\nname = "A"\ntext = "{phone}"',
            "departments[2].templates[0].text",
            "{phone} is not one of {name}, {id}, {subject}, {department}",
        ),
        (
            '[[departments.templates]]\nname = "A"\ntext = "x"\n[[departments.templates]]\nname = " A "\ntext = "y"',
            "departments[2].templates[1].name",
            "another template of the department is named 'A'",
        ),
        (
            f'[[departments.templates]]\nname = "{"n" * 101}"\ntext = "x"',
            "departments[2].templates[0].name",
            "at most 100 characters",
        ),
        (
            f'[[departments.templates]]\nname = "A"\ntext = "{"x" * 20_001}"',
            "departments[2].templates[0].text",
            "at most 20,000 characters",
        ),
        ('templates = "A"', "departments[2].templates", "must be list"),
    ],
)
def test_bad_values_are_refused_by_their_key(tmp_path: Path, billing: str, key: str, problem: str) -> None:
    assert_refused(_office(tmp_path, billing), key, problem)


def test_an_office_in_another_first_language_must_write_its_acknowledgement(tmp_path: Path) -> None:
    path = _office(tmp_path, ACK + "enabled = true", '["de", "en"]')
    assert_refused(
        path,
        "departments[2].acknowledgement.texts.de",
        "is required: the text in the office's first language",
    )
    german = _office(
        tmp_path, ACK + 'enabled = true\ntexts = { de = "Danke #{id}", en = "Thanks #{id}" }', '["de", "en"]'
    )
    assert load_settings(german, {}).department("billing").acknowledgement.text("fr") == "Danke #{id}"
