"""Whether a domain is one of the office's own: the one comparison every check uses
(a forward_to address, a forward typed on a page, the mail acknowledged), so that no
spelling of the office's domain passes for an outside one."""

from __future__ import annotations

from collections.abc import Iterable

import idna

# The longest domain name DNS holds (RFC 1035): a longer one is no one's, and it is
# never given to the IDNA codec, whose work grows with the length.
MAX_DOMAIN = 253


def domain_key(domain: str) -> str:
    """`domain` as domains are compared: in lower case, an international one in its ASCII
    (xn--) form as mail relays write it, without the final dot a fully qualified name may
    have. A name IDNA cannot encode is compared as written, in lower case."""
    name = domain.strip().lower().removesuffix(".")
    if name.isascii() or len(name) > MAX_DOMAIN:
        return name
    try:
        # The mapping email_validator uses for the addresses replies go to (UTS 46, not
        # transitional), so that "straße" is the xn-- form a reply's recipient has.
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError:
        return name


def address_key(address: str) -> str:
    """`address` as addresses are compared: in lower case, its domain as `domain_key` has it."""
    local_part, at, domain = address.lower().rpartition("@")
    return f"{local_part}{at}{domain_key(domain)}"


def owns(domains: Iterable[str], domain: str) -> bool:
    """Whether `domain` is one of `domains` (the office's) in any spelling of it."""
    return domain_key(domain) in {domain_key(own) for own in domains}
