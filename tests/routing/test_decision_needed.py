"""Which routing decisions ask a person to decide: the front desk shows those first."""

from __future__ import annotations

from pathlib import Path

from routing.engine import Router
from tests.support.routers import decide, email, office_with, rfc5322

RECOGNISE_BOUNCES = """
[[rules]]
name = "bounces"
when = { machine = true }
machine = true
"""


def _mail(to: str = "sales@office.test", subject: str = "Hello") -> bytes:
    return rfc5322("From: ann@client.example", f"To: {to}", f"Subject: {subject}", "Message-ID: <d@c>")


def test_mail_to_a_department_address_needs_no_decision(tmp_path: Path) -> None:
    decision = decide(Router(office_with(tmp_path, "")), email(_mail()))
    assert (decision.department_id, decision.decision_needed) == ("sales", None)


def test_mail_nothing_routed_needs_a_decision(tmp_path: Path) -> None:
    decision = decide(Router(office_with(tmp_path, "")), email(_mail(to="someone@elsewhere.example")))
    assert decision.decision_needed == "no rule or address chose a department"


def test_machine_mail_that_no_rule_recognised_needs_a_decision_even_when_addressed(tmp_path: Path) -> None:
    decision = decide(Router(office_with(tmp_path, "")), email(_mail(), machine_kind="bounce"))
    assert decision.department_id == "sales"
    assert decision.decision_needed == "machine mail (bounce) that no rule recognised"


def test_machine_mail_a_rule_recognised_needs_none(tmp_path: Path) -> None:
    router = Router(office_with(tmp_path, RECOGNISE_BOUNCES))
    assert decide(router, email(_mail(), machine_kind="bounce")).decision_needed is None
