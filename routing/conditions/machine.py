"""The `machine` condition: mail written by a machine, such as a bounce or an auto-reply.

machine = true                      (any kind)
machine = ["bounce", "auto-reply"]  (these kinds)
machine = false                     (written by a person)
"""

from __future__ import annotations

from config.settings import Settings
from routing.conditions.base import Atom, BadArgument, ConditionKind, Facts, shown, strings
from routing.message import MACHINE_KINDS


class Machine:
    def __init__(self, kinds: frozenset[str] | None, wanted: bool = True) -> None:
        self.kinds, self.wanted = kinds, wanted  # kinds None: any kind

    def check(self, facts: Facts) -> str | None:
        kind = facts.message.machine_kind
        is_machine = kind is not None and (self.kinds is None or kind in self.kinds)
        if is_machine != self.wanted:
            return None
        return f"machine mail ({kind})" if is_machine else "written by a person"

    def describe(self) -> str:
        if not self.wanted:
            return "written by a person"
        return "machine mail" + (f" ({shown(sorted(self.kinds))})" if self.kinds else "")

    def atoms(self) -> set[Atom] | None:
        if not self.wanted:
            return None
        return {("machine", k) for k in self.kinds} if self.kinds else {("machine", "*")}


def _build(argument: object, settings: Settings) -> Machine:
    if isinstance(argument, bool):
        return Machine(None, argument)
    kinds = frozenset(k.lower() for k in strings(argument, "machine"))
    unknown = sorted(kinds - set(MACHINE_KINDS))
    if unknown:  # "yes" would match nothing, silently
        raise BadArgument(
            f"machine: unknown kind {unknown[0]!r} (true, false, or kinds: {', '.join(MACHINE_KINDS)})"
        )
    return Machine(kinds)


KINDS = (ConditionKind("machine", "mail written by a machine: bounces, auto-replies", _build),)
