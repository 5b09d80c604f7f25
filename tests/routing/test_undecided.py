"""Why an item needs a decision: each kind of reason written in English and read back into
its parts, so that a page can say it in its own language."""

from __future__ import annotations

import pytest

from routing import undecided
from routing.undecided import Undecided

WRITTEN = [
    (undecided.machine_mail("auto-reply"), "machine mail (auto-reply) that no rule recognised"),
    (
        undecided.words_disagree("front-desk", 0.874),
        "the address and the words disagree: they read as front-desk (87%)",
    ),
    (
        undecided.below_threshold("billing", 0.4449, 0.6),
        "weak suggestion: billing (44%, below 60%)",
    ),
    (
        undecided.too_little("sales", False, ("factură",)),
        "weak suggestion: sales, on one word that is no keyword of it (factură)",
    ),
    (
        undecided.too_little("sales", True, ("rent", "chirie (luna)")),
        "weak suggestion: sales, on words that say as much for another department (rent, chirie (luna))",
    ),
    (
        undecided.too_little("sales", False, ()),
        "weak suggestion: sales, on one word that is no keyword of it",
    ),
    (undecided.UNROUTED, "no rule or address chose a department"),
]


@pytest.mark.parametrize(("reason", "text"), WRITTEN, ids=[str(r.kind) for r, _ in WRITTEN])
def test_each_reason_is_written_in_english_and_read_back_whole(reason: Undecided, text: str) -> None:
    assert str(reason) == text
    assert undecided.read(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "",
        "weak suggestion: sales",  # an older wording
        "machine mail (bounce) that no rule recognised, and more",
        "weak suggestion: billing (44 percent, below 60%)",
        "no rule or address chose a department.",
    ],
)
def test_a_text_of_no_known_pattern_is_read_as_none(text: str) -> None:
    assert undecided.read(text) is None
