"""Who is writing: a sender the office knows as one department's, and domains that only look known.

A department's `senders` in the config (addresses or domains), and addresses and
domains that people have only ever routed to one department, are evidence for it.
The mail providers everybody uses and the office's own domains say nothing about the
department, so they are never learned. A domain one edit away from a known one
(`acme-supp1ies.example` for `acme-supplies.example`), or one that wraps a known name
in more words (`acme-supplies-billing.example`), earns no trust: it is what a forger
registers, and the item is tagged `lookalike-sender`.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings

LOOKALIKE_TAG = "lookalike-sender"
# Share of an address's or domain's corrections one department must hold to count as its.
LEARNED_SHARE = 0.8
# Free mail: patients, applicants and suppliers alike write from these.
SHARED_PROVIDERS = frozenset(
    {
        *("gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com"),
        *("yahoo.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com"),
        *("gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de", "freenet.de", "posteo.de"),
        *("yahoo.ro", "freemail.hu", "citromail.hu", "hotmail.de", "yahoo.de", "mail.com"),
    }
)
# A known name needs this many letters before containing it makes a domain suspicious.
MIN_CONTAINED = 5


@dataclass(frozen=True)
class SenderEvidence:
    """What the sender says about the department: `department_id` is None when nothing."""

    department_id: str | None
    reason: str
    # The known domain this one imitates, when it does.
    imitates: str | None = None
    # Named in the config's `senders`: the office said so, stronger than what was learned.
    configured: bool = False


UNKNOWN = SenderEvidence(None, "sender not known")


def sender_features(sender: str, settings: Settings) -> tuple[str, ...]:
    """What a correction teaches about the sender: its address, and its domain unless shared."""
    sender = sender.lower()
    if "@" not in sender:
        return (f"from:{sender}",) if sender else ()
    domain = sender.rpartition("@")[2]
    if domain in SHARED_PROVIDERS or settings.owns_domain(domain):
        return (f"from:{sender}",)
    return (f"from:{sender}", f"domain:{domain}")


def judge(sender: str, settings: Settings, learned: dict[str, dict[str, float]]) -> SenderEvidence:
    """The department the sender points to, from the config's `senders` and `learned`
    (feature -> department -> weight, for this sender's features and every learned domain)."""
    sender = sender.lower()
    domain = sender.rpartition("@")[2] if "@" in sender else ""
    configured = _configured(settings)
    for key, what in ((sender, "sender"), *((d, "sender domain") for d in _parents(domain))):
        if key in configured:
            return SenderEvidence(configured[key], f"{what} {key} is {configured[key]}'s", configured=True)
    for feature, what in ((f"from:{sender}", "sender"), (f"domain:{domain}", "sender domain")):
        owner = _owner(learned.get(feature, {}))
        if owner is not None:
            return SenderEvidence(owner, f"{what} known for {owner}")
    known = {key for key in configured if "@" not in key}
    known |= {f.partition(":")[2] for f, seen in learned.items() if f.startswith("domain:") and _owner(seen)}
    imitated = next((k for k in sorted(known) if domain and lookalike(domain, k)), None)
    if imitated is not None:
        return SenderEvidence(None, f"sender domain {domain} imitates {imitated}", imitated)
    return UNKNOWN


def lookalike(domain: str, known: str) -> bool:
    """Whether `domain` passes for `known` without being it (or one of its subdomains)."""
    if domain == known or domain.endswith(f".{known}") or known in SHARED_PROVIDERS:
        return False
    name, known_name = _name(domain), _name(known)
    if _edits(name, known_name) <= 1:
        return True
    return len(known_name) >= MIN_CONTAINED and known_name in name


def _configured(settings: Settings) -> dict[str, str]:
    return {sender: d.id for d in settings.departments for sender in d.senders}


def _owner(seen: dict[str, float]) -> str | None:
    """The department that holds most of a feature's corrections, if it holds nearly all."""
    if not seen:
        return None
    best = max(seen, key=lambda d: seen[d])
    return best if seen[best] >= LEARNED_SHARE * sum(seen.values()) else None


def _parents(domain: str) -> list[str]:
    """The domain and each parent with a dot: mail.acme.example, acme.example."""
    found = []
    while "." in domain:
        found.append(domain)
        domain = domain.partition(".")[2]
    return found


def _name(domain: str) -> str:
    """The domain without its last label: what a forger copies (acme-supplies of .example)."""
    return domain.rpartition(".")[0] or domain


def _edits(a: str, b: str) -> int:
    """Levenshtein distance, with a swap of two neighbours counted as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]
