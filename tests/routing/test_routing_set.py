"""Issue 12's measure: the project's own labelled set (tests/data/routing_set), routed under
its office's config after a receptionist corrected a tenth of it.

Done when at least 95% of the messages go to the right department and at most 2% to a
wrong one, and when corrections never make the routing worse than it was before them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import load_settings
from config.settings import Settings
from intake.rules.evaluate import evaluate, parse_share
from intake.rules.evaluate_report import tally
from intake.rules.labelled_set import Labelled, read_labels

ROUTING_SET = Path(__file__).parents[1] / "data" / "routing_set"
SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def office() -> Settings:
    return load_settings(ROUTING_SET / "office.toml")


@pytest.fixture(scope="module")
def labelled(office: Settings) -> list[Labelled]:
    return read_labels(ROUTING_SET / "LABELS.tsv", office)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "routing quality (issue 12) not reached: at seed 1 the whole set of 380 is at 85.1% right and "
        "7.0% wrong after a tenth taught (83.9-85.1% and 6.4-7.3% over seeds 1-5), 7.9% waiting at the "
        "front desk; the locked split, written blind and never tuned on, 65-70% right and 22-30% wrong: "
        "words not in the config's lists that follow the address the message was sent to, and learned "
        "suggestions sure of a topic the message only mentions"
    ),
)
def test_a_tenth_taught_the_rest_goes_right(office: Settings, labelled: list[Labelled]) -> None:
    evaluation = evaluate(office, labelled, parse_share("10%", len(labelled)), seed=1)
    figures = tally(evaluation.after, office.default_department)
    assert figures["right %"] >= 95.0, figures
    assert figures["wrong %"] <= 2.0, figures


# A tenth at every seed, as the target is measured; and more, as an office that has been
# correcting for months has taught (a learned word once counted from its third text, and
# a third of the set taught made the routing worse at two seeds of three, 70% by six points).
TAUGHT = [("10%", seed) for seed in SEEDS] + [(share, seed) for share in ("30%", "60%") for seed in SEEDS[:3]]


@pytest.mark.parametrize(("share", "seed"), TAUGHT)
def test_corrections_never_make_routing_worse(
    office: Settings, labelled: list[Labelled], share: str, seed: int
) -> None:
    evaluation = evaluate(office, labelled, parse_share(share, len(labelled)), seed=seed)
    before = tally(evaluation.before, office.default_department)
    after = tally(evaluation.after, office.default_department)
    assert after["right"] >= before["right"], (before, after)
    assert after["wrong"] <= before["wrong"], (before, after)
