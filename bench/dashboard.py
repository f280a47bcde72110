"""Server time of the whole 12-month dashboard through the real app, against the raw-SQL path, on both databases.

    python bench/dashboard.py [--sessions 1000000] [--days 365] [--databases sqlite,postgresql] [--requests 20]

Per database: a fresh database (a temporary SQLite file; a new PostgreSQL database next to TEST_DATABASE_URL),
migrated, loaded with `manage.py demo`'s bulk loader, then for each filter case the median of REQUESTS
requests of the dashboard page `/` (every KPI with its previous period, the daily trend, every breakdown's top
10) by a signed-in user, through the WSGI app; and of the same figures through the API with a read token
(/api/v1/stats, /api/v1/timeseries, /api/v1/breakdown/DIMENSION for the nine dimensions: eleven requests).
The raw-SQL path computes the same figures straight from customer_sessions (analytics/raw.py) in the same
run. Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import webtest  # noqa: E402

from analyzer.accounts import tokens, users  # noqa: E402
from analyzer.analytics import raw  # noqa: E402
from analyzer.analytics.query import DIMENSIONS  # noqa: E402
from analyzer.config import Settings  # noqa: E402
from analyzer.ingest import demo_bulk  # noqa: E402
from analyzer.migrate import MIGRATIONS_DIR, commands  # noqa: E402
from analyzer.web import create_app, params  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CASES = {"no filter": {}, "one filter": {"channel": "paid search"},
         "two filters": {"channel": "paid search", "country": "DE"},
         "many-valued filter": {"source": "google"}, "many-valued and another": {"source": "google", "country": "DE"}}
PASSWORD = "seven long horses 7 graze quietly"
TARGETS_MS = {1_000_000: (150, 300), 10_000_000: (400, 1500)}


def main():
    """Parse the options, run every database, print the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--raw-runs", type=int, default=1, help="runs of the (slow) raw-SQL path per case")
    options = parser.parse_args()
    results = []
    for name in options.databases.split(","):
        with database(name.strip()) as url:
            results += run(name.strip(), url, options)
    print(json.dumps({"sessions": options.sessions, "days": options.days, "requests": options.requests,
                      "figures": results}, indent=2))


def run(name, url, options):
    """Load the demo data into URL and time every case; return the figures."""
    settings = Settings(app_env="test", database_url=url, secret_key="bench")
    ctx = commands.Context(settings=settings, directory=MIGRATIONS_DIR, out=lambda *_: None)
    commands.run(ctx)
    ctx.close()
    app = create_app(settings)
    db = app.config["analyzer.db"]
    with db.connection_context():
        loaded = demo_bulk.load(db, options.sessions, options.days, seed=11)
        user = users.create("bench@example.com", PASSWORD, "analyst", cheap=True)
        token = tokens.create(user, "read")[0]
        rows = db.execute_sql("SELECT COUNT(*) FROM customer_sessions").fetchone()[0]
    client = webtest.TestApp(app)
    headers = {"Authorization": f"Bearer {token}"}
    form = client.get("/login").forms[0]
    form["email"], form["password"] = "bench@example.com", PASSWORD
    form.submit(status=303)
    figures = []
    for case, filters in CASES.items():
        query = {"period": "12mo", **filters}
        page(client, query), dashboard(client, headers, query)  # warm the caches once, as a running server has them
        page_ms = [page(client, query) for _ in range(options.requests)]
        app_ms = [dashboard(client, headers, query) for _ in range(options.requests)]
        with db.connection_context():
            parsed = params.parse_query(query)
            raw_ms = [raw_dashboard(parsed) for _ in range(options.raw_runs)]
        target = TARGETS_MS.get(options.sessions, (None, None))[0 if not filters else 1]
        median = statistics.median(page_ms)
        figures.append({"database": name, "rows": rows, "case": case, "filters": filters,
                        "median_ms": round(median, 1), "p90_ms": round(sorted(page_ms)[int(0.9 * len(page_ms))], 1),
                        "api_median_ms": round(statistics.median(app_ms), 1),
                        "raw_sql_median_ms": round(statistics.median(raw_ms), 1), "raw_runs": options.raw_runs,
                        "raw_to_app_ratio": round(statistics.median(raw_ms) / median, 1),
                        "target_ms": target, "met": target is None or median < target,
                        "demo_load_s": round(loaded.seconds, 1)})
    db.close()
    return figures


def page(client, query):
    """Request the dashboard page once; return the milliseconds."""
    started = time.perf_counter()
    client.get("/", query, status=200)
    return (time.perf_counter() - started) * 1000


def dashboard(client, headers, query):
    """Request every figure of the dashboard once through the API; return the milliseconds."""
    started = time.perf_counter()
    client.get("/api/v1/stats", query, headers=headers)
    client.get("/api/v1/timeseries", {**query, "metric": "sessions", "interval": "day"}, headers=headers)
    for dimension in DIMENSIONS:
        client.get(f"/api/v1/breakdown/{dimension}", {**query, "limit": "10"}, headers=headers)
    return (time.perf_counter() - started) * 1000


def raw_dashboard(query):
    """Compute the same figures from the rows only; return the milliseconds."""
    started = time.perf_counter()
    raw.totals(query), raw.totals(query.previous())
    raw.series(query, "day"), raw.series(query.previous(), "day")
    for dimension in DIMENSIONS:
        raw.rows(query, dimension)
    return (time.perf_counter() - started) * 1000


class database:
    """A fresh database of one kind for the run, removed afterwards."""

    def __init__(self, kind):
        self.kind = kind

    def __enter__(self):
        if self.kind == "sqlite":
            self.folder = tempfile.TemporaryDirectory(prefix="bench-dashboard-")
            return f"sqlite:///{self.folder.name}/bench.db"
        self.name = f"bench_dashboard_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{self.name}"')
        return urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{self.name}"))

    def __exit__(self, *_):
        if self.kind == "sqlite":
            self.folder.cleanup()
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, statement):
        connection = psycopg2.connect(PG_ADMIN_URL)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
        connection.close()


if __name__ == "__main__":
    main()
