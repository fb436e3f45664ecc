"""Charts as plain SVG, server-rendered (`Chart.svg`), with the key beside them.

Static: no script, no inline style (the CSP allows neither), colours from classes in
static/css/insights.css. Each chart has a title and a one-sentence summary for screen readers,
and the page shows the same numbers in a table beside it. Written out here with format_html
rather than by a template: a dashboard has hundreds of coordinates, and the template engine
would make most of the page's cost of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 32


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str  # e.g. "revenue": bars and key use chart-revenue
    values: Sequence[Decimal]


def _n(value: float) -> str:
    """A coordinate, written once here: the template then prints text, not numbers to localise."""
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    css_class: str
    label: str


@dataclass(frozen=True)
class Tick:
    position: str
    label: str


@dataclass
class Chart:
    id: str
    title: str
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    line_points: str = ""
    dots: list[Bar] = field(default_factory=list)  # x, y as the centre; for the line chart
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    zero_y: str = "0"
    legend: list[Series] = field(default_factory=list)

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    def svg(self) -> SafeString:
        left, right = self.plot_left, self.plot_right
        grid = format_html_join(
            "",
            '<line x1="{}" x2="{}" y1="{}" y2="{}"></line>'
            '<text class="chart-label" x="{}" y="{}" text-anchor="end" '
            'dominant-baseline="middle">{}</text>',
            (
                (left, right, t.position, t.position, left - 6, t.position, t.label)
                for t in self.y_ticks
            ),
        )
        months = format_html_join(
            "",
            '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            ((t.position, self.height - 10, t.label) for t in self.x_ticks),
        )
        bars = format_html_join(
            "",
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            ((_classes(b.css_class), b.x, b.y, b.width, b.height, b.label) for b in self.bars),
        )
        line = SafeString("")
        if self.line_points:
            line = format_html(
                '<polyline class="chart-line" points="{}"></polyline>{}',
                self.line_points,
                format_html_join(
                    "",
                    '<circle class="chart-dot" cx="{}" cy="{}" r="{}"><title>{}</title></circle>',
                    ((d.x, d.y, d.width, d.label) for d in self.dots),
                ),
            )
        return format_html(
            '<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
            'aria-labelledby="{id}-title {id}-desc" focusable="false">'
            '<title id="{id}-title">{title}</title>'
            '<desc id="{id}-desc">{summary} The table below gives every figure.</desc>'
            '<g class="chart-grid" aria-hidden="true">{grid}{months}</g>'
            '<line class="chart-zero" aria-hidden="true" x1="{left}" x2="{right}" y1="{zero}" '
            'y2="{zero}"></line>{bars}{line}</svg>',
            w=self.width,
            h=self.height,
            id=self.id,
            title=self.title,
            summary=self.summary,
            grid=grid,
            months=months,
            left=left,
            right=right,
            zero=self.zero_y,
            bars=bars,
            line=line,
        )


def _classes(css_class: str) -> str:
    """`profit negative` → `chart-profit negative`: the series' class, then any modifier."""
    series, _, modifier = css_class.partition(" ")
    return f"chart-{series} {modifier}".strip()


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def money_short(value: float) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1_000_000:
        return f"{sign}£{value / 1_000_000:.1f}m".replace(".0m", "m")
    if value >= 1_000:
        return f"{sign}£{value / 1_000:.0f}k"
    return f"{sign}£{value:.0f}"


def _scale(values: Sequence[float]) -> tuple[float, float, float]:
    """Bottom, top and step of a y axis that holds every value and zero."""
    low, high = min([0.0, *values]), max([0.0, *values])
    step = _nice_step(high - low)
    bottom = math.floor(low / step) * step
    top = math.ceil(high / step) * step
    if top == bottom:
        top = bottom + step
    return bottom, top, step


def _y_axis(chart: Chart, bottom: float, top: float, step: float):
    plot_height = chart.height - TOP - BOTTOM

    def y(value: float) -> float:
        return round(TOP + (top - value) / (top - bottom) * plot_height, 1)

    tick = bottom
    while tick <= top + step / 2:
        chart.y_ticks.append(Tick(_n(y(tick)), money_short(tick)))
        tick += step
    chart.zero_y = _n(y(0))
    return y


def _month_label(month: date) -> str:
    return month.strftime("%b %y")


def bar_chart(
    *, id: str, title: str, summary: str, months: Sequence[date], series: Sequence[Series]
) -> Chart:
    """Bars per month, one per series side by side; negative values hang below zero."""
    chart = Chart(id=id, title=title, summary=summary, legend=list(series))
    values = [float(v) for s in series for v in s.values]
    if not months or not values:
        return chart
    y = _y_axis(chart, *_scale(values))
    slot = (chart.plot_right - LEFT) / len(months)
    bar_width = slot * 0.8 / len(series)
    for index, month in enumerate(months):
        left = LEFT + index * slot + slot * 0.1
        chart.x_ticks.append(Tick(_n(LEFT + index * slot + slot / 2), _month_label(month)))
        for number, one in enumerate(series):
            value = float(one.values[index])
            top, base = y(max(value, 0)), y(min(value, 0))
            css = one.css_class if value >= 0 else f"{one.css_class} negative"
            chart.bars.append(
                Bar(
                    x=_n(left + number * bar_width),
                    y=_n(top),
                    width=_n(bar_width - 1),
                    height=_n(max(base - top, 0.5)),
                    css_class=css,
                    label=f"{one.name}, {month:%B %Y}: {money_short(value)}",
                )
            )
    return chart


def line_chart(
    *, id: str, title: str, summary: str, points: Sequence[tuple[date, Decimal]], name: str
) -> Chart:
    chart = Chart(id=id, title=title, summary=summary, legend=[Series(name, "balance", [])])
    if not points:
        return chart
    y = _y_axis(chart, *_scale([float(v) for _, v in points]))
    slot = (chart.plot_right - LEFT) / len(points)
    coordinates = []
    for index, (month, value) in enumerate(points):
        x = _n(LEFT + index * slot + slot / 2)
        coordinates.append(f"{x},{_n(y(float(value)))}")
        chart.x_ticks.append(Tick(x, _month_label(month)))
        chart.dots.append(
            Bar(
                x=x,
                y=_n(y(float(value))),
                width="4",
                height="4",
                css_class="balance",
                label=f"{name}, end of {month:%B %Y}: {money_short(float(value))}",
            )
        )
    chart.line_points = " ".join(coordinates)
    return chart
