"""Whole-process speed of migrate status / up-to-date run / one-migration deploy with 300 migrations (SQLite).

Measures our `python manage.py migrate …` against peewee-migrate's own `pw_migrate` on the same files,
in the same run, and prints JSON. Reference figures for Flask-Migrate on this kind of machine:
~0.55 s for `flask db current` or an up-to-date `upgrade`, ~0.57 s to deploy one migration.

    python bench/migrate_speed.py [--repeat 7]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNT = 300
FLASK_MIGRATE = {"status_s": 0.55, "up_to_date_run_s": 0.55, "deploy_one_s": 0.57}


def write_project(target, count=COUNT):
    """Copy the app and write migrations 002..COUNT, small realistic changes on customer_sessions."""
    shutil.copytree(ROOT / "analyzer", target / "analyzer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", target)
    migrations = target / "migrations"
    migrations.mkdir()
    shutil.copy(ROOT / "migrations" / "001_initial_customer_sessions.py", migrations)
    for n in range(2, count + 1):
        if n % 10 == 0:
            forward = f'migrator.add_index("customer_sessions", "extra_{n - 1}")'
            backward = f'migrator.drop_index("customer_sessions", "extra_{n - 1}")'
        else:
            forward = f'migrator.add_fields(\n        "customer_sessions", extra_{n}=pw.IntegerField(null=True))'
            backward = f'migrator.remove_fields("customer_sessions", "extra_{n}")'
        (migrations / f"{n:03d}_extra_{n}.py").write_text(
            f'"""Extra {n}."""\n\nimport peewee as pw\nfrom peewee_migrate import Migrator\n\n\n'
            f'def migrate(migrator: Migrator, database: pw.Database, *, fake=False):\n    """Apply."""\n    {forward}\n\n\n'
            f'def rollback(migrator: Migrator, database: pw.Database, *, fake=False):\n    """Revert."""\n    {backward}\n')


def timed(command, cwd, repeat, env=None, before=None):
    """Return the median wall time of COMMAND over REPEAT runs (after one warm-up), running BEFORE untimed."""
    env = {**os.environ, **(env or {})}
    times = []
    for i in range(repeat + 1):
        if before:
            subprocess.run(before, cwd=cwd, env=env, check=True, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
        if i:
            times.append(elapsed)
    return round(statistics.median(times), 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    try:
        write_project(work)
        py = sys.executable
        ours = [py, "manage.py", "migrate"]
        pw = [shutil.which("pw_migrate", path=str(Path(sys.executable).parent)) or shutil.which("pw_migrate") or "pw_migrate"]
        ours_db = {"DATABASE_URL": f"sqlite:///{work / 'ours.db'}"}
        pw_args = ["--database", f"sqlite:///{work / 'pw.db'}", "--directory", "migrations"]

        started = time.perf_counter()
        subprocess.run(ours + ["run"], cwd=work, env={**os.environ, **ours_db}, check=True, capture_output=True)
        first_run_ours = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(pw + ["migrate", *pw_args], cwd=work, check=True, capture_output=True)
        first_run_pw = time.perf_counter() - started

        figures = {
            "migrations": COUNT,
            "python_floor_s": timed([py, "-c", "pass"], work, args.repeat),
            "ours": {
                "status_s": timed(ours + ["status"], work, args.repeat, ours_db),
                "up_to_date_run_s": timed(ours + ["run"], work, args.repeat, ours_db),
                "deploy_one_s": timed(ours + ["run"], work, args.repeat, ours_db, before=ours + ["rollback"]),
                "first_run_all_s": round(first_run_ours, 2),
            },
            "pw_migrate": {
                "list_s": timed(pw + ["list", *pw_args], work, args.repeat),
                "up_to_date_run_s": timed(pw + ["migrate", *pw_args], work, args.repeat),
                "deploy_one_s": timed(pw + ["migrate", *pw_args], work, args.repeat,
                                      before=pw + ["rollback", *pw_args]),
                "first_run_all_s": round(first_run_pw, 2),
            },
            "flask_migrate_reference": FLASK_MIGRATE,
            "goal_s": 0.27,
        }
        figures["ratio_ours_to_flask_migrate"] = {
            key: round(figures["ours"][key] / FLASK_MIGRATE[key], 2) for key in FLASK_MIGRATE}
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
