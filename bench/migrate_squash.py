"""Applying 1,000 migrations to an empty PostgreSQL database, before and after squashing the first 990.

Writes a project with 1,000 small migrations (as bench/migrate_speed.py does), times
`python manage.py migrate run` on a new database, squashes 001..990 with `migrate squash --to 990`,
times the same on another new database, checks that both schemas are equal, and prints JSON.

    python bench/migrate_squash.py [--count 1000] [--squash-to 990]
"""

import argparse
import json
import os
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
sys.path.insert(0, str(ROOT / "bench"))

from analyzer.db import open_database  # noqa: E402
from analyzer.migrate import snapshot  # noqa: E402
from migrate_speed import write_project  # noqa: E402

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def manage(project, url, *args):
    """Run python manage.py ARGS in PROJECT against URL; return seconds taken."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": url})
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return round(time.perf_counter() - started, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--squash-to", type=int, default=990)
    args = parser.parse_args()
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    names = [f"bench_squash_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    urls = [urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}")) for name in names]
    figures = {"migrations": args.count, "squashed": args.squash_to}
    try:
        for name in names:
            admin.cursor().execute(f'CREATE DATABASE "{name}"')
        with tempfile.TemporaryDirectory(prefix="bench-squash-") as workdir:
            project = Path(workdir)
            write_project(project, args.count)
            figures["run_all_s"] = manage(project, urls[0], "migrate", "run")
            figures["squash_s"] = manage(project, urls[0], "migrate", "squash", "--to", f"{args.squash_to:03d}")
            figures["files_after_squash"] = len(list((project / "migrations").glob("[0-9]*.py")))
            figures["run_after_squash_s"] = manage(project, urls[1], "migrate", "run")
            figures["up_to_date_db_status_s"] = manage(project, urls[0], "migrate", "status")
        schemas = []
        for url in urls:
            db = open_database(url)
            schemas.append(snapshot.schema(db))
            db.close()
        figures["same_schema"] = schemas[0] == schemas[1]
        figures["speedup"] = round(figures["run_all_s"] / figures["run_after_squash_s"], 1)
        figures["after_squash_under_2s"] = figures["run_after_squash_s"] < 2
    finally:
        for name in names:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
