"""Combining conditions: all of them, any of them, or not this one."""

from __future__ import annotations

from collections.abc import Sequence

from routing.conditions.base import Atom, Condition, Facts

# Atoms that most messages have (every text has ("channel", "sms")): a poor index key.
BROAD_ATOMS = frozenset({"channel", "attachments", "machine"})


def _breadth(atoms: set[Atom]) -> tuple[bool, int]:
    """How many messages a part's atoms may pick out: broad kinds last, then fewer atoms first."""
    return any(atom[0] in BROAD_ATOMS for atom in atoms), len(atoms)


class AllOf:
    """Holds when every part holds; indexed by its most selective indexable part."""

    def __init__(self, parts: Sequence[Condition]) -> None:
        self.parts = tuple(parts)

    def check(self, facts: Facts) -> str | None:
        reasons = []
        for part in self.parts:
            reason = part.check(facts)
            if reason is None:
                return None
            reasons.append(reason)
        return " and ".join(reasons)

    def describe(self) -> str:
        return " and ".join(part.describe() for part in self.parts)

    def atoms(self) -> set[Atom] | None:
        indexed = [atoms for atoms in (part.atoms() for part in self.parts) if atoms is not None]
        return min(indexed, key=_breadth) if indexed else None


class AnyOf:
    """Holds when at least one part holds; indexed only if every part is."""

    def __init__(self, parts: Sequence[Condition]) -> None:
        self.parts = tuple(parts)

    def check(self, facts: Facts) -> str | None:
        for part in self.parts:
            reason = part.check(facts)
            if reason is not None:
                return reason
        return None

    def describe(self) -> str:
        return "(" + " or ".join(part.describe() for part in self.parts) + ")"

    def atoms(self) -> set[Atom] | None:
        found: set[Atom] = set()
        for part in self.parts:
            atoms = part.atoms()
            if atoms is None:
                return None
            found |= atoms
        return found


class Not:
    """Holds when its part does not; never indexed."""

    def __init__(self, part: Condition) -> None:
        self.part = part

    def check(self, facts: Facts) -> str | None:
        return f"not ({self.part.describe()})" if self.part.check(facts) is None else None

    def describe(self) -> str:
        return f"not ({self.part.describe()})"

    def atoms(self) -> set[Atom] | None:
        return None
