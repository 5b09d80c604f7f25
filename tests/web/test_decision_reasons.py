"""Why an item needs a decision reads on an English page exactly as routing writes it: the
page's patterns (web.labels) and routing.undecided's say the same, kind by kind."""

from __future__ import annotations

from flask import Flask

from routing import undecided
from web.labels import why

# A department the office has not: the page names it by its id, as it is stored.
GONE = "gone-department"


def test_each_reason_reads_on_an_english_page_as_it_is_stored(app: Flask) -> None:
    reasons = [
        undecided.machine_mail("bounce"),
        undecided.words_disagree(GONE, 0.87),
        undecided.below_threshold(GONE, 0.44, 0.6),
        undecided.too_little(GONE, False, ("factură",)),
        undecided.too_little(GONE, True, ("rent", "chirie")),
        undecided.UNROUTED,
    ]
    assert {reason.kind for reason in reasons} == set(undecided.PATTERNS)
    with app.test_request_context():
        assert [why(str(reason)) for reason in reasons] == [str(reason) for reason in reasons]
