"""The figures of an evaluation (intake.rules.evaluate) as tables for people and as JSON.

Each routed message is right (its labelled department, the front desk included), sent
to a wrong department, or left at the front desk when it belonged elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from intake.rules.evaluate import Evaluation, Routed

OUTCOMES = ("right", "wrong", "front desk")
# The lower edges of the suggestion's confidence buckets; the default threshold is 0.8.
CONFIDENCE_EDGES = (0.0, 0.5, 0.8, 0.9, 0.99)


def outcome(routed: Routed, default_department: str) -> str:
    if routed.right:
        return "right"
    return "front desk" if routed.department == default_department else "wrong"


def tally(routed: Iterable[Routed], default_department: str) -> dict[str, Any]:
    """The counts of each outcome, their total, and each outcome's share in percent."""
    counts = Counter(outcome(r, default_department) for r in routed)
    total = sum(counts.values())
    figures: dict[str, Any] = {"messages": total}
    for name in OUTCOMES:
        figures[name] = counts[name]
        figures[f"{name} %"] = round(100 * counts[name] / total, 1) if total else 0.0
    return figures


def _grouped(
    routed: Sequence[Routed], key: Callable[[Routed], str], default_department: str
) -> dict[str, dict[str, Any]]:
    keys = sorted({key(r) for r in routed})
    return {k: tally([r for r in routed if key(r) == k], default_department) for k in keys}


def _bucket(confidence: float | None) -> str:
    if confidence is None:
        return "no suggestion"
    lower = max(edge for edge in CONFIDENCE_EDGES if confidence >= edge)
    upper = CONFIDENCE_EDGES.index(lower) + 1
    return (
        f"{lower:.2f}-{CONFIDENCE_EDGES[upper]:.2f}" if upper < len(CONFIDENCE_EDGES) else f"{lower:.2f}-1.00"
    )


def confidence_table(routed: Sequence[Routed]) -> list[dict[str, Any]]:
    """Per bucket of the suggestion's confidence: how often the suggestion and the
    routing were right."""
    order = ["no suggestion"] + [_bucket(edge) for edge in CONFIDENCE_EDGES]
    rows = []
    for bucket in order:
        members = [r for r in routed if _bucket(r.confidence) == bucket]
        if members:
            rows.append(
                {
                    "confidence": bucket,
                    "messages": len(members),
                    "suggestion right": sum(r.suggested == r.labelled.department for r in members),
                    "routed right": sum(r.right for r in members),
                }
            )
    return rows


def as_json(evaluation: Evaluation, labels: str, config: str, split: str, seed: int) -> dict[str, Any]:
    """Everything the tables show, and each message's outcome."""
    default, after = evaluation.default_department, evaluation.after
    teaching = evaluation.teaching
    return {
        "labels": labels,
        "config": config,
        "split": split,
        "seed": seed,
        "taught": {
            "messages": len(teaching.taught),
            "rerouted": teaching.rerouted,
            "confirmed": teaching.confirmed,
            "already right": teaching.already_right,
            "joined": teaching.joined,
            "ids": list(teaching.taught),
        },
        "before teaching": tally(evaluation.before, default),
        "after teaching": tally(after, default),
        "by language": _grouped(after, lambda r: r.labelled.language, default),
        "by channel": _grouped(after, lambda r: r.labelled.channel, default),
        "confusion": {
            expected: dict(
                sorted(Counter(r.department for r in after if r.labelled.department == expected).items())
            )
            for expected in sorted({r.labelled.department for r in after})
        },
        "confidence": confidence_table(after),
        "messages": [
            {
                "id": r.labelled.id,
                "language": r.labelled.language,
                "channel": r.labelled.channel,
                "expected": r.labelled.department,
                "got": r.department,
                "outcome": outcome(r, default),
                "suggested": r.suggested,
                "confidence": None if r.confidence is None else round(r.confidence, 3),
                "reason": r.reason,
            }
            for r in after
        ],
    }


def print_report(figures: dict[str, Any], departments: Sequence[str]) -> None:
    """The JSON figures as tables."""
    taught = figures["taught"]
    print(f"{figures['labels']} under {figures['config']}, split {figures['split']}")
    if taught["messages"]:
        print(
            f"taught first (seed {figures['seed']}): {taught['messages']} messages; the receptionist rerouted "
            f"{taught['rerouted']}, confirmed {taught['confirmed']}, left {taught['already right']} already "
            f"right and {taught['joined']} joined an earlier item"
        )
    print(f"routed: {figures['after teaching']['messages']} messages\n")
    print(f"{'':22}{'messages':>9}  {'right':>12}  {'wrong dept':>12}  {'front desk':>12}")
    if taught["messages"]:
        _tally_line("before teaching", figures["before teaching"])
    _tally_line("all" if not taught["messages"] else "after teaching", figures["after teaching"])
    for group in ("by language", "by channel"):
        print(group)
        for name, figures_of in figures[group].items():
            _tally_line(f"  {name}", figures_of)
    _print_confusion(figures["confusion"], departments)
    print(f"\n{'suggestion confidence':22}{'messages':>9}  {'suggestion right':>17}  {'routed right':>13}")
    for row in figures["confidence"]:
        print(
            f"{row['confidence']:22}{row['messages']:>9}  {_part(row['suggestion right'], row['messages']):>17}"
            f"  {_part(row['routed right'], row['messages']):>13}"
        )


def _tally_line(name: str, figures: dict[str, Any]) -> None:
    cells = "  ".join(f"{figures[o]:>4} {figures[o + ' %']:5.1f}%" for o in OUTCOMES)
    print(f"{name:22}{figures['messages']:>9}  {cells}")


def _part(count: int, total: int) -> str:
    return f"{count} {100 * count / total:5.1f}%"


def _print_confusion(confusion: dict[str, dict[str, int]], departments: Sequence[str]) -> None:
    width = max(len(d) for d in departments) + 1
    print(f"\nconfusion: expected (down) x got (across)\n{'':{width}}", end="")
    print("".join(f"{d:>{width}}" for d in departments))
    for expected in departments:
        got = confusion.get(expected)
        if got:
            print(f"{expected:{width}}" + "".join(f"{got.get(d, 0) or '.':>{width}}" for d in departments))
