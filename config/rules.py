"""Reading the routing rules and their fixtures from an office's TOML file.

The condition kinds themselves belong to the routing engine, which checks their
arguments when it compiles the rules; here the shape is checked: names, actions,
departments, combiners and regular expressions, each error naming the rule.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import PRIORITIES, BuiltInStep, ConditionSettings, Department, RuleSettings, RuleTest

if TYPE_CHECKING:
    from config.table import Table

# Rule names are compared folded, so "Recipient" is refused as "recipient" is.
_STEP_NAMES = frozenset(step.casefold() for step in BuiltInStep)


def _known_department(
    table: Table, name: str, value: str, departments: tuple[Department, ...], what: str
) -> None:
    known = [d.id for d in departments]
    if value not in known:
        raise table.fail(name, f"{what}: unknown department {value!r} (known: {', '.join(known)})")


def rules(root: Table, departments: tuple[Department, ...]) -> tuple[RuleSettings, ...]:
    """The rules in order; names are unique and no built-in step's, whatever their case."""
    found: dict[str, RuleSettings] = {}
    for table in root.tables("rules"):
        rule = _rule(table, departments)
        folded = rule.name.strip().casefold()
        if folded in _STEP_NAMES:
            raise table.fail(
                "name",
                f"{rule.name!r} is the name of a built-in routing step "
                f"(taken: {', '.join(BuiltInStep)}); give the rule another name",
            )
        if folded in found:
            first = found[folded]
            raise table.fail(
                "name", f"duplicate rule name {rule.name!r} ({first.key} is named {first.name!r})"
            )
        found[folded] = rule
    return tuple(found.values())


def _rule(table: Table, departments: tuple[Department, ...]) -> RuleSettings:
    table.only("name", "description", "when", "route", "priority", "tags", "spam", "machine", "stop")
    name = table.text("name")
    what = f"rule {name!r}"
    route = table.get("route", str, None)
    if route is not None:
        _known_department(table, "route", route, departments, what)
    priority = table.get("priority", str, None)
    if priority is not None and priority not in PRIORITIES:
        raise table.fail("priority", f"{what}: {priority!r} is not one of {', '.join(PRIORITIES)}")
    if not table.get("when", dict, {}):
        raise table.fail("when", f"{what}: is required (the conditions under which the rule applies)")
    when = _condition(table.table("when"), what)
    if (
        route is None
        and priority is None
        and not table.strings("tags")
        and not (table.get("spam", bool, False) or table.get("machine", bool, False))
    ):
        raise table.fail("name", f"{what} has no action (route, priority, tags, spam or machine)")
    return RuleSettings(
        name=name,
        description=table.get("description", str, ""),
        when=when,
        key=table.prefix,
        route=route,
        priority=priority,
        tags=table.strings("tags"),
        spam=table.get("spam", bool, False),
        machine=table.get("machine", bool, False),
        stop=table.get("stop", bool, route is not None),
    )


def _condition(table: Table, what: str) -> ConditionSettings:
    """A table of conditions: one key is that condition, several are all of them."""
    parts = [_one_condition(table, kind, what) for kind in table.data]
    if len(parts) == 1:
        return parts[0]
    return ConditionSettings("all", tuple(parts), table.prefix)


def _one_condition(table: Table, kind: str, what: str) -> ConditionSettings:
    key = table.key(kind)
    if kind in ("all", "any"):
        children = table.tables(kind)
        if not children or not all(child.data for child in children):
            raise table.fail(kind, f"{what}: list at least one condition, and no empty ones")
        return ConditionSettings(kind, tuple(_condition(child, what) for child in children), key)
    if kind == "not":
        if not table.get(kind, dict, {}):
            raise table.fail(kind, f"{what}: name the condition that must not hold")
        return ConditionSettings(kind, (_condition(table.table(kind), what),), key)
    argument = table.data[kind]
    if isinstance(argument, dict) and "regex" in argument:
        _check_regex(table.table(kind), what)
    return ConditionSettings(kind, argument, key)


def _check_regex(table: Table, what: str) -> None:
    pattern = table.get("regex", str)
    try:
        re.compile(pattern)
    except re.error as error:
        raise table.fail(
            "regex", f"{what}: {pattern!r} is not a valid regular expression ({error})"
        ) from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system
        return False


def rule_tests(root: Table, departments: tuple[Department, ...]) -> tuple[RuleTest, ...]:
    tests: list[RuleTest] = []
    for table in root.tables("rule_tests"):
        table.only("name", "expect", "file", "channel", "from", "to", "subject", "text", "received_at")
        name = table.text("name")
        expect = table.text("expect")
        _known_department(table, "expect", expect, departments, f"rule test {name!r}")
        file = table.get("file", str, None)
        path = (table.source.parent / file) if file is not None else None
        if path is not None and not _is_file(path):
            raise table.fail("file", f"rule test {name!r}: no such file {str(path)!r}")
        received_at = table.get("received_at", datetime, None)
        if received_at is not None and received_at.tzinfo is None:
            raise table.fail("received_at", f"rule test {name!r}: give a time with its offset (Z or +01:00)")
        tests.append(
            RuleTest(
                name=name,
                expect=expect,
                key=table.prefix,
                file=path,
                channel=table.text("channel", "email"),
                sender=table.get("from", str, ""),
                to=table.strings("to"),
                subject=table.get("subject", str, ""),
                text=table.get("text", str, ""),
                received_at=received_at,
            )
        )
    return tuple(tests)
