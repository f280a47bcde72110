"""Deploy lock, PostgreSQL timeouts and migrations that run outside a transaction."""

import subprocess
import sys
import time

import pytest

from analyzer.db import open_database
from analyzer.errors import AppError
from analyzer.migrate import commands, history, review
from analyzer.migrate.lock import LockTimeout, migration_lock
from tests.conftest import CREATE_ITEMS, ROOT, write_migration

SLOW = CREATE_ITEMS + "migrator.run(time.sleep, 1.5)\n"


def start_run(migrations_dir, db_url):
    """Start "migrate run" in another process against the test's migrations directory."""
    code = (
        "import sys; from analyzer.config import load_settings; from analyzer.migrate import commands; "
        f"ctx = commands.Context(settings=load_settings(), directory=__import__('pathlib').Path({str(migrations_dir)!r}), lock_timeout=30); "
        "sys.exit(commands.run(ctx))"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_runs_apply_each_migration_exactly_once(migrations_dir, db_url, db):
    write_migration(migrations_dir, "001_slow", SLOW, header="import time")
    runs = [start_run(migrations_dir, db_url) for _ in range(3)]
    outputs = []
    for process in runs:
        out, err = process.communicate(timeout=60)
        outputs.append(out)
        assert process.returncode == 0, err
    assert [r.name for r in history.applied(db)] == ["001_slow"]
    assert sum("Applied 001_slow" in out for out in outputs) == 1
    assert sum("Nothing to migrate: the database is at 001_slow." in out for out in outputs) == 2
    assert any("Waiting for the migration lock, held by " in out for out in outputs)


def test_lock_timeout_names_the_holder_and_changes_nothing(make_ctx, migrations_dir, db_url, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS)
    holder = open_database(db_url)
    with migration_lock(holder, 1):
        with pytest.raises(LockTimeout) as waited:
            commands.run(_with_timeout(make_ctx(), 0.5))
    holder.close()
    message = str(waited.value)
    assert message.startswith("Another migration command holds the lock (")
    assert "waited 0.5 s and changed nothing" in message and "--lock-timeout" in message
    assert waited.value.exit_code == 3
    assert history.applied(db) == []


def wait_until_locked(db_url, process):
    """Return once PROCESS holds the migration lock of DB_URL."""
    probe = open_database(db_url)
    while process.poll() is None:
        try:
            with migration_lock(probe, 0):
                pass
        except LockTimeout:
            break
        time.sleep(0.05)
    probe.close()


@pytest.mark.parametrize("verb", ["sql", "run --dry-run"])
def test_preview_waiting_on_a_run_shows_what_is_pending_after_it(verb, make_ctx, migrations_dir, db_url, db):
    write_migration(migrations_dir, "001_slow", SLOW, header="import time")
    running = start_run(migrations_dir, db_url)
    wait_until_locked(db_url, running)
    ctx = make_ctx()
    try:
        code = review.sql(ctx) if verb == "sql" else commands.run(ctx, dry_run=True)
    finally:
        out, err = running.communicate(timeout=60)
    assert running.returncode == 0, err
    assert "Applied 001_slow" in out and code == 0
    assert "Waiting for the migration lock" in ctx.out.text
    assert ctx.out.lines[-1] in ("Nothing to show: no migration is pending.",
                                 "Nothing to migrate: the database is at 001_slow.")


def test_a_lock_file_that_cannot_be_opened_is_named_with_the_fix(migrations_dir, sqlite_url, tmp_path):
    from analyzer.config import Settings
    from tests.conftest import Console

    write_migration(migrations_dir, "001_items", CREATE_ITEMS)
    (tmp_path / "test.db.migrate-lock").mkdir()  # as a folder without write permission refuses the file
    ctx = commands.Context(settings=Settings(database_url=sqlite_url), directory=migrations_dir, out=Console())
    with pytest.raises(AppError) as refused:
        commands.run(ctx)
    assert str(refused.value) == (
        f"Cannot open the migration lock file {tmp_path}/test.db.migrate-lock: Is a directory. It is made next to the "
        f"SQLite database, as SQLite makes its journal: check that {tmp_path} can be written and DATABASE_URL. "
        "Nothing was changed.")
    assert refused.value.exit_code == 2
    assert history.applied(ctx.db) == []
    ctx.close()


def _with_timeout(ctx, seconds):
    ctx.lock_timeout = seconds
    return ctx


def test_postgres_lock_timeout_fails_cleanly_and_retry_works(pg_url, migrations_dir, tmp_path):
    from analyzer.config import Settings
    from tests.conftest import Console

    write_migration(migrations_dir, "001_items", CREATE_ITEMS)
    write_migration(migrations_dir, "002_note", 'migrator.add_fields("items", note=pw.TextField(null=True))')
    settings = Settings(database_url=pg_url, pg_lock_timeout="200ms")
    ctx = commands.Context(settings=settings, directory=migrations_dir, out=Console())
    commands.run(ctx, to="001_items")
    blocker = open_database(pg_url)
    blocker.execute_sql("BEGIN")
    blocker.execute_sql("LOCK TABLE items IN ACCESS SHARE MODE")
    with pytest.raises(AppError) as failure:
        commands.run(ctx)
    message = str(failure.value)
    assert "migrations/002_note.py line 7 timed out waiting for a lock at: ALTER TABLE \"items\" ADD COLUMN" in message
    assert "Nothing of 002_note was changed and it is safe to retry" in message
    assert [c.name for c in ctx.db.get_columns("items")] == ["id", "name", "price"]
    blocker.execute_sql("ROLLBACK")
    blocker.close()
    assert commands.run(ctx) == 0
    assert [c.name for c in ctx.db.get_columns("items")] == ["id", "name", "price", "note"]
    ctx.close()


CONCURRENT_INDEX = '''
migrator.sql('CREATE UNIQUE INDEX CONCURRENTLY "items_name_unique" ON "items" ("name")')
'''


def test_non_transactional_migration_builds_index_concurrently(pg_url, migrations_dir):
    from analyzer.config import Settings
    from tests.conftest import Console

    write_migration(migrations_dir, "001_items", CREATE_ITEMS)
    write_migration(migrations_dir, "002_index", CONCURRENT_INDEX,
                    "migrator.sql('DROP INDEX CONCURRENTLY \"items_name_unique\"')", header="TRANSACTION = False")
    ctx = commands.Context(settings=Settings(database_url=pg_url), directory=migrations_dir, out=Console())
    assert commands.run(ctx) == 0
    assert "items_name_unique" in [i.name for i in ctx.db.get_indexes("items")]
    assert commands.rollback(ctx) == 0
    assert "items_name_unique" not in [i.name for i in ctx.db.get_indexes("items")]
    ctx.close()


def test_interrupted_concurrent_index_is_reported_as_invalid(pg_url, migrations_dir):
    from analyzer.config import Settings
    from tests.conftest import Console

    write_migration(migrations_dir, "001_items", CREATE_ITEMS)
    write_migration(migrations_dir, "002_index", CONCURRENT_INDEX, header="TRANSACTION = False")
    ctx = commands.Context(settings=Settings(database_url=pg_url), directory=migrations_dir, out=Console())
    commands.run(ctx, to="001_items")
    ctx.db.execute_sql("INSERT INTO items (name) VALUES ('same'), ('same')")
    with pytest.raises(AppError) as failure:
        commands.run(ctx)
    message = str(failure.value)
    assert "It runs outside a transaction (TRANSACTION = False)" in message
    assert "invalid index(es) left behind: items_name_unique — drop them with DROP INDEX CONCURRENTLY" in message
    assert [r.name for r in history.applied(ctx.db)] == ["001_items"]
    with pytest.raises(AppError) as again:  # IF NOT EXISTS would take the invalid index for a built one
        commands.run(ctx)
    assert "Cannot migrate: invalid index(es) items_name_unique left by an interrupted CREATE INDEX" in str(again.value)
    assert [r.name for r in history.applied(ctx.db)] == ["001_items"]
    check = commands.Context(settings=Settings(database_url=pg_url), directory=migrations_dir, out=Console())
    review.check(check)
    assert "FAIL invalid index items_name_unique" in check.out.text
    assert commands.status(check) == 2
    assert "Problem: invalid index items_name_unique left by an interrupted CREATE INDEX CONCURRENTLY" in check.out.text
    check.close()
    ctx.close()
