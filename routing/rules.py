"""Compiling the config's rules once, with an index so a message meets only the rules
that could match it.

Every indexable condition (a channel, an address, a domain, a keyword's first word)
contributes atoms; a message's own atoms pick out its candidate rules from a dict,
whose cost does not grow with the number of rules. Rules that cannot be indexed
(a regex, a header, the hours, a `not`) are candidates for every message.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from config.settings import ConditionSettings, RuleSettings, Settings
from routing.conditions.base import Atom, Condition, Facts, Registry, Shape, shape
from routing.conditions.logic import AllOf, AnyOf, Not


@dataclass(frozen=True)
class CompiledRule:
    position: int
    settings: RuleSettings
    condition: Condition
    # What the rule looks for, worked out once: it explains every miss.
    wanted: str

    @property
    def name(self) -> str:
        return self.settings.name


class RuleSet:
    """The rules of one config, in order, with the index from atoms to rules."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.rules: list[CompiledRule] = []
        for position, written in enumerate(settings.rules):
            condition = _compile(written.when, settings, registry, written.name)
            self.rules.append(CompiledRule(position, written, condition, f"wanted {condition.describe()}"))
        index: dict[Atom, list[int]] = defaultdict(list)
        self.always: list[int] = []
        for rule in self.rules:
            atoms = rule.condition.atoms()
            if atoms is None:
                self.always.append(rule.position)
            for atom in atoms or ():
                index[atom].append(rule.position)
        self.index = dict(index)
        # The index's atoms as a set: a message's atoms are met with them in one set
        # intersection, which walks the smaller of the two, rather than one look-up each.
        self.indexed = frozenset(self.index)
        # The words and terms the index's text atoms begin with, by shape: a message's text
        # atoms are made only from those.
        keys: dict[Shape, set[str]] = defaultdict(set)
        for atom in self.index:
            if atom[0] in ("word", "term"):
                keys[shape(atom)].add(atom[2])
        self.text_keys = {text_shape: frozenset(values) for text_shape, values in keys.items()}

    def candidates(self, facts: Facts) -> list[CompiledRule]:
        """The rules that could match, in config order."""
        positions = set(self.always)
        for atom in facts.atoms & self.indexed:
            positions.update(self.index[atom])
        return [self.rules[p] for p in sorted(positions)]


def _compile(spec: ConditionSettings, settings: Settings, registry: Registry, rule: str) -> Condition:
    if spec.kind in ("all", "any", "not"):
        assert isinstance(spec.argument, tuple)  # the loader builds combiners with a tuple of parts
        parts = [_compile(part, settings, registry, rule) for part in spec.argument]
        if spec.kind == "not":
            return Not(parts[0])
        return AllOf(parts) if spec.kind == "all" else AnyOf(parts)
    return registry.build(spec, settings, rule)
