"""Small inline-SVG charts for the HTML report.

Why not matplotlib: it would be a heavy new dependency of the core package for three simple charts, and its SVG
draws every letter as a path (large, not selectable, not styleable). These charts are plain `<svg>` elements whose
labels are text, styled by the page's CSS, with `data-benchmark`/`data-method` attributes the page uses to filter
the evidence when a bar is clicked. Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from medrl.detection.stages import STAGES

# One colour per detection method, each stage's own (the page's legend and badges use the same); methods no stage
# of this version has (an older run's) get grey.
METHOD_COLORS = {stage.name: stage.color for stage in STAGES}
_OTHER_COLOR = "#6b7280"
# Methods whose score is an unbounded count (no 0-100 scale for their histogram).
_COUNTED = {stage.name for stage in STAGES if stage.score_ceiling is None}
_ROW_HEIGHT, _LABEL_WIDTH, _BAR_WIDTH, _FONT = 26, 170, 440, 13


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method, _OTHER_COLOR)


def _text(x: float, y: float, value: object, anchor: str = "start", css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(str(value))}</text>'


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def stacked_bars(title: str, counts: Mapping[str, Mapping[str, int]], methods: list[str]) -> str:
    """One horizontal bar per benchmark, a segment per method (rows with evidence from that pair)."""
    benchmarks = sorted(counts, key=lambda name: (-sum(counts[name].values()), name))
    largest = max((sum(counts[name].values()) for name in benchmarks), default=0) or 1
    body, x = [], _LABEL_WIDTH
    for position, method in enumerate(methods):  # legend
        key_left = x + position * 110
        body.append(f'<rect x="{key_left}" y="4" width="12" height="12" rx="2" fill="{method_color(method)}"/>')
        body.append(_text(key_left + 17, 15, method))
    for row, benchmark in enumerate(benchmarks):
        y = 28 + row * _ROW_HEIGHT
        body.append(_text(_LABEL_WIDTH - 8, y + 15, benchmark, "end"))
        left = float(x)
        for method in methods:
            value = counts[benchmark].get(method, 0)
            if not value:
                continue
            width = max(value / largest * _BAR_WIDTH, 1.5)
            body.append(
                f'<rect class="filter" data-benchmark="{escape(benchmark)}" data-method="{escape(method)}" '
                f'x="{left:.1f}" y="{y}" width="{width:.1f}" height="{_ROW_HEIGHT - 8}" '
                f'fill="{method_color(method)}"><title>{escape(benchmark)} / {escape(method)}: {value:,} rows'
                "</title></rect>"
            )
            left += width
        body.append(_text(left + 6, y + 15, f"{sum(counts[benchmark].values()):,}", css="value"))
    height = 28 + max(len(benchmarks), 1) * _ROW_HEIGHT + 4
    return _svg(_LABEL_WIDTH + _BAR_WIDTH + 80, height, title, body)


def histogram(title: str, method: str, scores: list[float], threshold: float | None, note: str) -> str:
    """The distribution of a method's scores in 20 bins, the threshold as a dashed line."""
    width, height, left, bottom, top = 340, 180, 40, 150, 34
    high = max([*scores, threshold or 0.0, 1.0])
    high = 100.0 if high <= 100 and method not in _COUNTED else math.ceil(high)
    bins = [0] * 20
    for score in scores:
        bins[min(int(score / high * 20), 19)] += 1
    tallest = max(bins) or 1
    span = width - left - 10
    body = [_text(left, 12, f"{method}: {len(scores):,} rows", css="head")]
    for position, count in enumerate(bins):
        bar = count / tallest * (bottom - top)
        body.append(
            f'<rect x="{left + position * span / 20:.1f}" y="{bottom - bar:.1f}" width="{span / 20 - 1:.1f}" '
            f'height="{bar:.1f}" fill="{method_color(method)}"><title>{count:,} rows scored '
            f"{position * high / 20:g}-{(position + 1) * high / 20:g}</title></rect>"
        )
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" class="axis"/>')
    for tick in (0, high / 2, high):
        body.append(_text(left + tick / high * span, bottom + 14, f"{tick:g}", "middle", "tick"))
    body.append(_text(left - 4, top + 8, f"{tallest:,}", "end", "tick"))
    if threshold is not None:
        x = left + min(threshold / high, 1.0) * span
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="threshold"/>')
        right_half = x > left + span / 2  # the label goes on the side with room
        anchor, shift = ("end", -4) if right_half else ("start", 4)
        body.append(_text(x + shift, top - 6, f"threshold {threshold:g}", anchor, "threshold-label"))
    body.append(_text(left, bottom + 28, note, css="tick"))
    return _svg(width, height, title, body)


def share_bars(title: str, shares: list[tuple[str, int, int]]) -> str:
    """Per benchmark, the share of its items found in the training data: (name, found, items)."""
    body = []
    for row, (benchmark, found, items) in enumerate(shares):
        y = 4 + row * _ROW_HEIGHT
        share = found / items if items else 0.0
        body.append(_text(_LABEL_WIDTH - 8, y + 15, benchmark, "end"))
        body.append(f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{_BAR_WIDTH}" height="{_ROW_HEIGHT - 8}" class="track"/>')
        body.append(
            f'<rect class="filter" data-benchmark="{escape(benchmark)}" x="{_LABEL_WIDTH}" y="{y}" '
            f'width="{max(share * _BAR_WIDTH, 1.0 if found else 0.0):.1f}" height="{_ROW_HEIGHT - 8}" '
            f'fill="#dc2626"><title>{escape(benchmark)}: {found:,} of {items:,} items</title></rect>'
        )
        body.append(_text(_LABEL_WIDTH + _BAR_WIDTH + 6, y + 15, f"{share:.1%} ({found:,} of {items:,})", css="value"))
    height = 8 + max(len(shares), 1) * _ROW_HEIGHT
    return _svg(_LABEL_WIDTH + _BAR_WIDTH + 170, height, title, body)


def dot_intervals(title: str, rows: list[tuple[str, float, float, float, str]]) -> str:
    """Accuracies on a 0-100% axis: per row (label, value, low, high, colour) a dot and its interval."""
    left, span, top = _LABEL_WIDTH, 400, 24
    body = [_text(left, 14, title, css="head")]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * span
        bottom = top + len(rows) * _ROW_HEIGHT
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="grid"/>')
        body.append(_text(x, bottom + 14, f"{tick:.0%}", "middle", "tick"))
    for row, (label, value, low, high, color) in enumerate(rows):
        y = top + row * _ROW_HEIGHT + _ROW_HEIGHT / 2
        body.append(_text(left - 8, y + 4, label, "end"))
        body.append(
            f'<line x1="{left + low * span:.1f}" y1="{y:.1f}" x2="{left + high * span:.1f}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-width="3"/>'
        )
        body.append(
            f'<circle cx="{left + value * span:.1f}" cy="{y:.1f}" r="5" fill="{color}"><title>{escape(label)}: '
            f"{value:.1%} ({low:.1%}-{high:.1%})</title></circle>"
        )
        body.append(_text(left + span + 8, y + 4, f"{value:.1%} [{low:.1%}, {high:.1%}]", css="value"))
    return _svg(left + span + 190, top + len(rows) * _ROW_HEIGHT + 22, title, body)
