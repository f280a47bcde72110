"""Import speed against the database's own bulk load, events sessionized per second, and peak memory.

    python bench/ingest_speed.py [--sessions 1000000] [--events 5000000] [--databases sqlite,postgresql]

For each database: the same 1M-session CSV loaded by the database's own bulk path (PostgreSQL COPY via
psycopg2; SQLite executemany in one transaction, same indexes) and by `import`, in the same run, with
the ratio; a 5M-event file sessionized and imported (events/s); and the peak memory (max RSS) of the
import process for 1M and for 5M rows. Prints one JSON object.
"""

import argparse
import csv
import datetime as dt
import json
import os
import shutil
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

from analyzer.ingest.export import COLUMNS  # noqa: E402

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHANNELS = ["direct", "organic search", "paid search", "social", "email", "referral"]
DEVICES = ["desktop", "mobile", "tablet"]
COUNTRIES = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "CA"]


def write_sessions(path, count):
    """Write COUNT sessions in our export format."""
    start = dt.datetime(2026, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(COLUMNS)
        for i in range(count):
            began = start + dt.timedelta(seconds=i * 7)
            out.writerow([f"s{i}", f"c{i % 300000}", began.isoformat(" "), (began + dt.timedelta(seconds=95)).isoformat(" "),
                          95, CHANNELS[i % 6], "google", "cpc", f"camp{i % 40}", DEVICES[i % 3], COUNTRIES[i % 8],
                          "/landing", "/exit", 1 + i % 9, 2 + i % 15, "true" if i % 37 == 0 else "false",
                          "49.90" if i % 37 == 0 else "0"])


def write_events(path, count):
    """Write COUNT page-view events of ~ COUNT/5 customers, in time order."""
    start = dt.datetime(2026, 1, 1)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["user_id", "timestamp", "event", "page", "utm_source", "utm_medium"])
        for i in range(count):
            out.writerow([f"u{i % (count // 5 or 1)}", (start + dt.timedelta(seconds=i // 3)).isoformat(" "),
                          "page_view", f"/p{i % 50}", "google", "organic"])


def fresh_database(kind, folder):
    """Return (url, cleanup) of an empty, migrated database."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        cleanup = lambda: None  # noqa: E731
    else:
        name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(ADMIN_URL)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))

        def cleanup():
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    cli(url, "migrate", "run")
    return url, cleanup


def cli(url, *args):
    """Run manage.py in a child process and return its wall time."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def measured(url, *args):
    """Run one import in a fresh child and return (seconds, its peak RSS in MB)."""
    code = ("import resource, sys; "
            "import manage; rc = manage.main(sys.argv[1:]); "
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed: {done.stderr[-2000:]}")
    rss = int(done.stdout.rsplit("MAXRSS", 1)[1].split()[0]) / 1024
    return seconds, round(rss, 1)


def native_load(kind, url, path):
    """Load the CSV with the database's own bulk path; return seconds."""
    names = ", ".join(COLUMNS) + ", import_id"
    started = time.perf_counter()
    if kind == "postgresql":
        with psycopg2.connect(url) as conn, conn.cursor() as cur, open(path, encoding="utf-8") as handle:
            cur.copy_expert(f"COPY customer_sessions ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER true)",
                            handle)
        conn.close()
    else:
        import sqlite3

        conn = sqlite3.connect(url.split(":///", 1)[1])
        with open(path, encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            marks = ", ".join("?" * (len(COLUMNS) + 1))
            with conn:
                conn.executemany(f"INSERT INTO customer_sessions ({names}) VALUES ({marks})",
                                 (row + [None] for row in reader))
        conn.close()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    figures = {"sessions": args.sessions, "events": args.events}
    try:
        sessions_csv, big_csv, events_csv = folder / "sessions.csv", folder / "sessions_5x.csv", folder / "events.csv"
        write_sessions(sessions_csv, args.sessions)
        write_sessions(big_csv, args.sessions * 5)
        write_events(events_csv, args.events)
        for kind in args.databases.split(","):
            result = {}
            url, cleanup = fresh_database(kind, folder)
            try:
                result["native_bulk_load_s"] = round(native_load(kind, url, sessions_csv), 2)
            finally:
                cleanup()
            url, cleanup = fresh_database(kind, folder)
            try:
                seconds, rss = measured(url, "import", str(sessions_csv))
                result["import_s"] = round(seconds, 2)
                result["import_rows_per_s"] = round(args.sessions / seconds)
                result["ratio_import_to_native_speed"] = round(result["native_bulk_load_s"] / seconds, 2)
                result["peak_rss_mb_1x"] = rss
            finally:
                cleanup()
            url, cleanup = fresh_database(kind, folder)
            try:
                seconds, rss = measured(url, "import", str(big_csv))
                result["peak_rss_mb_5x"] = rss
                result["import_5x_rows_per_s"] = round(args.sessions * 5 / seconds)
                result["peak_rss_5x_over_1x"] = round(rss / result["peak_rss_mb_1x"], 2)
            finally:
                cleanup()
            url, cleanup = fresh_database(kind, folder)
            try:
                seconds, rss = measured(url, "import", str(events_csv))
                result["events_import_s"] = round(seconds, 2)
                result["events_per_s"] = round(args.events / seconds)
                result["events_peak_rss_mb"] = rss
            finally:
                cleanup()
            figures[kind] = result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
