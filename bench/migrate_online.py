"""Online schema changes on PostgreSQL with a 1,000,000-row customer_sessions: prints JSON figures.

Adds a nullable column and a column with a constant default through `migrate run` (both should be
metadata-only, under 100 ms), then builds an index CONCURRENTLY in a TRANSACTION = False migration
while another connection keeps inserting, and reports the insert latency during the build. Last, it
makes a NOT NULL column with a computed value while writers run 50 inserts/s and 50 updates/s: once
with the helpers (migrator.backfill + migrator.set_not_null, TRANSACTION = False) and once the naive
way (one UPDATE + SET NOT NULL in a transaction), and reports the writers' latency for each. A
writer's latency counts from when it meant to send the statement, so time spent queued behind a
blocked statement is included.

    python bench/migrate_online.py [--rows 1000000]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.config import Settings  # noqa: E402
from analyzer.errors import AppError  # noqa: E402
from analyzer.migrate import commands, history  # noqa: E402

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

MIGRATIONS = {
    "002_add_referrer": ('migrator.add_fields("customer_sessions", referrer=pw.CharField(max_length=255, null=True))',
                         'migrator.remove_fields("customer_sessions", "referrer")', ""),
    "003_add_score": ('migrator.add_fields("customer_sessions", score=pw.IntegerField(default=0))',
                      'migrator.remove_fields("customer_sessions", "score")', ""),
    "004_index_campaign": ("migrator.sql('CREATE INDEX CONCURRENTLY \"customer_sessions_campaign\" "
                           "ON \"customer_sessions\" (\"campaign\")')",
                           "migrator.sql('DROP INDEX CONCURRENTLY \"customer_sessions_campaign\"')",
                           "TRANSACTION = False\n"),
    "005_add_channel_groups": ('migrator.add_fields("customer_sessions", '
                               'channel_group=pw.CharField(max_length=32, null=True), '
                               'channel_group_naive=pw.CharField(max_length=32, null=True))',
                               'migrator.remove_fields("customer_sessions", "channel_group", "channel_group_naive")', ""),
    "006_fill_with_helpers": ('migrator.backfill("customer_sessions", "channel_group", "lower(channel)")\n'
                              '    migrator.set_not_null("customer_sessions", "channel_group")',
                              'migrator.drop_not_null("customer_sessions", "channel_group")', "TRANSACTION = False\n"),
    "007_fill_naively": ('migrator.sql("UPDATE customer_sessions SET channel_group_naive = lower(channel) '
                         'WHERE channel_group_naive IS NULL")\n'
                         '    migrator.add_not_null("customer_sessions", "channel_group_naive")',
                         'migrator.drop_not_null("customer_sessions", "channel_group_naive")', ""),
}
WRITES_PER_S = 50


def write_migrations(directory):
    shutil.copy(ROOT / "migrations" / "001_initial_customer_sessions.py", directory)
    for name, (forward, backward, header) in MIGRATIONS.items():
        (directory / f"{name}.py").write_text(
            f'"""Benchmark migration {name}."""\n\nimport peewee as pw\n\n{header}\n\n'
            f"def migrate(migrator, database, *, fake=False):\n    {forward}\n\n\n"
            f"def rollback(migrator, database, *, fake=False):\n    {backward}\n")


def load_rows(url, rows):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customer_sessions (session_key, customer_id, started_at, ended_at, duration_s, channel, "
            "source, medium, campaign, device, country, landing_page, exit_page, page_views, events, converted, "
            "revenue) SELECT 's' || g, 'c' || (g %% 200000), timestamp '2026-01-01' + g * interval '30 seconds', "
            "timestamp '2026-01-01' + g * interval '30 seconds' + interval '5 minutes', 300, "
            "(ARRAY['direct','organic search','paid search','social','email','referral'])[1 + g %% 6], 'google', "
            "'cpc', 'campaign_' || (g %% 50), (ARRAY['desktop','mobile','tablet'])[1 + g %% 3], 'DE', '/', '/cart', "
            "1 + g %% 9, 2 + g %% 20, g %% 37 = 0, CASE WHEN g %% 37 = 0 THEN 49.90 ELSE 0 END "
            "FROM generate_series(1, %s) g", (rows,))
        cur.execute("ANALYZE customer_sessions")
    conn.close()


def insert_loop(url, stop, latencies):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    n = 0
    while not stop.is_set():
        n += 1
        started = time.perf_counter()
        cur.execute("INSERT INTO customer_sessions (session_key, customer_id, started_at, duration_s, channel, device, "
                    "page_views, events, converted, revenue, score) VALUES (%s, 'live', now(), 0, 'direct', 'mobile', "
                    "1, 1, false, 0, 0)", (f"live-{uuid.uuid4().hex}",))
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.005)
    conn.close()


def paced_writer(url, statement, arguments, stop, latencies):
    """Run STATEMENT WRITES_PER_S times a second; record each one's latency from its planned start."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    planned = time.perf_counter()
    while not stop.is_set():
        planned += 1 / WRITES_PER_S
        time.sleep(max(0.0, planned - time.perf_counter()))
        cur.execute(statement, arguments())
        latencies.append((time.perf_counter() - planned) * 1000)
    conn.close()


def writers_during(url, rows, action):
    """Run ACTION while one connection inserts and another updates, 50 a second each; return figures."""
    inserts, updates = [], []
    stop = threading.Event()
    insert = ("INSERT INTO customer_sessions (session_key, customer_id, started_at, duration_s, channel, device, "
              "page_views, events, converted, revenue, score, channel_group, channel_group_naive) VALUES "
              "(%s, 'live', now(), 0, 'direct', 'mobile', 1, 1, false, 0, 0, 'direct', 'direct')")
    update = "UPDATE customer_sessions SET page_views = page_views + 1 WHERE id = %s"
    threads = [
        threading.Thread(target=paced_writer, args=(url, insert, lambda: (f"live-{uuid.uuid4().hex}",), stop, inserts)),
        threading.Thread(target=paced_writer, args=(url, update, lambda: (random.randint(1, rows),), stop, updates)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    started = time.perf_counter()
    try:
        action()
        failure = None
    except AppError as exc:  # the naive way can deadlock with the updaters: PostgreSQL then cancels it
        failure = str(exc).split(" — ", 1)[-1][:200]
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    both = sorted(inserts + updates)
    return {"migration_s": round(seconds, 2), "failed": failure, "writes": len(both),
            "writer_latency_ms": {"p50": round(statistics.median(both), 2),
                                  "p99": round(both[int(len(both) * 0.99) - 1], 2), "max": round(both[-1], 2)},
            "insert_max_ms": round(max(inserts), 2), "update_max_ms": round(max(updates), 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    name = f"bench_online_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-online-"))
    figures = {"rows": args.rows}
    try:
        write_migrations(workdir)
        ctx = commands.Context(settings=Settings(database_url=url), directory=workdir, out=lambda *_: None)
        commands.run(ctx, to="001_initial_customer_sessions")
        started = time.perf_counter()
        load_rows(url, args.rows)
        figures["load_s"] = round(time.perf_counter() - started, 2)
        for step in ("002_add_referrer", "003_add_score"):
            started = time.perf_counter()
            commands.run(ctx, to=step)
            figures[f"{step}_ms"] = round((time.perf_counter() - started) * 1000, 1)
        figures["nullable_column_under_100ms"] = figures["002_add_referrer_ms"] < 100
        figures["constant_default_column_under_100ms"] = figures["003_add_score_ms"] < 100

        baseline, during = [], []
        stop = threading.Event()
        writer = threading.Thread(target=insert_loop, args=(url, stop, baseline))
        writer.start()
        time.sleep(1.0)
        stop.set()
        writer.join()
        stop = threading.Event()
        writer = threading.Thread(target=insert_loop, args=(url, stop, during))
        writer.start()
        started = time.perf_counter()
        commands.run(ctx, to="004_index_campaign")
        figures["concurrent_index_build_s"] = round(time.perf_counter() - started, 2)
        stop.set()
        writer.join()
        figures["inserts_during_build"] = len(during)
        figures["insert_latency_ms_before"] = {"p50": round(statistics.median(baseline), 2),
                                               "max": round(max(baseline), 2)}
        figures["insert_latency_ms_during_build"] = {
            "p50": round(statistics.median(during), 2),
            "p99": round(sorted(during)[int(len(during) * 0.99) - 1], 2),
            "max": round(max(during), 2)}
        commands.run(ctx, to="005_add_channel_groups")
        ctx.out = lambda line: line.startswith("  backfill") and print(line, file=sys.stderr)
        figures["not_null_with_helpers"] = writers_during(
            url, args.rows, lambda: commands.run(ctx, to="006_fill_with_helpers"))
        figures["not_null_naive"] = writers_during(url, args.rows, lambda: commands.run(ctx, to="007_fill_naively"))
        figures["helpers_max_writer_latency_under_200ms"] = \
            figures["not_null_with_helpers"]["writer_latency_ms"]["max"] < 200
        figures["applied"] = [r.name for r in history.applied(ctx.db)]
        ctx.close()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
