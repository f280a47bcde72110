"""The geometry of the trend chart: an SVG drawn by a template and styled by style.css (the CSP allows no inline style)."""

import math
from dataclasses import dataclass

HEIGHT = 236  # pixels of the whole chart
TOP, BOTTOM = 18, 206  # pixels of the plot area's top and bottom (x labels below)
WIDTH = 1000  # user units across the stretched layer that holds the lines and the area
TICKS = 4  # the fewest horizontal grid intervals
X_LABELS = 7  # at most this many dates under the axis
# Round steps of a duration axis in seconds: whole minutes and hours rather than 50s, 1m 40s, 2m 30s.
DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True)
class Point:
    """One point: where it is drawn, and what hovering it says."""

    x: float  # percent of the width
    y: float | None  # pixels; None for a bucket without data
    y_previous: float | None
    left: float  # percent: the hover band of this point
    width: float
    label: str
    value: str
    previous: str | None


@dataclass(frozen=True)
class Chart:
    """Everything chart.tpl draws."""

    line: str  # SVG path data in the stretched layer
    area: str
    previous_line: str
    grid: list  # (y pixels, label)
    x_labels: list  # (x percent, label, anchor, minor)
    points: list
    height: int = HEIGHT
    bottom: int = BOTTOM
    width: int = WIDTH


def scale(value, whole=False, steps=None):
    """Return (top, ticks): the smallest round top at or above VALUE, cut into 4 to 6 round (WHOLE) steps or STEPS."""
    if value <= 0:
        return 1, 1
    fitting = [(step * ticks, ticks) for step in steps or () for ticks in (4, 5, 6) if step * ticks >= value]
    if fitting:
        return min(fitting)
    power = 10 ** math.floor(math.log10(value / TICKS))
    candidates = [(step * power * ticks, ticks) for step in (1, 2, 5, 10) for ticks in (4, 5, 6)
                  if step * power * ticks >= value and (step * power >= 1 or not whole)]
    return min(candidates)


def build(series, write, label, tick, whole=False, axis=None, steps=None):
    """Lay out SERIES [(t, value, previous)]; WRITE formats a value (AXIS one of the axis), LABEL and TICK a
    point's time; WHOLE: the values are counts; STEPS: the axis's round steps when not powers of ten."""
    values = [None if p.value is None else float(p.value) for p in series]
    previous = [None if p.previous is None else float(p.previous) for p in series]
    top, ticks = scale(max([v for v in values + previous if v is not None] + [0]), whole, steps)
    count = len(series)

    def x_of(index):
        return 50.0 if count == 1 else index * 100.0 / (count - 1)

    def y_of(value):
        return round(BOTTOM - (BOTTOM - TOP) * value / top, 2)

    def path(ys):
        steps, pen = [], "M"
        for index, y in enumerate(ys):
            if y is None:
                pen = "M"
                continue
            steps.append(f"{pen}{x_of(index) * WIDTH / 100:.2f},{y}")
            pen = "L"
        return " ".join(steps)

    ys = [None if v is None else y_of(v) for v in values]
    line = path(ys)
    # The shaded area only under an unbroken line: a bucket without data (a rate with no sessions) breaks it.
    whole = count and None not in ys
    area = f"{line} L{x_of(count - 1) * WIDTH / 100:.2f},{BOTTOM} L{x_of(0) * WIDTH / 100:.2f},{BOTTOM} Z" if whole else ""
    half = 50.0 if count == 1 else 50.0 / (count - 1)
    points = []
    for index, point in enumerate(series):
        x = x_of(index)
        left = max(0.0, x - half)
        points.append(Point(
            x=round(x, 3), y=ys[index],
            y_previous=None if previous[index] is None else y_of(previous[index]),
            left=round(left, 3), width=round(min(100.0, x + half) - left, 3),
            label=label(point.t), value=("≈ " if point.approximate else "") + write(point.value),
            previous=None if point.previous is None else write(point.previous),
        ))
    grid = [(y_of(top * i / ticks), (axis or write)(top * i / ticks)) for i in range(ticks + 1)]
    return Chart(line=line, area=area, previous_line=path([None if v is None else y_of(v) for v in previous]),
                 grid=grid, x_labels=_x_labels(series, x_of, tick), points=points)


def _x_labels(series, x_of, tick):
    """Pick evenly spaced dates to write under the axis; every other one is 'minor' (hidden on a phone)."""
    count = len(series)
    if not count:
        return []
    step = max(1, math.ceil((count - 1) / (X_LABELS - 1))) if count > 1 else 1
    chosen = list(range(0, count, step))
    labels = []
    for order, index in enumerate(chosen):
        x = x_of(index)
        anchor = "start" if x < 4 else "end" if x > 96 else "middle"
        labels.append((round(x, 3), tick(series[index].t), anchor, order % 2 == 1))
    return labels
