"""Reading [[rules]], [[rule_tests]], [schedules] and [routing]: mistakes are refused by key and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_settings
from tests.support.routers import office_with

GOOD = """
[routing]
suggest_threshold = 0.9

[schedules.on-call]
sun = ["08:00-20:00"]

[[rules]]
name = "invoices"
description = "Invoices go to billing."
when = { subject = ["invoice"], channel = "email" }
route = "billing"
priority = "high"
tags = ["invoice"]

[[rule_tests]]
name = "an invoice"
from = "ann@client.example"
to = ["hello@office.test"]
subject = "Invoice 7"
expect = "billing"
"""


def test_rules_fixtures_schedules_and_threshold_are_read(tmp_path: Path) -> None:
    settings = office_with(tmp_path, GOOD)
    (rule,) = settings.rules
    assert (rule.name, rule.route, rule.priority, rule.tags, rule.stop) == (
        "invoices",
        "billing",
        "high",
        ("invoice",),
        True,
    )
    assert rule.when.kind == "all" and [c.kind for c in rule.when.argument] == ["subject", "channel"]  # type: ignore[attr-defined]
    assert rule.when.argument[1].key == "rules[0].when.channel"  # type: ignore[index]
    assert settings.rule_tests[0].to == ("hello@office.test",) and settings.rule_tests[0].expect == "billing"
    assert settings.routing.suggest_threshold == 0.9
    assert settings.schedule("on-call").spans[6]


def test_conversation_settings_are_read_with_their_defaults(tmp_path: Path) -> None:
    assert office_with(tmp_path, "").routing.conversation_window_hours == 72.0
    assert office_with(tmp_path, "").routing.reopen_on_reply is True
    settings = office_with(tmp_path, "[routing]\nconversation_window_hours = 4\nreopen_on_reply = false\n")
    assert (settings.routing.conversation_window_hours, settings.routing.reopen_on_reply) == (4.0, False)


def test_department_keywords_are_read(tmp_path: Path) -> None:
    path = tmp_path / "office.toml"
    text = Path(__file__).parents[1].joinpath("office.toml").read_text()
    path.write_text(text.replace('name = "Billing"', 'name = "Billing"\nkeywords = ["invoice", "refund"]'))
    assert load_settings(path, {}).department("billing").keywords == ("invoice", "refund")


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        (
            '[[rules]]\nname = "a"\nwhen = { channel = "sms" }\nroute = "sales"\n'
            '[[rules]]\nname = "a"\nwhen = { channel = "sms" }\nroute = "sales"\n',
            "rules[1].name",
            "duplicate rule name 'a'",
        ),
        (
            '[[rules]]\nname = "r"\nwhen = { channel = "sms" }\nroute = "legal"\n',
            "rules[0].route",
            "rule 'r': unknown department 'legal'",
        ),
        (
            '[[rules]]\nname = "r"\nwhen = { channel = "sms" }\npriority = "asap"\n',
            "rules[0].priority",
            "rule 'r': 'asap' is not one of low, normal, high, urgent",
        ),
        ('[[rules]]\nname = "r"\nwhen = { channel = "sms" }\n', "rules[0].name", "rule 'r' has no action"),
        ('[[rules]]\nname = "r"\nroute = "sales"\n', "rules[0].when", "rule 'r': is required"),
        (
            '[[rules]]\nname = "r"\nwhen = { any = [] }\nroute = "sales"\n',
            "rules[0].when.any",
            "rule 'r': list at least one condition",
        ),
        (
            '[[rules]]\nname = "r"\nwhen = { not = {} }\nroute = "sales"\n',
            "rules[0].when.not",
            "rule 'r': name the condition",
        ),
        (
            '[[rules]]\nname = "r"\nwhen = { all = [{ body = { regex = "[a-" } }] }\nroute = "sales"\n',
            "rules[0].when.all[0].body.regex",
            "rule 'r': '[a-' is not a valid regular expression",
        ),
        (
            '[[rules]]\nname = "r"\nwhen = { channel = "sms" }\nroute = "sales"\ngoto = "x"\n',
            "rules[0].goto",
            "unknown key",
        ),
        (
            '[[rule_tests]]\nname = "t"\nexpect = "legal"\n',
            "rule_tests[0].expect",
            "rule test 't': unknown department 'legal'",
        ),
        (
            '[[rule_tests]]\nname = "t"\nexpect = "sales"\nfile = "nowhere.eml"\n',
            "rule_tests[0].file",
            "rule test 't': no such file",
        ),
        (
            '[[rule_tests]]\nname = "t"\nexpect = "sales"\nreceived_at = 2026-11-01T10:00:00\n',
            "rule_tests[0].received_at",
            "give a time with its offset",
        ),
        (
            "[routing]\nsuggest_threshold = 1.5\n",
            "routing.suggest_threshold",
            "must be greater than 0 and at most 1",
        ),
        (
            "[routing]\nconversation_window_hours = 0\n",
            "routing.conversation_window_hours",
            "must be greater than 0 and at most a year",
        ),
        (
            "[routing]\nconversation_window_hours = nan\n",
            "routing.conversation_window_hours",
            "must be greater than 0 and at most a year",
        ),
        (
            '[routing]\nconversation_window_hours = "3d"\n',
            "routing.conversation_window_hours",
            "must be float",
        ),
        ('[routing]\nreopen_on_reply = "yes"\n', "routing.reopen_on_reply", "must be bool, not str"),
        ('[schedules.nights]\nmon = ["22:00-06:00"]\n', "schedules.nights.mon", "ends before it starts"),
    ],
)
def test_a_bad_rule_is_refused_naming_file_key_and_rule(
    tmp_path: Path, extra: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as error:
        office_with(tmp_path, extra)
    assert error.value.source == tmp_path / "office.toml"
    assert error.value.key == key
    assert problem in error.value.problem


def _named(*names: str) -> str:
    return "".join(
        f'[[rules]]\nname = "{name}"\nwhen = {{ channel = "sms" }}\nroute = "sales"\n' for name in names
    )


@pytest.mark.parametrize(
    "name",
    [
        "recipient",
        "Recipient",
        "catch-all",
        "LEARNED SUGGESTION",
        "chosen by hand",
        "in-reply-to",
        "same number",
    ],
)
def test_a_rule_named_like_a_built_in_step_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as error:
        office_with(tmp_path, _named("invoices", name))
    assert error.value.source == tmp_path / "office.toml"
    assert error.value.key == "rules[1].name"
    assert error.value.problem.startswith(f"{name!r} is the name of a built-in routing step")
    assert str(tmp_path / "office.toml") in str(error.value) and "rules[1].name" in str(error.value)


def test_rule_names_differing_only_in_case_are_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        office_with(tmp_path, _named("Invoices", "orders", "invoices"))
    assert error.value.key == "rules[2].name"
    assert error.value.problem == "duplicate rule name 'invoices' (rules[0] is named 'Invoices')"


def test_a_rule_may_contain_a_step_name_within_its_own(tmp_path: Path) -> None:
    settings = office_with(tmp_path, _named("recipient is a VIP", "no catch-all"))
    assert [rule.name for rule in settings.rules] == ["recipient is a VIP", "no catch-all"]
