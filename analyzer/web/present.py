"""How the dashboard writes its figures: labels, thousands separators, money, durations, changes, countries."""

from decimal import ROUND_HALF_UP, Decimal

import pycountry

from analyzer import localtime
from analyzer.ingest.values import UNLISTED_COUNTRIES

METRICS = {  # name: (label, kind)
    "sessions": ("Sessions", "count"),
    "customers": ("Unique customers", "count"),
    "new_customers": ("New customers", "count"),
    "avg_duration_s": ("Avg. session duration", "duration"),
    "pages_per_session": ("Pages per session", "ratio"),
    "bounce_rate": ("Bounce rate", "percent"),
    "conversion_rate": ("Conversion rate", "percent"),
    "conversions": ("Conversions", "count"),
    "revenue": ("Revenue", "money"),
    "revenue_per_session": ("Revenue per session", "money"),
    "avg_order_value": ("Avg. order value", "money"),
}
LOWER_IS_BETTER = {"bounce_rate"}
DIMENSIONS = {
    "channel": "Channel",
    "source": "Source",
    "medium": "Medium",
    "campaign": "Campaign",
    "landing_page": "Landing page",
    "exit_page": "Exit page",
    "device": "Device",
    "country": "Country",
    "customer_type": "New vs returning",
}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$",
           "AUD": "A$", "CAD": "CA$", "NZD": "NZ$", "MXN": "MX$", "ILS": "₪", "PLN": "zł ", "TRY": "₺"}
NO_DECIMALS = {"JPY", "KRW", "CLP", "ISK", "HUF", "VND", "PYG", "UGX", "XAF", "XOF"}
NONE = "(none)"


def count(value):
    """Write a whole number with thousands separators."""
    return f"{round(value or 0):,}"


def money(value, currency, places=None):
    """Write an amount in CURRENCY: '$1,234.56', '¥1,235', 'CHF 1,234.56' (PLACES: decimals other than usual)."""
    places = (0 if currency in NO_DECIMALS else 2) if places is None else places
    amount = Decimal(str(value or 0)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "−" if amount < 0 else ""
    text = f"{abs(amount):,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{currency} {text}"


def duration(seconds):
    """Write seconds as '42s', '3m 05s' or '1h 02m'."""
    seconds = round(float(seconds or 0))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,}h {minutes:02d}m"


def clock(seconds):
    """Write seconds as a clock: '3:05', or '1:02:09' from an hour on."""
    seconds = int(seconds or 0)
    if seconds < 3600:
        return "%d:%02d" % divmod(seconds, 60)
    return f"{seconds // 3600:,}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def percent(fraction, places=1):
    """Write a fraction as a percentage: 0.1234 -> '12.3 %'."""
    return f"{float(fraction or 0) * 100:,.{places}f} %"


def figure(name, value, currency):
    """Write the value of metric NAME the way its kind reads best."""
    kind = METRICS[name][1]
    if value is None:
        return "—"
    if kind == "count":
        return count(value)
    if kind == "money":
        return money(value, currency)
    if kind == "duration":
        return duration(value)
    if kind == "percent":
        return percent(value)
    return f"{float(value):,.2f}"


def axis(name, value, currency):
    """Write a round value of the chart's axis without the decimals it does not need: '$200', '10 %'."""
    kind = METRICS[name][1]
    if kind == "money" and float(value).is_integer():
        return money(value, currency, places=0)
    if kind == "percent" and round(float(value) * 100, 9).is_integer():
        return percent(value, places=0)
    if kind == "ratio":
        return f"{float(value):,g}"
    return figure(name, value, currency)


def changes(stats, comparing=True):
    """Return {metric: change(…)} of the figures in STATS, each told whether the comparison period had sessions."""
    nothing_before = bool(stats["sessions"].value) and not stats["sessions"].previous
    return {name: change(name, metric, comparing, nothing_before) for name, metric in stats.items()}


def change(name, metric, comparing=True, nothing_before=False):
    """Return (text, tone, description) of a metric's change against the comparison period.

    tone is 'good', 'bad' or 'flat' (for the colour); description is for screen readers and the tooltip.
    NOTHING_BEFORE: the comparison period has no sessions, so every figure that has a value now says so.
    """
    if not comparing:
        return "", "flat", ""
    if metric.change is None:
        if _nothing(metric.previous) and (metric.value is None or (_nothing(metric.value) and not nothing_before)):
            return "", "flat", ""
        if _nothing(metric.previous) and metric.previous is not None and not nothing_before:
            tone = "bad" if name in LOWER_IS_BETTER else "good"
            return "up from 0", tone, "Up from 0 in the comparison period, so there is no percentage to show."
        if _nothing(metric.previous):
            return "no previous data", "flat", "The comparison period had none, so there is no percentage to show."
        return "no data now", "flat", "This period has no data for this figure."
    rate = float(metric.change)
    shown = round(rate * 100, 1)
    if shown == 0:
        return "±0 %", "flat", "Unchanged against the comparison period."
    up = rate > 0
    good = up != (name in LOWER_IS_BETTER)
    text = f"{'▲' if up else '▼'} {abs(shown):,.1f} %"
    return text, "good" if good else "bad", f"{'Up' if up else 'Down'} {abs(shown):,.1f} % against the comparison period."


def _nothing(value):
    return value is None or Decimal(str(value)) == 0


def country(code):
    """Return a country's name from its ISO 3166-1 alpha-2 code, or the code itself when unknown."""
    if not code:
        return NONE
    found = pycountry.countries.get(alpha_2=str(code).upper())
    if found is None:
        return UNLISTED_COUNTRIES.get(str(code).upper(), str(code))
    return getattr(found, "common_name", None) or found.name


def dimension_value(dimension, value):
    """Return how a breakdown value reads in a table or chip."""
    if value is None or value == "":
        return NONE
    if dimension == "country":
        name = country(value)
        return f"{name} ({value})" if name != value else value
    if dimension == "customer_type":
        return {"new": "New", "returning": "Returning"}.get(value, value)
    if dimension in ("channel", "device") and value == "unknown":
        return "(unknown)"  # the importer's word for a value it could not tell, as the session pages write it
    return str(value)


def day(value):
    """Write a date like 'Mon 3 Mar 2025'."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def span(start, end):
    """Write a range of days: '3 Mar – 9 Mar 2025', or one day."""
    if start == end:
        return day(start)
    left = f"{start.day} {start:%b}" + ("" if start.year == end.year else f" {start.year}")
    return f"{left} – {end.day} {end:%b %Y}"


def moment(value, interval, short=False):
    """Write a point of a series: 'Mon 3 Mar 14:00', 'Week of 3 Mar 2025', 'March 2025'; SHORT for the axis."""
    if interval == "hour":
        return f"{value:%H:00}" if short else f"{value:%a} {value.day} {value:%b %H:00}{_repeated_hour(value)}"
    if interval == "month":
        return f"{value:%b %Y}" if short else f"{value:%B %Y}"
    if short:
        return f"{value.day} {value:%b}"
    if interval == "week":
        return f"Week of {value.day} {value:%b %Y}"
    return f"{value:%a} {value.day} {value:%b %Y}"


def zone_name():
    """Return the name of the reporting time zone, which labels the times the pages show: 'UTC', 'Europe/Berlin'."""
    return localtime.reporting_zone()[0]


def local_time(value, pattern="%Y-%m-%d %H:%M:%S"):
    """Write a stored (naive UTC) time in the reporting zone, a repeated hour marked 'CEST' or 'CET'; '—' for none."""
    if value is None:
        return "—"
    shown = localtime.local_time(value, localtime.reporting_zone()[1])
    return f"{shown:{pattern}}{_repeated_hour(shown)}"


def _repeated_hour(value):
    """Return ' PDT' (the zone's name) for an hour the clocks go through twice when summer time ends, else ''."""
    tz = localtime.reporting_zone()[1]
    wall = value.replace(tzinfo=None)
    if wall.replace(tzinfo=tz, fold=0).utcoffset() == wall.replace(tzinfo=tz, fold=1).utcoffset():
        return ""
    return " " + value.astimezone(tz).strftime("%Z")
