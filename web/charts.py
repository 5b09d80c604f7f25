"""The geometry of the dashboard's charts, computed here and drawn as SVG by a template.

Nothing here knows HTML: a chart is numbers and labels. Colours are classes
("series-3"), set in the stylesheet, because the page's CSP forbids inline styles;
a department keeps its class, and so its colour, on every chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext, ngettext

from routing.queues.dashboard import PickUp, Series
from web.display import day_label, number

PALETTE_SIZE = 8  # the classes series-0 .. series-7 in intake.css
CHANNEL_OFFSET = 4  # channels take the palette's second half, departments start at its first

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 28  # room for the axes' labels
BAR_SHARE = 0.72  # of a day's slot; the rest is the gap between bars
LABEL_EVERY = 7  # days between date labels, counted back from today
# The server cannot measure text, so the wait chart makes room for its words by their
# length: a generous width per character at the labels' 12px (wide letters included),
# and a gap between a word and the bar it names.
CHAR_WIDTH = 7.8
TEXT_GAP = 8.0
LABEL_SHARE = 0.35  # at most this share of the width goes to the departments' names


@dataclass(frozen=True)
class Segment:
    """One rectangle: a series' part of a bar, or a whole horizontal bar."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    total: int


@dataclass(frozen=True)
class BarChart:
    """A stacked bar chart: one bar a day, one segment per series with items that day."""

    title: str
    description: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    segments: tuple[Segment, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    legend: tuple[LegendEntry, ...]


def colour(position: int) -> str:
    return f"series-{position % PALETTE_SIZE}"


def items(count: int) -> str:
    shown: str = ngettext("%(count)s item", "%(count)s items", count, count=number(count))
    return shown


def stacked_bars(title: str, days: Sequence[date], series: Sequence[Series], offset: int = 0) -> BarChart:
    """Bars of items per day, each stacked from the series in their order, bottom up.

    `offset` moves the series along the palette, so that the channels' colours are not
    read as departments'.
    """
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    slot = (right - LEFT) / max(len(days), 1)
    totals = [sum(s.counts[n] for s in series) for n in range(len(days))]
    top_value, step = scale(max(totals, default=0))
    per_item = (bottom - TOP) / top_value
    segments = []
    for n, day in enumerate(days):
        y = float(bottom)
        for s in series:
            if s.counts[n]:
                height = s.counts[n] * per_item
                y -= height
                x = LEFT + n * slot + slot * (1 - BAR_SHARE) / 2
                title_text = f"{s.label}, {day_label(day)}: {items(s.counts[n])}"
                segments.append(
                    Segment(x, y, slot * BAR_SHARE, height, colour(s.position + offset), title_text)
                )
    last = len(days) - 1
    x_ticks = tuple(
        Tick(LEFT + (n + 0.5) * slot, day_label(day))
        for n, day in enumerate(days)
        if (last - n) % LABEL_EVERY == 0
    )
    y_ticks = tuple(Tick(bottom - v * per_item, number(v)) for v in range(0, top_value + 1, step))
    first, final = (day_label(days[0]), day_label(days[-1])) if days else ("", "")
    return BarChart(
        title=title,
        description=gettext(
            "%(items)s from %(first)s to %(final)s, the busiest day %(busiest)s.",
            items=items(sum(totals)),
            first=first,
            final=final,
            busiest=items(max(totals, default=0)),
        ),
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=right,
        top=TOP,
        bottom=bottom,
        segments=tuple(segments),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=tuple(LegendEntry(s.label, colour(s.position + offset), s.total) for s in series),
    )


def scale(largest: int) -> tuple[int, int]:
    """The axis' top and its tick step: a round step (1, 2 or 5 times a power of ten)
    giving at most five steps, and a top that is a whole number of steps."""
    if largest <= 0:
        return 1, 1
    rough = largest / 5
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return math.ceil(largest / step) * step, step


@dataclass(frozen=True)
class WaitChart:
    """Horizontal bars: each department's median wait before an item is picked up."""

    title: str
    width: int
    height: int
    label_width: float
    # Each department's name as it fits left of the bars, shortened with an ellipsis if need be.
    labels: tuple[str, ...]
    rows: tuple[tuple[PickUp, Segment | None], ...]  # None: nothing picked up yet
    row_height: float


def wait_bars(title: str, pick_up: Sequence[PickUp]) -> WaitChart:
    row = 26.0
    longest_label = int(WIDTH * LABEL_SHARE / CHAR_WIDTH)
    labels = tuple(_shortened(p.label, longest_label) for p in pick_up)
    label_width = _text_width(max(labels, key=len, default="")) + 2 * TEXT_GAP
    values = [duration(p.median) for p in pick_up if p.median is not None]
    room = WIDTH - label_width - _text_width(max(values, key=len, default="")) - TEXT_GAP
    longest = max((p.median for p in pick_up if p.median is not None), default=timedelta(0))
    rows = []
    for n, p in enumerate(pick_up):
        bar = None
        if p.median is not None:
            share = p.median / longest if longest else 0.0
            text = gettext(
                "%(department)s: median %(wait)s over %(count)s picked up",
                department=p.label,
                wait=duration(p.median),
                count=items(p.picked_up),
            )
            bar = Segment(
                label_width, n * row + 5, max(share * room, 1.0), row - 10, colour(p.position), text
            )
        rows.append((p, bar))
    height = int(len(rows) * row) or int(row)
    return WaitChart(title, WIDTH, height, label_width, labels, tuple(rows), row)


def _text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _shortened(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def duration(span: timedelta | None) -> str:
    """A wait as people say it: "under a minute", "25 min", "1 h 20 min", "2 d 3 h"."""
    if span is None:
        return str(gettext("none picked up"))
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return str(gettext("under a minute"))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    # The two largest units that are not zero, as the time is rough anyway.
    units = (
        [gettext("%(days)s d", days=days), hours and gettext("%(hours)s h", hours=hours)]
        if days
        else [
            hours and gettext("%(hours)s h", hours=hours),
            minutes and gettext("%(minutes)s min", minutes=minutes),
        ]
    )
    return " ".join(str(unit) for unit in units if unit)
