"""Import speed against the database's own bulk load, events sessionized per second, and peak memory.

    python bench/ingest_speed.py [--sessions 1000000] [--events 5000000] [--databases sqlite,postgresql]
    python bench/ingest_speed.py --suite hourly [--hourly-events 1000000] [--before REF] [--repeat 3]

For each database: the same 1M-session CSV loaded by the database's own bulk path (PostgreSQL COPY via
psycopg2; SQLite executemany in one transaction, same indexes) and by `import`, in the same run, with
the ratio; a 5M-event file sessionized and imported (events/s); and the peak memory (max RSS) of the
import process for 1M and for 5M rows. Prints one JSON object.

The hourly suite writes one day of events (sessions of several events, customers coming back, in time
order) as one file and as 24 hourly files that cut the sessions crossing each hour. Per database, in
one run: the one file imported by the code at REF (a git worktree; default: the commit before sessions
were continued across files) and by this checkout, and the 24 files imported one after the other by
this checkout, one process per file (as an hourly job) and all in one `import` command (as a backfill),
each case REPEAT times in turn (one machine's noise moves a single run by 5-10 %), with the
medians and their ratios. Both checkouts are first compiled as railway.toml's build compiles a deploy.
"""

import argparse
import csv
import datetime as dt
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.ingest.export import COLUMNS  # noqa: E402

BEFORE_CONTINUITY = "6871bf6"  # main before imports continued sessions across files
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


def write_day_of_events(folder, count):
    """Write COUNT events of one day as day.csv and as hour-00.csv … hour-23.csv; return (day, hours)."""
    rng = random.Random(11)
    start = dt.datetime(2026, 1, 1)
    events = []
    for number in range(count // 5):
        customer = f"u{number % (count // 25 or 1)}"
        began = start + dt.timedelta(seconds=rng.randrange(86400 - 600))
        for step in range(5):
            when = began + dt.timedelta(seconds=step * rng.randint(20, 120))
            kind = "purchase" if step == 4 and number % 30 == 0 else "page_view"
            events.append((when, customer, kind, f"/p{(number + step) % 50}", "49.90" if kind == "purchase" else ""))
    events.sort()
    header = ["user_id", "timestamp", "event", "page", "revenue", "utm_source", "utm_medium"]
    day = folder / "day.csv"
    hours = [folder / f"hour-{h:02d}.csv" for h in range(24)]
    handles = [open(path, "w", newline="", encoding="utf-8") for path in [day, *hours]]
    try:
        writers = [csv.writer(h, lineterminator="\n") for h in handles]
        for writer in writers:
            writer.writerow(header)
        for when, customer, kind, page, revenue in events:
            row = [customer, when.isoformat(" "), kind, page, revenue, "google", "organic"]
            writers[0].writerow(row)
            writers[1 + when.hour].writerow(row)
    finally:
        for handle in handles:
            handle.close()
    return day, hours


def worktree_of(ref, folder):
    """Check out REF in a temporary git worktree; return its path."""
    path = folder / "before"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), ref], cwd=ROOT, check=True)
    return path


def compile_as_deployed(root):
    """Compile ROOT's modules as railway.toml's build does: a deployed hourly job does not compile them each hour."""
    command = tomllib.loads((ROOT / "railway.toml").read_text())["build"]["buildCommand"]
    subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=root, check=True)


def hourly_suite(args, folder, figures):
    """Time one day of events as one file (before and after) and as 24 hourly files (after), REPEAT times interleaved."""
    day, hours = write_day_of_events(folder, args.hourly_events)
    before = worktree_of(args.before, folder)
    figures.update(hourly_events=args.hourly_events, before=args.before, repeat=args.repeat)
    try:
        for root in (before, ROOT):
            compile_as_deployed(root)
        for kind in args.databases.split(","):
            runs = {"one_file_before_s": [], "one_file_after_s": [], "hourly_24_files_after_s": [],
                    "hourly_24_files_one_command_s": []}
            sessions = {}
            for _ in range(args.repeat):
                for label, root, files in (("one_file_before_s", before, [day]), ("one_file_after_s", ROOT, [day]),
                                           ("hourly_24_files_after_s", ROOT, hours),
                                           ("hourly_24_files_one_command_s", ROOT, None)):
                    url, cleanup = fresh_database(kind, folder, root)
                    try:
                        if files is None:  # one process: `import hour-00.csv … hour-23.csv`
                            seconds = measured(url, "import", *map(str, hours), root=root)[0]
                        else:
                            seconds = sum(measured(url, "import", str(f), root=root)[0] for f in files)
                        runs[label].append(round(seconds, 2))
                        sessions[label.replace("_s", "_sessions")] = count_rows(kind, url, "customer_sessions")
                    finally:
                        cleanup()
            result = {label: statistics.median(times) for label, times in runs.items()}
            result |= {label.replace("_s", "_runs_s"): times for label, times in runs.items()} | sessions
            result["one_file_after_over_before"] = round(result["one_file_after_s"] / result["one_file_before_s"], 3)
            result["hourly_over_one_file"] = round(result["hourly_24_files_after_s"] / result["one_file_after_s"], 3)
            result["hourly_one_command_over_one_file"] = round(
                result["hourly_24_files_one_command_s"] / result["one_file_after_s"], 3)
            figures[kind] = result
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)


def count_rows(kind, url, table):
    """Return the number of rows of TABLE."""
    if kind == "postgresql":
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            count = cur.fetchone()[0]
        conn.close()
        return count
    import sqlite3

    conn = sqlite3.connect(url.split(":///", 1)[1])
    count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    conn.close()
    return count


def fresh_database(kind, folder, root=ROOT):
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
    cli(url, "migrate", "run", root=root)
    if kind == "postgresql":
        # The last case's writes are flushed now, not by a checkpoint in the middle of the next case's import.
        admin.cursor().execute("CHECKPOINT")
    return url, cleanup


def cli(url, *args, root=ROOT):
    """Run manage.py in a child process and return its wall time."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def measured(url, *args, root=ROOT):
    """Run one import in a fresh child and return (seconds, its peak RSS in MB)."""
    code = ("import resource, sys; "
            "import manage; rc = manage.main(sys.argv[1:]); "
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=root, env={**os.environ, "DATABASE_URL": url},
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
    parser.add_argument("--suite", choices=["bulk", "hourly"], default="bulk")
    parser.add_argument("--hourly-events", type=int, default=1_000_000)
    parser.add_argument("--before", default=BEFORE_CONTINUITY)
    parser.add_argument("--repeat", type=int, default=3, help="hourly suite: runs of each case, interleaved (medians)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    if args.suite == "hourly":
        figures = {}
        try:
            hourly_suite(args, folder, figures)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(json.dumps(figures, indent=2))
        return
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
