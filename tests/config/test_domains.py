"""The office's own domains: one comparison, in any case, with or without the final dot,
an international domain in its Unicode or its xn-- form."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from intake.email.parser import parse_email
from routing.engine import Router
from tests.conftest import OFFICE, assert_refused
from tests.support.mail import email_bytes
from tests.support.routers import decide


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


@pytest.mark.parametrize(
    ("own", "address", "kept"),
    [
        ("bücher.example", "Kasse@XN--BCHER-KVA.example", "kasse@xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "kasse@Bücher.example", "kasse@bücher.example"),
        ("office.test", "kasse@office.test.", "kasse@office.test"),  # the final dot is no From's
    ],
)
def test_a_department_address_at_the_offices_domain_in_another_spelling_is_taken(
    tmp_path: Path, own: str, address: str, kept: str
) -> None:
    path = _office(tmp_path, own)
    addresses = f'addresses = ["billing@office.test", "{address}"]'
    path.write_text(path.read_text().replace('addresses = ["billing@office.test"]', addresses))
    assert load_settings(path, {}).department("billing").addresses == ("billing@office.test", kept)


@pytest.mark.parametrize(
    ("own", "domain"), [("bücher.example", "xn--bcher-kva.example"), ("office.test", "Office.Test.")]
)
def test_a_catch_all_at_the_offices_domain_in_another_spelling_is_taken(
    tmp_path: Path, own: str, domain: str
) -> None:
    path = _office(tmp_path, own)
    path.write_text(f'{path.read_text()}\n[smtp.catch_all]\n"{domain}" = "sales"\n')
    settings = load_settings(path, {})
    for spelling in (own, own.upper(), f"{own}.", domain):
        assert settings.smtp.catch_all_department(spelling) == "sales"


def test_a_department_address_at_another_domain_is_still_refused(tmp_path: Path) -> None:
    path = _office(tmp_path, "straße.example", 'addresses = ["kasse@strasse.example"]\n')
    text = path.read_text().replace('addresses = ["billing@office.test"]\naddresses', "addresses")
    path.write_text(text)
    assert_refused(path, "departments[2].addresses", "is not at one of office.domains")


@pytest.mark.parametrize(
    ("own", "address", "written"),
    [
        ("bücher.example", "kasse@bücher.example", "kasse@xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "kasse@xn--bcher-kva.example", "Kasse@Bücher.example"),
    ],
)
def test_mail_to_a_department_address_in_another_spelling_goes_to_the_department(
    tmp_path: Path, own: str, address: str, written: str
) -> None:
    path = _office(tmp_path, own)
    addresses = f'addresses = ["billing@office.test", "{address}"]'
    path.write_text(path.read_text().replace('addresses = ["billing@office.test"]', addresses))
    decision = decide(Router(load_settings(path, {})), parse_email(email_bytes(to=written)))
    assert decision.department_id == "billing"
