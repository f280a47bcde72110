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
    postgres = store.is_postgres(db)
    with db.atomic():
        record = Import.create(file_name=f"demo: {sessions:,} sessions over {days} days (seed {seed})"[:255],
                               checksum=f"demo-{seed}-{sessions}-{days}", kind="sessions", file_format="demo",
                               created_by=created_by, started_at=_now())
        if postgres:
            store.begin_import(db)
        db.execute_sql(STAGE_EVENTS.format(when="TIMESTAMP" if postgres else "TEXT"))
        customers = _Customers(rng)
        events = 0
        with store.indexes_built_after(db, "session_events"):
            with store.indexes_built_after(db, "customer_sessions"):
                # PostgreSQL loads one chunk while the next is drawn.
                writer, cursor = store.Background(postgres), db.connection().cursor()
                try:
                    for first in range(0, sessions, CHUNK):
                        rows, event_rows = _draw(rng, customers, first, min(CHUNK, sessions - first), days, end,
                                                 seed, record.id, "" if postgres else None)
                        _write(db, writer, cursor, "customer_sessions", SESSION_COLUMNS, rows)
                        _write(db, writer, cursor, "demo_events", EVENT_COLUMNS, event_rows)
                        events += len(event_rows)
                finally:
                    writer.wait()
                    cursor.close()
            db.execute_sql(INSERT_EVENTS)
        db.execute_sql("DROP TABLE demo_events")
        rollups.refresh_rollups(db, (end - dt.timedelta(days=days)).date(), (end - dt.timedelta(seconds=1)).date())
        record.status, record.finished_at = "done", _now()
        record.rows_read = record.sessions_written = sessions
        record.events_written = events
        record.save()
    store.analyze(db, "customer_sessions", "session_events", "imports", "customer_firsts", *rollups.TABLES)
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


def _draw(rng, customers, first, count, days, end, seed, import_id, null):
    """Return the session rows and event rows of sessions FIRST to FIRST + COUNT, as text (NULL as NULL)."""
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

    origin = end - dt.timedelta(days=days)
    start = np.datetime64(origin, "s") + (day * 86400 + second).astype("timedelta64[s]")
    pages = _texts(PRODUCTS + LANDINGS)
    landing_page = _texts(LANDINGS)[landing]
    # A session's path: its landing page, EXTRA pages, then the cart's product, checkout and thank-you page.
    exit_page = np.where(purchase, "/checkout/thank-you", np.where(
        checkout, "/checkout", np.where(cart, _texts(PRODUCTS)[cart_page], np.where(
            extra > 0, pages[(last_extra + 5 * (extra - 1)) % len(pages)], landing_page))))
    names = [values.channel(None, source, medium, referrer) for _, source, medium, referrer in CHANNELS]
    revenue_text = np.char.mod("%.2f", revenue)
    columns = [
        [f"demo-{seed}-{n:08d}" for n in range(first, first + count)],
        [f"cust-{seed}-{n:07d}" for n in (number + 1).tolist()],
        _timestamps(start), _timestamps(start + duration.astype("timedelta64[s]")), duration.astype(str).tolist(),
        _texts(names)[channel].tolist(), _texts([c[1] or null for c in CHANNELS])[channel].tolist(),
        _texts([c[2] or null for c in CHANNELS])[channel].tolist(), [null] * count,
        _texts([d[1] for d in DEVICES])[device].tolist(), _texts([c[1] for c in COUNTRIES])[country].tolist(),
        landing_page.tolist(), exit_page.tolist(), (1 + extra).astype(str).tolist(), steps.astype(str).tolist(),
        np.where(purchase, "1", "0").tolist(), revenue_text.tolist(), [str(import_id)] * count,
    ]
    rows = list(zip(*columns))

    events = []
    for i in range(-first % EVENT_SHARE, count, EVENT_SHARE):
        key, customer, when = rows[i][0], rows[i][1], origin + dt.timedelta(days=int(day[i]), seconds=int(second[i]))
        _, source, medium, _ = CHANNELS[channel[i]]
        path = [LANDINGS[landing[i]]] + [pages[(last_extra[i] + 5 * k) % len(pages)] for k in range(extra[i])]
        kinds = ["page_view"] * len(path)
        for kind, page, taken in (("add_to_cart", PRODUCTS[cart_page[i]], cart[i]),
                                  ("begin_checkout", "/checkout", checkout[i]),
                                  ("purchase", "/checkout/thank-you", purchase[i])):
            if taken:
                kinds.append(kind)
                path.append(page)
        for step, (kind, page) in enumerate(zip(kinds, path)):
            events.append((key, customer, str(when), kind, page, revenue_text[i] if kind == "purchase" else "0.00",
                           key, names[channel[i]], source or null, medium or null, rows[i][9], rows[i][10]))
            when += dt.timedelta(seconds=int(gaps[i, step]))
    return rows, events


def _texts(items):
    return np.array(items, dtype=object)


def _timestamps(values):
    """Return datetime64 VALUES as 'YYYY-MM-DD HH:MM:SS' text, as Peewee writes them."""
    text = np.datetime_as_string(values, unit="s")
    text.view("U1").reshape(len(text), -1)[:, 10] = " "
    return text.tolist()


def _pick(rng, weighted, count):
    weights = np.array([w[0] for w in weighted], dtype=float)
    return rng.choice(len(weighted), size=count, p=weights / weights.sum())


def _write(db, writer, cursor, table, columns, rows):
    """Load ROWS of text into TABLE: on PostgreSQL by COPY on the writer's thread, where NULL is an empty field."""
    if not rows:
        return
    if store.is_postgres(db):
        # The demo's values hold no comma, quote or line break, and an unquoted empty field is NULL.
        writer.submit(store.copy_text, cursor, table, columns, "\n".join(map(",".join, rows)) + "\n")
    else:
        marks = ", ".join("?" * len(columns))
        db.connection().executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
