"""Charts drawn as inline SVG on the server: no script, no charting library.

Each chart is an ``<svg role="img">`` labelled by its ``<title>`` and described by its
``<desc>``; the page puts the same figures in a table beneath it. Colours are the Okabe-Ito
palette (told apart with the common colour-vision deficiencies) and every series is also named
in a legend, so colour is never the only cue.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

PALETTE: Final = (
    "#0072b2",  # blue
    "#d55e00",  # vermilion
    "#009e73",  # bluish green
    "#cc79a7",  # reddish purple
    "#e69f00",  # orange
    "#56b4e9",  # sky blue
    "#7a6a00",  # dark yellow (the palette's yellow is too light on white)
    "#555555",  # grey
)
WIDTH: Final = 640
HEIGHT: Final = 180
LEFT: Final = 44
RIGHT: Final = 8
TOP: Final = 8
BOTTOM: Final = 22
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    dashed: bool = False


def nice_ceiling(value: float) -> float:
    """A round upper bound at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _frame(title: str, description: str, body: list[str], height: int = HEIGHT) -> Markup:
    n = next(_ids)
    title_id, desc_id = f"chart-title-{n}", f"chart-desc-{n}"
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title>'
        f'<desc id="{desc_id}">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _y_axis(top: float, label: Callable[[float], str], plot_h: float) -> list[str]:
    parts = []
    for share in (0, 0.5, 1):
        y = TOP + plot_h - share * plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label(top * share))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], step: float, every: int) -> list[str]:
    parts = []
    y = HEIGHT - BOTTOM + 15
    for i, text in enumerate(labels):
        if i % every and i != len(labels) - 1:
            continue
        if i != len(labels) - 1 and (len(labels) - 1 - i) * step < 90:
            continue  # too close to the last label
        x = LEFT + (i + 0.5) * step
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        x = LEFT if i == 0 else WIDTH - RIGHT if i == len(labels) - 1 else x
        parts.append(f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="{anchor}">')
        parts.append(f"{escape(text)}</text>")
    return parts


def stacked_columns(
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    label_every: int = 15,
) -> Markup:
    """A column per label, its series stacked (values of None count as 0)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    top = max(2.0, nice_ceiling(max(totals, default=0)))  # whole numbers on the axis
    step = plot_w / max(1, len(labels))
    body = _y_axis(top, _fmt, plot_h)
    for i in range(len(labels)):
        base = 0.0
        for colour, s in zip(itertools.cycle(PALETTE), series, strict=False):
            value = s.values[i] or 0
            if not value:
                continue
            h = value / top * plot_h
            y = TOP + plot_h - (base + value) / top * plot_h
            body.append(
                f'<rect x="{LEFT + i * step + 0.5:.1f}" y="{y:.1f}" '
                f'width="{max(1.0, step - 1):.1f}" height="{h:.1f}" fill="{colour}"/>'
            )
            base += value
    body.extend(_x_labels(labels, step, label_every))
    return _frame(title, description, body)


def lines(
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: Callable[[float], str] = _fmt,
    label_every: int = 15,
    first_colour: int = 0,
) -> Markup:
    """A line per series over the labels; a gap where a value is None. Colours are taken from
    the palette from ``first_colour`` on (so that two charts sharing a legend differ)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    top = nice_ceiling(max(values, default=0))
    step = plot_w / max(1, len(labels))
    body = _y_axis(top, unit, plot_h)
    colours = itertools.islice(itertools.cycle(PALETTE), first_colour, None)
    for colour, s in zip(colours, series, strict=False):
        points: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                points.append([])
                continue
            x = LEFT + (i + 0.5) * step
            y = TOP + plot_h - value / top * plot_h
            points[-1].append(f"{x:.1f},{y:.1f}")
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for run in points:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                body.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} '
                    f'points="{" ".join(run)}"/>'
                )
    body.extend(_x_labels(labels, step, label_every))
    return _frame(title, description, body)


def bars(
    title: str,
    description: str,
    items: Sequence[tuple[str, float | None]],
    *,
    unit: Callable[[float], str] = _fmt,
    top: float | None = None,
) -> Markup:
    """A horizontal bar per item, labelled with its name and value (None: "no data")."""
    row, label_w = 20, 170
    height = TOP + max(1, len(items)) * row + 4
    scale = top or nice_ceiling(max((v for _, v in items if v is not None), default=0))
    span = WIDTH - label_w - RIGHT - 70
    body = []
    for i, (name, value) in enumerate(items):
        y = TOP + i * row
        short = name if len(name) <= 26 else name[:25] + "…"
        body.append(
            f'<text class="label" x="{label_w - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(short)}</text>"
        )
        if value is None:
            body.append(f'<text class="tick" x="{label_w}" y="{y + 13}">no data</text>')
            continue
        w = value / scale * span if scale else 0
        colour = PALETTE[0]
        body.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 6}" '
            f'fill="{colour}"/>'
            f'<text class="value" x="{label_w + max(w, 1) + 4:.1f}" y="{y + 13}">'
            f"{escape(unit(value))}</text>"
        )
    return _frame(title, description, body, height=height)


def legend(series: Sequence[Series]) -> Markup:
    """The series' names beside their colours (and line styles), as HTML."""
    items = []
    for i, s in enumerate(series):
        style = "dashed" if s.dashed else "solid"
        items.append(
            f'<li><span class="swatch {style} c{i % len(PALETTE)}" aria-hidden="true">'
            f"</span>{escape(s.name)}</li>"
        )
    return Markup('<ul class="legend">' + "".join(items) + "</ul>")
