"""Explorer, session and customer pages, funnels, cohorts and the streamed CSV, timed on a large data set.

    python bench/explore.py [--sessions 1000000] [--events-per-session 5] [--databases sqlite,postgresql] [--repeat 9]
                            [--export-only]

Per database, in its own scratch database or file: the schema from the migrations, SESSIONS sessions over the
12 months before today with EVENTS_PER_SESSION events each, written by the database itself (a generated series,
not the importer: the importer's speed is bench/ingest_speed.py's), then the rollups rebuilt and, on PostgreSQL,
ANALYZE run (as the importer does; SQLite gets no statistics in the app either).
Server time through the real WSGI app, median of REPEAT requests: the explorer's first and 1,000th page with one
filter, a session page, a customer page, a 5-step funnel over 30 days and over 12 months, monthly cohorts over
12 months; and /export.csv of every session streamed in a child process: time to the first byte, rows/s and
the child's peak memory. --export-only skips the rollups and the pages and times the export alone (for 10M
sessions). Prints one JSON object and cleans up.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHANNELS = ["direct", "organic search", "paid search", "social", "email", "referral"]
DEVICES = ["mobile", "desktop", "tablet"]
COUNTRIES = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "CA"]
PAGES = ["/", "/products/trail-runner", "/products/rain-jacket", "/collections/sale", "/blog/how-to"]
FUNNEL = "step=event:page_view&step=page:/products/*&step=event:add_to_cart&step=event:begin_checkout&step=event:purchase"

# One row per session: every value derives from the session number n, spread over the 12 months before today.
PG_SESSIONS = """INSERT INTO customer_sessions (session_key, customer_id, started_at, ended_at, duration_s, channel,
  source, medium, campaign, device, country, landing_page, exit_page, page_views, events, converted, revenue)
SELECT 'b' || n, 'c' || (n::bigint * 7919 %% %(customers)s), start, start + INTERVAL '150 seconds', 150,
  (%(channels)s)[1 + n %% 6], 'google', 'cpc', NULL, (%(devices)s)[1 + n %% 3], (%(countries)s)[1 + n %% 8],
  (%(pages)s)[1 + n %% 5], '/checkout', 3, %(per)s, n %% 5 = 0, CASE WHEN n %% 5 = 0 THEN 49.90 ELSE 0 END
FROM (SELECT n, now()::date - INTERVAL '365 days' + (n * (365 * 86400.0 / %(sessions)s)) * INTERVAL '1 second' AS start
      FROM generate_series(1, %(sessions)s) AS n) AS s"""
PG_EVENTS = """INSERT INTO session_events (session_id, customer_id, occurred_at, event_type, page, revenue)
SELECT s.id, s.customer_id, s.started_at + k * INTERVAL '30 seconds',
  CASE WHEN k = 0 OR k = 1 OR (k = 2 AND s.id %% 3 <> 0) THEN 'page_view' WHEN k = 2 THEN 'add_to_cart'
       WHEN k = 3 AND s.id %% 2 = 0 THEN 'begin_checkout' WHEN k = 4 AND s.id %% 5 = 1 THEN 'purchase' ELSE 'page_view' END,
  CASE WHEN k = 1 THEN (%(pages)s)[1 + s.id %% 5] ELSE s.landing_page END, 0
FROM customer_sessions AS s, generate_series(0, %(per)s - 1) AS k"""
SQLITE_SESSIONS = """WITH RECURSIVE n(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM n WHERE n < :sessions)
INSERT INTO customer_sessions (session_key, customer_id, started_at, ended_at, duration_s, channel, source, medium,
  campaign, device, country, landing_page, exit_page, page_views, events, converted, revenue)
SELECT 'b' || n, 'c' || (n * 7919 % :customers), datetime(:start, '+' || (n * 365 * 86400 / :sessions) || ' seconds'),
  datetime(:start, '+' || (n * 365 * 86400 / :sessions + 150) || ' seconds'), 150,
  json_extract(:channels, '$[' || (n % 6) || ']'), 'google', 'cpc', NULL, json_extract(:devices, '$[' || (n % 3) || ']'),
  json_extract(:countries, '$[' || (n % 8) || ']'), json_extract(:pages, '$[' || (n % 5) || ']'), '/checkout', 3, :per,
  n % 5 = 0, CASE WHEN n % 5 = 0 THEN 49.9 ELSE 0 END
FROM n"""
SQLITE_EVENTS = """WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < :per - 1)
INSERT INTO session_events (session_id, customer_id, occurred_at, event_type, page, revenue)
SELECT s.id, s.customer_id, datetime(s.started_at, '+' || (k * 30) || ' seconds'),
  CASE WHEN k = 0 OR k = 1 OR (k = 2 AND s.id % 3 <> 0) THEN 'page_view' WHEN k = 2 THEN 'add_to_cart'
       WHEN k = 3 AND s.id % 2 = 0 THEN 'begin_checkout' WHEN k = 4 AND s.id % 5 = 1 THEN 'purchase' ELSE 'page_view' END,
  CASE WHEN k = 1 THEN json_extract(:pages, '$[' || (s.id % 5) || ']') ELSE s.landing_page END, 0
FROM customer_sessions AS s, k"""
EXPORT_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[2])
from analyzer.config import Settings
from analyzer.web import create_app
app = create_app(Settings(app_env="test", database_url=sys.argv[1], secret_key="bench"))
cookie = sys.argv[3]
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/export.csv", "QUERY_STRING": "", "SERVER_NAME": "bench",
           "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_COOKIE": "analyzer_session=" + cookie,
           "wsgi.input": sys.stdin.buffer, "wsgi.errors": sys.stderr}
def status(name):  # VmHWM is this process's own peak; ru_maxrss would carry the parent's over exec
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(name + ":"))
before = status("VmRSS")
began = time.perf_counter()
body = app(environ, lambda status, headers, exc_info=None: None)
first = None
lines = 0
for chunk in body:
    if first is None:
        first = time.perf_counter() - began
    lines += chunk.count(b"\\n")
total = time.perf_counter() - began
print(first, total, lines - 1, before, status("VmHWM"))
"""


def load(url, sessions, per, rollups=True):
    """Create the schema, write the data set in the database, rebuild the rollups and analyze PostgreSQL's tables."""
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development"}
    subprocess.run([sys.executable, "manage.py", "migrate", "run"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    values = dict(sessions=sessions, per=per, customers=max(1, sessions * 7 // 10))
    if url.startswith("sqlite"):
        import sqlite3
        con = sqlite3.connect(url.split("///", 1)[1])
        con.execute("PRAGMA journal_mode=wal")
        start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
        lists = {k: json.dumps(v) for k, v in (("channels", CHANNELS), ("devices", DEVICES),
                                                  ("countries", COUNTRIES), ("pages", PAGES))}
        con.execute(SQLITE_SESSIONS, {**values, **lists, "start": start})
        con.execute(SQLITE_EVENTS, {**values, **lists})
        con.commit()  # no ANALYZE: the app never runs it on SQLite, so the pages are timed as users get them
        con.close()
    else:
        con = psycopg2.connect(url)
        with con, con.cursor() as cur:
            lists = dict(channels=CHANNELS, devices=DEVICES, countries=COUNTRIES, pages=PAGES)
            cur.execute(PG_SESSIONS, {**values, **lists})
            cur.execute(PG_EVENTS, {**values, **lists})
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("ANALYZE")
        con.close()
    if not rollups:  # the export reads the sessions alone
        return None
    done = subprocess.run([sys.executable, "manage.py", "rollups", "rebuild"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    return done.returncode == 0


def timed(client, path, headers, repeat):
    """Return the median milliseconds of REPEAT GETs of PATH (after one warm-up)."""
    client.get(path, headers=headers)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(path, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 1)


def measure(url, sessions, per, repeat, export_only=False):
    """Time every page and route of the explore issue (or the export alone) on the database at URL."""
    import webtest

    from analyzer.accounts import tokens, users
    from analyzer.config import Settings
    from analyzer.web import create_app

    began = time.perf_counter()
    rollups = load(url, sessions, per, rollups=not export_only)
    loaded = round(time.perf_counter() - began, 1)
    app = create_app(Settings(app_env="test", database_url=url, secret_key="bench"))
    client = webtest.TestApp(app)
    db = app.config["analyzer.db"]
    with db.connection_context():
        user = users.create("bench@example.com", "a long timing password 1", "analyst", cheap=True)
        token = tokens.create(user, "read", "bench")[0]
        picked = None if export_only else picks(sessions)
    form = client.get("/login").forms[0]
    form["email"], form["password"] = "bench@example.com", "a long timing password 1"
    form.submit()
    cookie = client.cookies["analyzer_session"]
    api = {"Authorization": f"Bearer {token}"}
    figures = {"load_seconds": loaded, "rollups_rebuilt": rollups}
    if not export_only:
        figures.update(pages(client, api, *picked, repeat))
    if not db.is_closed():
        db.close()
    figures.update(export(url, cookie))
    return figures


def picks(sessions):
    """Return the explorer's deep page number, its cursor and the middle session."""
    from analyzer.analytics import explorer
    from analyzer.models import CustomerSession
    from analyzer.web import params

    query = params.parse_query({"period": "all", "channel": "paid search"})
    matched = explorer.matching(query, explorer.Options()).count()
    deep_page = max(2, min(1000, matched // explorer.PAGE_SIZE))
    deep = explorer.ordered(query, explorer.Options()).offset((deep_page - 1) * explorer.PAGE_SIZE - 1).first()
    return deep_page, explorer.make_cursor(deep, explorer.DEFAULT_SORT), CustomerSession.get_by_id(sessions // 2)


def pages(client, api, deep_page, cursor, middle, repeat):
    """Return the median server times of the explorer, detail, funnel and cohort pages."""
    return {
        "explorer_first_page_ms": timed(client, "/sessions?period=all&channel=paid+search", {}, repeat),
        "explorer_deep_page": deep_page,
        "explorer_deep_page_ms": timed(client, f"/sessions?period=all&channel=paid+search&after={cursor}", {}, repeat),
        "explorer_first_page_sorted_by_revenue_ms": timed(
            client, "/sessions?period=all&channel=paid+search&sort=-revenue", {}, repeat),
        "api_sessions_first_page_ms": timed(client, "/api/v1/sessions?period=all&channel=paid+search", api, repeat),
        "session_page_ms": timed(client, f"/sessions/{middle.session_key}", {}, repeat),
        "customer_page_ms": timed(client, f"/customers/{middle.customer_id}", {}, repeat),
        "funnel_5_steps_30_days_ms": timed(client, f"/api/v1/funnel?period=30d&{FUNNEL}", api, repeat),
        "funnel_5_steps_12_months_ms": timed(client, f"/api/v1/funnel?period=12mo&{FUNNEL}", api, max(1, repeat // 3)),
        "monthly_cohorts_12_months_ms": timed(client, "/api/v1/retention?period=12mo&interval=month", api,
                                              max(1, repeat // 3)),
    }


def export(url, cookie):
    """Return the figures of /export.csv of every session, streamed in a child process."""
    child = subprocess.run([sys.executable, "-c", EXPORT_CHILD, url, str(ROOT), cookie], capture_output=True,
                           text=True)
    if child.returncode:
        raise RuntimeError(child.stderr)
    first, total, rows, before, peak = child.stdout.split()
    return dict(export_first_byte_ms=round(float(first) * 1000, 1), export_rows=int(rows),
                export_rows_per_s=round(int(rows) / float(total)), export_seconds=round(float(total), 1),
                export_peak_rss_mb=round(int(peak) / 1024, 1),
                export_rss_growth_mb=round((int(peak) - int(before)) / 1024, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events-per-session", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--export-only", action="store_true", help="time /export.csv alone (for 10M sessions)")
    args = parser.parse_args()
    out = {"sessions": args.sessions, "events": args.sessions * args.events_per_session, "repeat": args.repeat}
    for name in args.databases.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-explore-") as folder:
                out["sqlite"] = measure(f"sqlite:///{folder}/bench.db", args.sessions, args.events_per_session,
                                        args.repeat, args.export_only)
                print(json.dumps({"sqlite": out["sqlite"]}), file=sys.stderr, flush=True)
        else:
            database = f"bench_explore_{uuid.uuid4().hex[:8]}"
            admin = psycopg2.connect(ADMIN_URL)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{database}"')
            try:
                url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{database}"))
                out["postgresql"] = measure(url, args.sessions, args.events_per_session, args.repeat,
                                            args.export_only)
            finally:
                with admin.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                admin.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
