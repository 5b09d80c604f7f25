"""Which envelope recipients the SMTP door accepts, and the reply for those it refuses.

Intake is never a relay: only the office's own domains are accepted, and any local
part that asks a server to pass the mail on (a source route, "%", "!", a quoted "@")
is refused as a relay attempt. Unknown local parts are refused unless their domain
has a catch-all department. Domains and addresses are compared as config.domains does,
whichever spelling of a domain the config or the sender wrote (case, xn-- form). Postmaster, bare or at one of the office's domains, is
always accepted, as RFC 5321 4.5.1 requires; unless a rule or the message's
headers say otherwise, routing sends it to the default department.
"""

from __future__ import annotations

import re

from config.domains import address_key, domain_key
from config.settings import Settings

RELAY_DENIED = "550 5.7.1 Relaying denied: this server accepts mail for its own domains only"
UNKNOWN_USER = "550 5.1.1 No such user here"
POSTMASTER = "postmaster"
# Characters with which old relays let a sender route a message onwards.
_RELAY_TRICK = re.compile(r'[%!@:"\\]')


class RecipientPolicy:
    """Answers, for one address, whether this office takes mail for it."""

    def __init__(self, settings: Settings) -> None:
        self.domains = frozenset(domain_key(domain) for domain in settings.domains)
        self.addresses = frozenset(address_key(a) for d in settings.departments for a in d.addresses)
        self.catch_all_domains = frozenset(domain_key(domain) for domain, _ in settings.smtp.catch_all)

    def refusal(self, address: str) -> str | None:
        """The SMTP reply refusing `address`, or None when it is accepted."""
        address = address_key(address)
        if address == POSTMASTER:
            return None
        local_part, _, domain = address.rpartition("@")
        if not local_part or domain not in self.domains or _RELAY_TRICK.search(local_part):
            return RELAY_DENIED
        if address in self.addresses or domain in self.catch_all_domains or local_part == POSTMASTER:
            return None
        return UNKNOWN_USER
