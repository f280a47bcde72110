"""Millions of demo sessions in minutes: drawn with numpy, written straight to the tables as one import.

The mixes are those of demo.py (weekly and daily seasonality, channels, devices, countries, returning customers,
a landing -> product -> cart -> checkout -> purchase funnel). Every session is written; the events of one
session in EVENT_SHARE are written too, so funnels and timelines have data without tens of millions of rows.
"""

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np

from analyzer.ingest import rollups, store, values
from analyzer.ingest.demo import CHANNELS, COUNTRIES, DEVICES, HOURS, LANDINGS, PRODUCTS, WEEKDAY
from analyzer.models import Import

CHUNK = 250_000
EVENT_SHARE = 20  # events for one session in 20
SESSION_COLUMNS = ("session_key", "customer_id", "started_at", "ended_at", "duration_s", "channel", "source", "medium",
                   "campaign", "device", "country", "landing_page", "exit_page", "page_views", "events", "converted",
                   "revenue", "import_id")
EVENT_COLUMNS = ("session_key", "customer_id", "occurred_at", "event_type", "page", "revenue", "file_session",
                 "channel", "source", "medium", "device", "country")
STAGE_EVENTS = ("CREATE TEMP TABLE demo_events (session_key VARCHAR(128), customer_id VARCHAR(128), occurred_at {when},"
                " event_type VARCHAR(64), page TEXT, revenue NUMERIC(14, 2), file_session VARCHAR(64),"
                " channel VARCHAR(32), source VARCHAR(255), medium VARCHAR(255), device VARCHAR(16), country VARCHAR(2))")
INSERT_EVENTS = """
INSERT INTO session_events (session_id, customer_id, occurred_at, event_type, page, revenue, import_id, file_session,
                            channel, source, medium, device, country)
SELECT s.id, e.customer_id, e.occurred_at, e.event_type, e.page, e.revenue, s.import_id, e.file_session,
       e.channel, e.source, e.medium, e.device, e.country
FROM demo_events e
JOIN customer_sessions s ON s.session_key = e.session_key
"""


@dataclass
class Loaded:
    """What a bulk demo load wrote."""

    import_id: int
    sessions: int
    events: int
    seconds: float


def load(db, sessions, days, seed=7, created_by="demo", today=None):
    """Write SESSIONS demo sessions over the last DAYS days as one import (undo removes them); return Loaded."""
    started = time.perf_counter()
    end = dt.datetime.combine(today or dt.date.today(), dt.time())
    rng = np.random.default_rng(seed)
    with db.atomic():
        record = Import.create(file_name=f"demo: {sessions:,} sessions over {days} days (seed {seed})"[:255],
                               checksum=f"demo-{seed}-{sessions}-{days}", kind="sessions", file_format="demo",
                               created_by=created_by, started_at=_now())
        db.execute_sql(STAGE_EVENTS.format(when="TIMESTAMP" if store.is_postgres(db) else "TEXT"))
        customers = _Customers(rng)
        events = 0
        for first in range(0, sessions, CHUNK):
            rows, event_rows = _draw(rng, customers, first, min(CHUNK, sessions - first), days, end, seed, record.id)
            _write(db, "customer_sessions", SESSION_COLUMNS, rows)
            _write(db, "demo_events", EVENT_COLUMNS, event_rows)
            events += len(event_rows)
        db.execute_sql(INSERT_EVENTS)
        db.execute_sql("DROP TABLE demo_events")
        rollups.refresh_rollups(db, (end - dt.timedelta(days=days)).date(), (end - dt.timedelta(seconds=1)).date())
        record.status, record.finished_at = "done", _now()
        record.rows_read = record.sessions_written = sessions
        record.events_written = events
        record.save()
    store.analyze(db, "customer_sessions", "session_events", "imports")
    return Loaded(record.id, sessions, events, time.perf_counter() - started)


class _Customers:
    """The customers drawn so far, with the country and device each keeps."""

    def __init__(self, rng):
        self.country = np.empty(0, dtype=np.int64)
        self.device = np.empty(0, dtype=np.int64)
        self.rng = rng

    def assign(self, count):
        """Return the customer number of COUNT new sessions: about 28 % come from an earlier customer."""
        rng = self.rng
        returning = rng.random(count) < 0.28
        known = len(self.country)
        if known == 0:
            returning[0] = False
        new_numbers = known + np.cumsum(~returning) - 1
        before = known + np.cumsum(~returning) - (~returning)  # customers that exist before each session
        picked = (rng.random(count) * np.maximum(before, 1)).astype(np.int64)
        numbers = np.where(returning, picked, new_numbers)
        added = int((~returning).sum())
        self.country = np.concatenate([self.country, _pick(rng, COUNTRIES, added)])
        self.device = np.concatenate([self.device, _pick(rng, DEVICES, added)])
        return numbers


def _draw(rng, customers, first, count, days, end, seed, import_id):
    """Return the session rows and event rows of sessions FIRST to FIRST + COUNT."""
    weights = np.array([WEEKDAY[(end - dt.timedelta(days=d)).weekday()] * (1 + 0.004 * (days - d))
                        for d in range(days, 0, -1)])
    day = rng.choice(days, size=count, p=weights / weights.sum())
    second = rng.choice(24, size=count, p=np.array(HOURS) / sum(HOURS)) * 3600 + rng.integers(0, 3600, count)
    number = customers.assign(count)
    device = customers.device[number]
    country = customers.country[number]
    channel = _pick(rng, CHANNELS, count)
    landing = rng.integers(0, len(LANDINGS), count)
    engaged = rng.random(count) > 0.42 + 0.08 * (device == 0)
    extra = np.where(engaged, rng.integers(1, 8, count), 0)
    intent = np.where(np.isin(channel, [3, 6]), 2.2, 1.0)  # cpc and email buy more
    cart = engaged & (rng.random(count) < 0.16 * intent)
    checkout = cart & (rng.random(count) < 0.45)
    purchase = checkout & (rng.random(count) < 0.55)
    revenue = np.where(purchase, np.round(rng.lognormal(4.0, 0.55, count), 2), 0.0)
    steps = 1 + extra + cart + checkout + purchase
    gaps = rng.integers(8, 151, (count, 11))
    duration = np.where(np.arange(11) < (steps - 1)[:, None], gaps, 0).sum(axis=1)
    last_extra = rng.integers(0, len(PRODUCTS) + len(LANDINGS), count)
    cart_page = rng.integers(0, len(PRODUCTS), count)
    names = [values.channel(None, source, medium, referrer) for _, source, medium, referrer in CHANNELS]
    origin = end - dt.timedelta(days=days)
    rows, events = [], []
    pages = PRODUCTS + LANDINGS
    for i in range(count):
        key = f"demo-{seed}-{first + i:08d}"
        customer = f"cust-{seed}-{number[i] + 1:07d}"
        start = origin + dt.timedelta(days=int(day[i]), seconds=int(second[i]))
        _, source, medium, _ = CHANNELS[channel[i]]
        path = [LANDINGS[landing[i]]] + [pages[(last_extra[i] + 5 * k) % len(pages)] for k in range(extra[i])]
        if cart[i]:
            path.append(PRODUCTS[cart_page[i]])
        if checkout[i]:
            path.append("/checkout")
        if purchase[i]:
            path.append("/checkout/thank-you")
        dev, land = DEVICES[device[i]][1], COUNTRIES[country[i]][1]
        rows.append((key, customer, start, start + dt.timedelta(seconds=int(duration[i])), int(duration[i]),
                     names[channel[i]], source, medium, None, dev, land, path[0], path[-1], 1 + int(extra[i]),
                     int(steps[i]), bool(purchase[i]), f"{revenue[i]:.2f}", import_id))
        if (first + i) % EVENT_SHARE == 0:
            kinds = ["page_view"] * (1 + int(extra[i])) + ["add_to_cart"] * int(cart[i]) + [
                "begin_checkout"] * int(checkout[i]) + ["purchase"] * int(purchase[i])
            when = start
            for step, (kind, page) in enumerate(zip(kinds, path)):
                events.append((key, customer, when, kind, page, f"{revenue[i]:.2f}" if kind == "purchase" else "0.00",
                               key, names[channel[i]], source, medium, dev, land))
                when += dt.timedelta(seconds=int(gaps[i, step]))
    return rows, events


def _pick(rng, weighted, count):
    weights = np.array([w[0] for w in weighted], dtype=float)
    return rng.choice(len(weighted), size=count, p=weights / weights.sum())


def _write(db, table, columns, rows):
    if not rows:
        return
    if store.is_postgres(db):
        cursor = db.connection().cursor()
        store.copy_text(cursor, table, columns, store.csv_text(rows))
        cursor.close()
    else:
        marks = ", ".join("?" * len(columns))
        db.connection().executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
