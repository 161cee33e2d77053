"""Charts drawn on the server as inline SVG: no script, no CDN, nothing the page's CSP refuses.

Each function returns SVG markup sized by its viewBox (it scales with its container); series take
a CSS class (``series-0`` ...) for their colour, so the stylesheet keeps light and dark themes.
Every chart carries a ``<title>`` for screen readers; the tables beside them hold the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


@dataclass(frozen=True)
class Series:
    """One line: a value (or None: no data) per x label."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Marker:
    """A vertical line at one x label, e.g. when a model version was activated."""

    at: str
    label: str


def _svg(title: str, body: list[str], test_id: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" data-testid="{escape(test_id)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _grid(top: float, fmt: Callable[[float], str]) -> list[str]:
    """Horizontal grid lines at 0, 1/2 and all of ``top``, with their labels."""
    parts = []
    for share in (0.0, 0.5, 1.0):
        y = TOP + (1 - share) * (HEIGHT - TOP - BOTTOM)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(top * share))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], x: Callable[[int], float], most: int = 7) -> list[str]:
    step = max(1, -(-len(labels) // most))  # about ``most`` labels, evenly spaced
    return [
        f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % step == 0
    ]


def _nice_top(value: float) -> float:
    """A round number at or above ``value`` for the y axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    top: float | None = None,
    markers: Sequence[Marker] = (),
    test_id: str = "chart",
) -> Markup:
    """Lines over ``labels`` (days); a gap where a value is None; a dot where a day stands alone.

    Example:
        >>> svg = line_chart("Per day", ["d1", "d2"], [Series("a", [1, 3])], test_id="t")
        >>> svg.startswith("<svg") and "<polyline" in svg and "<title>Per day</title>" in svg
        True
    """
    found = [v for s in series for v in s.values if v is not None]
    top = top if top is not None else _nice_top(max(found, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(labels), 1)

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / count)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    body = _grid(top, fmt) + _x_labels(labels, x)
    index = {label: i for i, label in enumerate(labels)}
    for marker in markers:
        if marker.at in index:
            mx = x(index[marker.at])
            body.append(
                f'<line class="marker" x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" '
                f'y2="{HEIGHT - BOTTOM}"><title>{escape(marker.label)}</title></line>'
            )
    for number, line in enumerate(series):
        css = f"series series-{number % 6}"
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(line.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x(i), y(value)))
        for run in runs:
            if len(run) == 1:
                body.append(
                    f'<circle class="{css}" cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2.5"/>'
                )
            elif run:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                name = escape(line.name)
                body.append(f'<polyline class="{css}" points="{points}"><title>{name}</title>')
                body.append("</polyline>")
    return _svg(title, body, test_id)


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    test_id: str = "chart",
) -> Markup:
    """One bar per label, each with its value as a tooltip.

    Example:
        >>> "<rect" in bar_chart("Hours", ["0", "1"], [3, 5])
        True
    """
    top = _nice_top(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(labels), 1)
    slot = plot_w / count

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    body = _grid(top, fmt) + _x_labels(labels, x, most=12)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = plot_h * min(value, top) / top
        body.append(
            f'<rect class="bar" x="{LEFT + slot * i + slot * 0.15:.1f}" '
            f'y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
    return _svg(title, body, test_id)


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"
