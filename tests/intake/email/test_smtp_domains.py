"""The SMTP door over a real smtplib client: mail for the office's own domains is accepted in
any spelling of them (any case, an international domain in its Unicode or its xn-- form),
whichever spelling the config has. (A path with a final dot is no RFC 5321 path: 553.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from config.loading import load_settings
from intake.cli.runtime import Runtime, open_runtime
from intake.email.smtp import SMTPServer
from tests.conftest import OFFICE
from tests.support.mail import email_bytes
from tests.support.smtp import ACCEPTED, client, item_count, running, send

# Billing takes mail at one international domain written in Unicode and at one written
# in its xn-- form ("straße.example"); office-two.test has a catch-all department.
DOMAINS = '"office.test", "office-two.test", "bücher.example", "xn--strae-oqa.example"]'
BILLING = '["billing@office.test", "Kasse@Bücher.example", "kasse@xn--strae-oqa.example"]'


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    folder = tmp_path_factory.mktemp("smtp-domains")
    text = OFFICE.read_text().replace('"office.test", "office-two.test"]', DOMAINS)
    text = text.replace('addresses = ["billing@office.test"]', f"addresses = {BILLING}")
    path = folder / "office.toml"
    path.write_text(text)
    settings = load_settings(path, {"INTAKE_DATABASE_URL": f"sqlite:///{folder / 'intake.db'}"})
    smtp = dataclasses.replace(settings.smtp, catch_all=(("Office-Two.test.", "sales"),))
    opened = open_runtime(dataclasses.replace(settings, smtp=smtp))
    yield opened
    opened.engine.dispose()


@pytest.fixture(scope="module")
def server(office: Runtime) -> Iterator[SMTPServer]:
    with running(office) as started:
        yield started


def rcpt(server: SMTPServer, address: str) -> tuple[int, bytes]:
    """RCPT TO with the address as written, after a MAIL FROM asking for SMTPUTF8 when the
    address is not ASCII (the only way a Unicode domain may be written)."""
    with client(server) as connection:
        options = [] if address.isascii() else ["SMTPUTF8"]
        assert connection.mail("ann@client.example", options)[0] == 250
        return connection.docmd("RCPT", f"TO:<{address}>")


@pytest.mark.parametrize(
    "address",
    [
        "kasse@xn--bcher-kva.example",
        "KASSE@XN--BCHER-KVA.EXAMPLE",
        "kasse@BÜCHER.example",
        "kasse@straße.example",
        "KASSE@STRAßE.example",
        "Kasse@XN--STRAE-OQA.example",
        "Sales@Office.Test",
        "anyone@office-two.test",  # the catch-all domain, which the config spells otherwise
        "postmaster@xn--bcher-kva.example",
    ],
)
def test_every_spelling_of_an_office_address_is_accepted(server: SMTPServer, address: str) -> None:
    code, text = rcpt(server, address)
    assert (code, text[:5]) == (250, b"2.1.5")


@pytest.mark.parametrize(
    ("address", "reply"),
    [
        ("nobody@xn--bcher-kva.example", (550, b"5.1.1")),
        ("nobody@straße.example", (550, b"5.1.1")),
        ("kasse@strasse.example", (550, b"5.7.1")),
        ("kasse@xn--bcher-kva.example.elsewhere.example", (550, b"5.7.1")),
        ("victim%elsewhere.example@xn--bcher-kva.example", (550, b"5.7.1")),
    ],
)
def test_other_addresses_are_still_refused(
    server: SMTPServer, address: str, reply: tuple[int, bytes]
) -> None:
    code, text = rcpt(server, address)
    assert (code, text[:5]) == reply


def test_mail_to_the_xn_form_of_an_office_address_is_stored(server: SMTPServer, office: Runtime) -> None:
    before = item_count(office)
    with client(server) as connection:
        code, reply = send(connection, email_bytes(subject="Invoice"), to="kasse@xn--bcher-kva.example")
    assert (code, reply) == (250, ACCEPTED)
    assert item_count(office) == before + 1
