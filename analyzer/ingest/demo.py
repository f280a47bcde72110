"""Realistic, reproducible demo sessions and events, loaded through the same import path as real files."""

import datetime as dt
import gzip
import json
import random
import tempfile
from pathlib import Path

from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions

CHANNELS = [  # (weight, source, medium, referrer)
    (25, None, None, None),
    (33, "google", "organic", "https://www.google.com/"),
    (4, "bing", "organic", "https://www.bing.com/"),
    (12, "google", "cpc", "https://www.google.com/"),
    (9, "instagram", "social", "https://l.instagram.com/"),
    (3, "facebook", "paid_social", "https://www.facebook.com/"),
    (8, "newsletter", "email", None),
    (6, "blog.example.org", "referral", "https://blog.example.org/best-gear"),
]
DEVICES = [(55, "mobile"), (38, "desktop"), (7, "tablet")]
COUNTRIES = [(34, "US"), (11, "GB"), (12, "DE"), (7, "FR"), (6, "CA"), (4, "NL"), (4, "ES"), (4, "IT"), (4, "AU"),
             (3, "SE"), (3, "JP"), (2, "BR"), (2, "IN"), (2, "PL"), (2, "CH")]
LANDINGS = ["/", "/collections/new", "/collections/sale", "/products/trail-runner", "/products/rain-jacket",
            "/blog/how-to-choose-running-shoes", "/products/wool-socks"]
PRODUCTS = ["/products/trail-runner", "/products/rain-jacket", "/products/wool-socks", "/products/day-pack",
            "/products/water-bottle", "/products/running-cap"]
WEEKDAY = [1.0, 0.97, 0.95, 0.98, 1.05, 1.25, 1.2]
HOURS = [0.2, 0.12, 0.08, 0.06, 0.07, 0.12, 0.3, 0.55, 0.8, 0.9, 0.95, 1.0, 1.05, 1.0, 0.95, 0.95, 1.0, 1.1, 1.25,
         1.4, 1.45, 1.3, 0.9, 0.5]


def pick(rng, weighted):
    """Pick one value from [(weight, value…)]."""
    total = sum(w[0] for w in weighted)
    point = rng.uniform(0, total)
    for item in weighted:
        point -= item[0]
        if point <= 0:
            return item[1:] if len(item) > 2 else item[1]
    return weighted[-1][1:] if len(weighted[-1]) > 2 else weighted[-1][1]


def events(sessions=5000, days=90, seed=7, today=None):
    """Yield event dicts for SESSIONS sessions over the last DAYS days, the same for the same seed."""
    rng = random.Random(seed)
    end = dt.datetime.combine(today or dt.date.today(), dt.time())
    day_weights = [WEEKDAY[(end - dt.timedelta(days=d)).weekday()] * (1 + 0.004 * (days - d)) for d in range(days, 0, -1)]
    customers = []
    for number in range(sessions):
        day = rng.choices(range(days), weights=day_weights)[0]
        hour = rng.choices(range(24), weights=HOURS)[0]
        start = end - dt.timedelta(days=days - day) + dt.timedelta(hours=hour, seconds=rng.randrange(3600))
        if customers and rng.random() < 0.28:
            customer, country, device = rng.choice(customers)
        else:
            customer = f"cust-{seed}-{len(customers) + 1:06d}"
            country, device = pick(rng, COUNTRIES), pick(rng, DEVICES)
            customers.append((customer, country, device))
        source, medium, referrer = pick(rng, CHANNELS)
        yield from _session(rng, f"demo-{seed}-{number:07d}", customer, start, country, device, source, medium, referrer)


def load(db, sessions=5000, days=90, seed=7, created_by="demo"):
    """Generate the demo data and import it; return the import Report."""
    with tempfile.TemporaryDirectory(prefix="analyzer-demo-") as folder:
        path = Path(folder) / f"demo-events-seed{seed}.ndjson.gz"
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            for event in events(sessions, days, seed):
                handle.write(json.dumps(event) + "\n")
        return importer.import_file(db, path, ImportOptions(kind="events", created_by=created_by))


def _session(rng, session_id, customer, start, country, device, source, medium, referrer):
    base = {"user_id": customer, "session_id": session_id, "utm_source": source, "utm_medium": medium,
            "referrer": referrer, "device": device, "country": country}
    when = start
    page = rng.choice(LANDINGS)
    steps = [("page_view", page, 0)]
    if rng.random() > 0.42 + (0.08 if device == "mobile" else 0):
        for _ in range(rng.randint(1, 7)):
            steps.append(("page_view", rng.choice(PRODUCTS + LANDINGS), 0))
        intent = 2.2 if medium in ("email", "cpc") else 1.0
        if rng.random() < 0.16 * intent:
            steps.append(("add_to_cart", rng.choice(PRODUCTS), 0))
            if rng.random() < 0.45:
                steps.append(("begin_checkout", "/checkout", 0))
                if rng.random() < 0.55:
                    steps.append(("purchase", "/checkout/thank-you", round(rng.lognormvariate(4.0, 0.55), 2)))
    for event_type, path, value in steps:
        yield {**base, "event_type": event_type, "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "page": path,
               "revenue": value}
        when += dt.timedelta(seconds=rng.randint(8, 150))
