"""The engine: rule order, actions, stop and continue, all/any/not, the index, the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from config.loading import ConfigError
from routing.conditions.base import ConditionKind, DuplicateKind
from routing.conditions.registry import standard_registry
from routing.engine import OutcomeKind, Router
from tests.support.routers import CLOSED_TIME, decide, email, office_with, rfc5322, sms

RULES = """
[[rules]]
name = "bounces"
when = { machine = true }
machine = true
tags = ["automatic"]
stop = false

[[rules]]
name = "vip"
description = "The biggest client is always high priority, wherever the mail goes."
when = { sender = ["bigclient.example"] }
priority = "high"
tags = ["vip"]

[[rules]]
name = "invoices"
when = { subject = ["invoice"] }
route = "billing"
tags = ["invoice"]

[[rules]]
name = "orders"
when = { any = [{ subject = ["order"] }, { body = { regex = "PO-\\\\d+" } }] }
route = "sales"
priority = "low"
stop = false

[[rules]]
name = "weekend orders"
when = { all = [{ subject = ["order"] }, { hours = "closed" }] }
priority = "urgent"
tags = ["weekend"]

[[rules]]
name = "not from us"
when = { not = { sender = ["office.test"] }, subject = ["spam"] }
spam = true
"""


def _mail(subject: str, sender: str = "ann@client.example", body: str = "Hello.") -> bytes:
    return rfc5322(
        f"From: {sender}",
        "To: sales@office.test",
        f"Subject: {subject}",
        "Message-ID: <e@c>",
        body=body + "\r\n",
    )


@pytest.fixture
def router(tmp_path: Path) -> Router:
    return Router(office_with(tmp_path, RULES))


def test_the_first_routing_rule_wins_and_later_ones_are_not_checked(router: Router) -> None:
    decision = decide(router, email(_mail("Invoice for order 7")))
    assert decision.department_id == "billing"
    # bounces, vip and "not from us" look for nothing this message has, so the index skips them.
    assert decision.reason == "rule 'invoices' routes to billing (3 other rules could not apply)"
    assert decision.tags == ("invoice",)
    assert [o.rule for o in decision.outcomes] == ["invoices"]


def test_a_rule_that_continues_lets_later_rules_add_and_the_highest_priority_wins(router: Router) -> None:
    decision = decide(
        router, email(_mail("New order", sender="cfo@bigclient.example"), received_at=CLOSED_TIME)
    )
    assert decision.department_id == "sales"
    assert decision.priority == "urgent"
    assert decision.tags == ("vip", "weekend")
    assert [(o.rule, o.matched) for o in decision.outcomes] == [
        ("vip", True),
        ("orders", True),
        ("weekend orders", True),
    ]


def test_a_rule_without_a_route_does_not_stop_and_addresses_still_route(router: Router) -> None:
    decision = decide(router, email(_mail("Hello", sender="cfo@bigclient.example")))
    assert (decision.department_id, decision.priority, decision.tags) == ("sales", "high", ("vip",))
    assert decision.outcomes[-1].reason == "sent to sales@office.test, which belongs to sales"


def test_any_matches_a_regex_in_the_body(router: Router) -> None:
    decision = decide(router, email(_mail("Re: your quote", body="Please find PO-7731 attached")))
    assert decision.department_id == "sales" and decision.priority == "low"
    assert (
        decision.outcomes[-1].reason == "body matches /PO-\\d+/ at 'PO-7731': routed to sales, priority low"
    )


def test_machine_and_spam_marks(router: Router) -> None:
    bounce = decide(router, email(_mail("Undeliverable"), machine_kind="bounce"))
    assert bounce.machine and bounce.tags == ("automatic",) and not bounce.spam
    spam = decide(router, email(_mail("spam spam spam")))
    assert spam.spam and not spam.machine
    ours = decide(router, email(_mail("spam", sender="it@office.test")))
    assert not ours.spam


def test_explain_lists_every_rule_but_the_index_checks_only_candidates(router: Router) -> None:
    message = sms("Is my invoice ready?")
    indexed, explained = router.route(message), router.route(message, explain=True)
    # "orders" has a regex, which the index cannot read, so it is checked for every message.
    assert [o.rule for o in indexed.outcomes] == ["orders", "recipient"]
    assert [o.rule for o in explained.outcomes][:6] == [
        "bounces",
        "vip",
        "invoices",
        "orders",
        "weekend orders",
        "not from us",
    ]
    assert explained.outcomes[1].reason == "wanted from bigclient.example"
    assert indexed.reason.endswith("(5 other rules could not apply)")


def test_a_registry_refuses_a_kind_registered_twice() -> None:
    registry = standard_registry()
    with pytest.raises(DuplicateKind, match="'subject' is registered twice"):
        registry.register(ConditionKind("subject", "again", registry.kinds["subject"].build))


def test_an_unknown_kind_is_refused_with_the_rule_name_and_the_known_kinds(tmp_path: Path) -> None:
    extra = '[[rules]]\nname = "typo"\nwhen = { any = [{ subjct = ["x"] }] }\nroute = "sales"\n'
    with pytest.raises(ConfigError) as error:
        Router(office_with(tmp_path, extra))
    assert str(error.value).endswith(
        "office.toml: rules[0].when.any[0].subjct: rule 'typo': unknown condition kind 'subjct' "
        "(known: body, channel, has_attachments, header, hours, machine, recipient, sender, subject, transcript)"
    )


def test_outcomes_say_whether_a_rule_or_a_built_in_step_spoke(router: Router) -> None:
    decision = router.route(email(_mail("Hello")), explain=True)
    kinds = {o.rule: o.kind for o in decision.outcomes}
    assert kinds == {
        **{rule.name: OutcomeKind.RULE for rule in router.settings.rules},
        "recipient": OutcomeKind.STEP,
    }


def test_a_rule_that_bears_a_step_name_still_counts_as_a_rule(tmp_path: Path) -> None:
    # The loader refuses such a name; settings built in code (or a loader's slip) must not
    # fool the engine, which tells rules from steps by their kind.
    settings = office_with(
        tmp_path, '[[rules]]\nname = "x"\nwhen = { channel = "email" }\nroute = "billing"\n'
    )
    renamed = replace(settings, rules=(replace(settings.rules[0], name="recipient"),))
    bounce = email(_mail("Undelivered"), machine_kind="bounce")
    decision = decide(Router(renamed), bounce)
    assert decision.department_id == "billing"
    assert [(o.rule, o.kind, o.matched) for o in decision.outcomes] == [("recipient", OutcomeKind.RULE, True)]
    assert decision.decision_needed is None


def test_a_suggestion_of_the_default_department_never_overrides_an_address(tmp_path: Path) -> None:
    # "desks" reads as the front desk's own name; the sender still chose sales.
    router = Router(office_with(tmp_path, ""))
    message = email(
        rfc5322(
            "From: a@client.example",
            "To: sales@office.test",
            "Subject: Forty standing desks",
            "Message-ID: <desks@c>",
            body="A quote for forty standing desks, please.\r\n",
        )
    )
    decision = decide(router, message)
    assert decision.suggestion is not None and decision.suggestion.department_id == "front-desk"
    assert decision.department_id == "sales"
