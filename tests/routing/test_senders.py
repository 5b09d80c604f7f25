"""Who is writing: senders known for a department count for it; lookalike domains earn no trust."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loading import ConfigError, load_settings
from config.settings import Settings
from intake.cli.runtime import Runtime, open_runtime
from routing.engine import Router
from routing.learning import learn
from routing.senders import LOOKALIKE_TAG, lookalike
from routing.store.database import transaction
from tests.support.routers import email, lesson, rfc5322

OFFICE = """
[office]
name = "Supplier Office"
domains = ["office.test"]
timezone = "Europe/London"
default_department = "front-desk"

[[departments]]
id = "front-desk"
name = "Front desk"
addresses = ["hello@office.test"]
description = "General questions."

[[departments]]
id = "maintenance"
name = "Maintenance"
description = "Repairs, and the contractors who do them."
keywords = ["repair", "leak"]
senders = ["acme-supplies.example", "@lifts.example", "bob@plumbing.example"]

[[departments]]
id = "accounting"
name = "Accounting"
description = "Rent, invoices to tenants, refunds."
keywords = ["rent", "refund", "invoice"]
"""


def _office(tmp_path: Path, text: str = OFFICE, database_url: str | None = None) -> Settings:
    path = tmp_path / "office.toml"
    path.write_text(text)
    return load_settings(path, {"INTAKE_DATABASE_URL": database_url} if database_url else {})


def _mail(sender: str, body: str = "Please find our reminder attached.") -> bytes:
    headers = (f"From: {sender}", "To: hello@office.test", "Subject: Reminder", "Message-ID: <s@c>")
    return rfc5322(*headers, body=body + "\r\n")


def test_a_configured_supplier_counts_for_its_department(tmp_path: Path) -> None:
    decision = Router(_office(tmp_path)).route(
        email(_mail("ar@acme-supplies.example", "Our invoice 7 is due."))
    )
    assert decision.department_id == "maintenance"
    assert decision.reason.startswith(
        "learned: sender domain acme-supplies.example is maintenance's -> maintenance"
    )
    assert LOOKALIKE_TAG not in decision.tags
    sub = Router(_office(tmp_path)).route(
        email(_mail("ar@billing.acme-supplies.example", "Our invoice 7 is due."))
    )
    assert sub.department_id == "maintenance" and LOOKALIKE_TAG not in sub.tags


@pytest.mark.parametrize(
    "sender",
    [
        "ar@acme-supp1ies.example",  # one letter away
        "ar@acme-suppleis.example",  # two letters swapped
        "ar@acme-supplies-billing.example",  # the known name with more words
        "ar@acme-supplies.example.net",  # the known name under another domain
        "ar@1ifts.example",
    ],
)
def test_a_lookalike_of_a_known_supplier_gets_no_trust_and_the_tag(tmp_path: Path, sender: str) -> None:
    decision = Router(_office(tmp_path)).route(email(_mail(sender, "Our invoice 7 is due.")))
    assert LOOKALIKE_TAG in decision.tags
    # No trust: the words alone decide, and they say the invoice is accounting's.
    assert decision.suggestion is not None and decision.suggestion.department_id == "accounting"
    assert not any("sender" in evidence for evidence in decision.suggestion.evidence)
    assert any(o.rule == "sender" and "imitates" in o.reason and not o.matched for o in decision.outcomes)


def test_unrelated_and_shared_domains_are_no_lookalikes() -> None:
    assert not lookalike("acme.example", "acme-supplies.example")
    assert not lookalike("gmai1.com", "gmail.com")  # a shared provider is nobody's to imitate
    assert not lookalike("mail.acme-supplies.example", "acme-supplies.example")
    assert lookalike("acme-suppl1es.example", "acme-supplies.example")


@pytest.fixture
def office(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = open_runtime(_office(tmp_path, database_url=database_url))
    yield runtime
    runtime.engine.dispose()


def test_a_sender_people_routed_to_one_department_counts_for_it(office: Runtime) -> None:
    message = email(_mail("jo@cleaning.example"))
    router = office.routers.current
    with transaction(office.sessions, write=False) as session:
        assert router.route(message, session).suggestion is None  # no word and no sender known
    with transaction(office.sessions) as session:
        learn(
            session, lesson(office.settings, "Invoice for the stairs", "jo@cleaning.example"), "maintenance"
        )
    with transaction(office.sessions, write=False) as session:
        decision = router.route(email(_mail("ann@cleaning.example")), session)
    assert decision.suggestion is not None and decision.suggestion.department_id == "maintenance"
    assert "sender domain known for maintenance" in decision.suggestion.evidence
    with transaction(office.sessions, write=False) as session:
        imitated = router.route(email(_mail("ann@c1eaning.example")), session)
    assert LOOKALIKE_TAG in imitated.tags


def test_shared_providers_and_the_office_itself_are_never_learned(office: Runtime) -> None:
    with transaction(office.sessions) as session:
        learn(session, lesson(office.settings, "a leak", "ann@gmail.com"), "maintenance")
        learn(session, lesson(office.settings, "a leak", "staff@office.test"), "maintenance")
    router = office.routers.current
    for sender, known in (("bob@gmail.com", False), ("ann@gmail.com", True), ("eve@office.test", False)):
        with transaction(office.sessions, write=False) as session:
            suggestion = router.route(email(_mail(sender)), session).suggestion
        assert (suggestion is not None) == known, sender


def test_a_sender_entry_that_is_neither_address_nor_domain_is_refused(tmp_path: Path) -> None:
    bad = OFFICE.replace('"bob@plumbing.example"]', '"bob@plumbing.example", "plumbing"]')
    with pytest.raises(
        ConfigError, match=r"departments\[1\]\.senders: 'plumbing' is neither an email address nor a domain"
    ):
        _office(tmp_path, bad)
