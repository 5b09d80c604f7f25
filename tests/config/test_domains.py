"""The office's own domains: one comparison, in any case, with or without the final dot,
an international domain in its Unicode or its xn-- form."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from tests.conftest import OFFICE, assert_refused


def _office(tmp_path: Path, domain: str, billing: str = "") -> Path:
    """The test office receiving mail for `domain` too, with `billing` added to Billing."""
    text = OFFICE.read_text().replace('"office-two.test"]', f'"office-two.test", "{domain}"]')
    text = text.replace(
        'addresses = ["billing@office.test"]\n', f'addresses = ["billing@office.test"]\n{billing}'
    )
    path = tmp_path / "office.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("own", "asked"),
    [
        ("office.test", "OFFICE.Test"),
        ("office.test", "office.test."),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "BÜCHER.example"),
        ("straße.example", "xn--strae-oqa.example"),
    ],
)
def test_every_spelling_of_an_office_domain_is_the_offices(tmp_path: Path, own: str, asked: str) -> None:
    assert load_settings(_office(tmp_path, own), {}).owns_domain(asked)


@pytest.mark.parametrize("asked", ["mail.office.test", "office.test.example", "strasse.example", "x" * 300])
def test_other_domains_are_not_the_offices(tmp_path: Path, asked: str) -> None:
    assert not load_settings(_office(tmp_path, "straße.example"), {}).owns_domain(asked)


@pytest.mark.parametrize(
    ("own", "forward_to"),
    [
        ("bücher.example", "kasse@xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "kasse@bücher.example"),
        ("office.test", "billing@Office.Test."),
    ],
)
def test_a_forward_to_at_the_offices_domain_in_another_spelling_is_refused(
    tmp_path: Path, own: str, forward_to: str
) -> None:
    path = _office(tmp_path, own, f'forward_to = "{forward_to}"\n')
    assert_refused(path, "departments[2].forward_to", "is at one of office.domains; reroute the item instead")
