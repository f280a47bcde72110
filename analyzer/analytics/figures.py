"""The sums every figure is made of, and the metrics derived from them."""

from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass
class Totals:
    """Additive sums over a set of sessions, plus their unique customers (exact, or estimated from sketches)."""

    sessions: int = 0
    bounces: int = 0
    conversions: int = 0
    revenue: Decimal = ZERO
    page_views: int = 0
    duration_s: int = 0
    new_customers: int = 0
    customers: int = 0
    approximate: bool = False

    def add(self, other):
        """Add the additive sums of OTHER (not the customers, which do not add up)."""
        self.sessions += other.sessions
        self.bounces += other.bounces
        self.conversions += other.conversions
        self.revenue += other.revenue
        self.page_views += other.page_views
        self.duration_s += other.duration_s
        self.new_customers += other.new_customers


def value(totals, metric, cents=True):
    """Return METRIC of TOTALS: a count, a fraction, seconds, or money as Decimal (to the cent with CENTS)."""
    sessions = totals.sessions
    rounded = (lambda amount: amount.quantize(CENT)) if cents else (lambda amount: amount)
    if metric in ("sessions", "customers", "new_customers", "conversions"):
        return getattr(totals, metric)
    if metric == "revenue":
        return rounded(totals.revenue)
    if metric == "avg_order_value":
        return rounded(totals.revenue / totals.conversions) if totals.conversions else None
    if not sessions:
        return None
    if metric == "revenue_per_session":
        return rounded(totals.revenue / sessions)
    return {"avg_duration_s": totals.duration_s, "pages_per_session": totals.page_views,
            "bounce_rate": totals.bounces, "conversion_rate": totals.conversions}[metric] / sessions


def change(current, previous):
    """Return the relative change from PREVIOUS to CURRENT, or None when PREVIOUS is zero or missing."""
    if current is None or not previous:
        return None
    return float((current - previous) / previous)


def money(cents_or_amount):
    """Return a sum read from either database as Decimal cents."""
    if cents_or_amount is None:
        return ZERO
    if isinstance(cents_or_amount, int):
        return (Decimal(cents_or_amount) / 100).quantize(CENT)
    return Decimal(str(cents_or_amount)).quantize(CENT)
