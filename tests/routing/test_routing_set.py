"""The project's own labelled set (tests/data/routing_set): corrections never make routing worse."""

from __future__ import annotations

from pathlib import Path

from config.loading import load_settings
from intake.rules.evaluate import Routed, evaluate, parse_share
from intake.rules.labelled_set import read_labels

SET = Path(__file__).resolve().parent.parent / "data" / "routing_set"


def _figures(routed: tuple[Routed, ...]) -> tuple[int, int]:
    right = sum(r.right for r in routed)
    wrong = sum(not r.right and r.department != "front-desk" for r in routed)
    return right, wrong


def test_accuracy_after_a_tenth_of_the_set_as_corrections_is_not_below_before() -> None:
    settings = load_settings(SET / "office.toml", {})
    rows = read_labels(SET / "LABELS.tsv", settings)
    evaluation = evaluate(settings, rows, parse_share("10%", len(rows)), seed=1)
    (right_before, wrong_before), (right_after, wrong_after) = map(
        _figures, (evaluation.before, evaluation.after)
    )
    count = len(evaluation.after)
    print(
        f"\nrouting set, {count} messages not taught: right {right_before / count:.1%} -> {right_after / count:.1%},"
        f" wrong department {wrong_before / count:.1%} -> {wrong_after / count:.1%}"
    )
    assert right_after >= right_before
    assert wrong_after <= wrong_before
