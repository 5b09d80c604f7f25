"""The condition kinds Intake ships, gathered into a registry once at start."""

from __future__ import annotations

from routing.conditions import attachments, channel, header, hours, machine, recipient, sender, text
from routing.conditions.base import Registry

MODULES = (channel, recipient, sender, text, header, attachments, machine, hours)


def standard_registry() -> Registry:
    """A new registry of every shipped kind; it refuses a name registered twice."""
    return Registry(kind for module in MODULES for kind in module.KINDS)
