"""migrator.backfill and migrator.set_not_null: the expand/contract steps, on SQLite and PostgreSQL."""

import json
import signal
import subprocess
import sys
import time

import pytest

from analyzer.db import is_sqlite
from analyzer.errors import AppError
from analyzer.migrate import commands, history, online, review
from analyzer.migrate.rehearse import RehearseOptions, rehearse
from tests.conftest import CREATE_ITEMS, write_migration

ADD_LABEL = ('migrator.add_fields("items", label=pw.CharField(max_length=60, null=True))',
             'migrator.remove_fields("items", "label")')
FILL_LABEL = ('migrator.backfill("items", "label", "lower(name)", batch_size=7)\n'
              'migrator.set_not_null("items", "label")',
              'migrator.drop_not_null("items", "label")')
OUTSIDE = "\nTRANSACTION = False\n"


def items(make_ctx, migrations_dir, db, rows=25):
    """Apply 001 (items, with ROWS rows) and 002 (a nullable label column)."""
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_label", *ADD_LABEL)
    assert commands.run(make_ctx()) == 0
    values = ", ".join(f"('Item {i}', {i})" for i in range(rows))
    db.execute_sql(f"INSERT INTO items (name, price) VALUES {values}")


def label_is_required(db):
    return next(c for c in db.get_columns("items") if c.name == "label").null is False


def test_backfill_then_set_not_null_fills_every_row_and_makes_the_column_required(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label", *FILL_LABEL, header=OUTSIDE)
    ctx = make_ctx()
    assert commands.run(ctx) == 0
    assert db.execute_sql("SELECT count(*) FROM items WHERE label = lower(name)").fetchone()[0] == 25
    assert label_is_required(db)
    assert "  backfill items.label: 25 of 25 rows" in ctx.out.text
    if not is_sqlite(db):
        assert db.execute_sql("SELECT count(*) FROM pg_constraint WHERE conname = 'items_label_not_null'").fetchone() == (0,)
    assert commands.rollback(make_ctx()) == 0
    assert not label_is_required(db)


def test_backfill_fills_only_null_rows_that_match_where(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    db.execute_sql("UPDATE items SET label = 'kept' WHERE price = 20")
    write_migration(migrations_dir, "003_fill_label", 'migrator.backfill("items", "label", "\'cheap\'", where="price < 21")',
                    header=OUTSIDE)
    assert commands.run(make_ctx()) == 0
    rows = dict(db.execute_sql("SELECT price, label FROM items").fetchall())
    assert rows[20] == "kept" and rows[0] == rows[19] == "cheap"
    assert rows[21] is None and rows[24] is None


def test_backfill_resumes_where_an_interrupted_run_stopped(make_ctx, migrations_dir, db, monkeypatch):
    items(make_ctx, migrations_dir, db, rows=40)
    write_migration(migrations_dir, "003_fill_label", *FILL_LABEL, header=OUTSIDE)
    monkeypatch.setattr(online, "REPORT_EVERY_S", 0)
    interrupted = make_ctx()

    def stop_after_two_batches(line):
        if "14 of 40" in line:
            raise KeyboardInterrupt

    interrupted.out = stop_after_two_batches
    with pytest.raises(KeyboardInterrupt):
        commands.run(interrupted)
    assert db.execute_sql("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()[0] == 14
    assert [r[0] for r in db.execute_sql("SELECT name FROM migratehistory ORDER BY id").fetchall()] == \
        ["001_items", "002_label"]
    again = make_ctx()
    assert commands.run(again) == 0
    assert "  backfill items.label: 26 of 26 rows" in again.out.text
    assert db.execute_sql("SELECT count(*) FROM items WHERE label = lower(name)").fetchone()[0] == 40


def test_backfill_passes_rows_whose_value_stays_null_once(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db, rows=10)
    write_migration(migrations_dir, "003_fill_label",
                    'migrator.backfill("items", "label", "CASE WHEN price < 5 THEN NULL ELSE name END", batch_size=3)',
                    header=OUTSIDE)
    ctx = make_ctx()
    assert commands.run(ctx) == 0
    assert db.execute_sql("SELECT count(*) FROM items WHERE label IS NULL").fetchone()[0] == 5
    assert "  backfill items.label: 10 of 10 rows" in ctx.out.text
    assert ctx.out.lines[-3].endswith("; 5 still NULL (VALUE gave NULL for them)")


def test_backfill_inside_a_transaction_is_refused_and_changes_nothing(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label", FILL_LABEL[0].splitlines()[0])
    with pytest.raises(AppError, match="put TRANSACTION = False at the top of the file"):
        commands.run(make_ctx())
    assert db.execute_sql("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()[0] == 0


def test_sql_preview_of_a_backfill_with_nothing_to_fill_says_so(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label", 'migrator.backfill("items", "label", "name", where="price < 0")',
                    header=OUTSIDE)
    ctx = make_ctx()
    assert review.sql(ctx, None) == 0
    assert ('-- backfill of items.label: no row has "label" IS NULL AND (price < 0) now, so it updates nothing\n'
            in ctx.out.text)
    assert "UPDATE" not in ctx.out.text


def test_set_not_null_with_nulls_left_fails_clearly_and_the_column_stays_nullable(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_required", 'migrator.set_not_null("items", "label")', header=OUTSIDE)
    with pytest.raises(AppError, match=r"003_required.py line \d+ failed at: .*Error: .*label"):
        commands.run(make_ctx())
    assert not label_is_required(db)
    # migratehalfway keeps the statements that stayed applied, for migrate status and the next run.
    assert sorted(db.get_tables()) == ["items", "migratehalfway", "migratehistory"]
    if not is_sqlite(db):
        # The NOT VALID check stays behind; running again after the backfill finishes the job.
        db.execute_sql("UPDATE items SET label = name")
        assert commands.run(make_ctx()) == 0
        assert label_is_required(db)


def test_sql_preview_shows_the_batches_and_the_validated_check(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label", *FILL_LABEL, header=OUTSIDE)
    ctx = make_ctx()
    assert review.sql(ctx, None) == 0
    text = ctx.out.text
    assert ('UPDATE "items" SET "label" = lower(name) WHERE "id" >= 1 AND "id" <= 7 AND "label" IS NULL;\n'
            '-- backfill of items.label: the UPDATE above is its first batch; the same UPDATE runs for each next batch '
            'of up to 7 rows by id, each committed on its own, until no row has "label" IS NULL (25 rows now: '
            '4 batches)\n') in text
    if not is_sqlite(db):
        assert ('ALTER TABLE "items" ADD CONSTRAINT "items_label_not_null" CHECK ("label" IS NOT NULL) NOT VALID;\n'
                'ALTER TABLE "items" VALIDATE CONSTRAINT "items_label_not_null";\n'
                'ALTER TABLE "items" ALTER COLUMN "label" SET NOT NULL;\n'
                'ALTER TABLE "items" DROP CONSTRAINT IF EXISTS "items_label_not_null";') in text
    assert db.execute_sql("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()[0] == 0


def test_the_scan_of_set_not_null_holds_no_lock_that_blocks_writes(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label", *FILL_LABEL, header=OUTSIDE)
    ctx = make_ctx()
    assert rehearse(ctx, RehearseOptions(as_json=True)) == 0
    [migration] = json.loads(ctx.out.text)["migrations"]
    assert migration["ok"] is True
    if is_sqlite(db):
        return
    # Enough rows for the scan to outlast the sampling interval (locks outside a transaction end with the statement).
    db.execute_sql("INSERT INTO items (name, price, label) SELECT 'x' || g, g, 'x' FROM generate_series(1, 300000) g")
    db.execute_sql("UPDATE items SET label = name")
    ctx = make_ctx()
    assert rehearse(ctx, RehearseOptions(as_json=True)) == 0
    [migration] = json.loads(ctx.out.text)["migrations"]
    validate = next(s for s in migration["statements"] if "VALIDATE CONSTRAINT" in s["sql"])
    assert [lock["mode"] for lock in validate["locks"]] == ["ShareUpdateExclusiveLock"]


def test_a_lock_sample_that_outlives_its_statement_is_not_counted_for_it(pg_url):
    from analyzer.migrate.measure import _LockSampler

    class NextStatementStarts:
        """A connection whose pg_locks query returns after the migration has gone on to its next statement."""

        def __init__(self, advance):
            self.advance = advance

        def cursor(self):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params):
            if self.advance:
                sampler.watch(None)
                sampler.watch(1)

        def fetchall(self):
            return [("items", "AccessExclusiveLock")]

    sampler = _LockSampler(pg_url, 0)
    real = sampler.connection
    try:
        for advance, seen in ((True, {}), (False, {0: {("items", "AccessExclusiveLock")}})):
            sampler.seen_in = {}
            sampler.watch(0)
            sampler.connection = NextStatementStarts(advance)
            sampler.sample_current()
            assert sampler.seen_in == seen
    finally:
        real.close()


def test_lint_points_a_not_null_column_without_default_at_the_helpers(db, migrations_dir):
    from analyzer.migrate import lint
    from analyzer.migrate.files import scan

    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_label", 'migrator.add_fields("items", label=pw.CharField(max_length=60))')
    files = scan(migrations_dir)
    [finding] = [f for f in lint.lint(db, files, files[1:]) if f.rule == "not-null-without-default"]
    assert 'migrator.backfill("items", "label", "SQL expression")' in finding.fix
    assert 'migrator.set_not_null("items", "label")' in finding.fix


def test_a_backfill_killed_mid_way_resumes_on_the_next_run(pg_url, tmp_path):
    from analyzer.config import Settings
    from analyzer.db import open_database
    from tests.conftest import ROOT

    directory = tmp_path / "migrations"
    directory.mkdir()
    write_migration(directory, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(directory, "002_label", *ADD_LABEL)
    slow = "(SELECT lower(name) FROM pg_sleep(0.001))"  # about a millisecond a row, so the kill lands mid-way
    write_migration(directory, "003_fill_label", f'migrator.backfill("items", "label", "{slow}", batch_size=50)',
                    header=OUTSIDE)
    settings = Settings(database_url=pg_url)
    commands.run(commands.Context(settings=settings, directory=directory, out=lambda *_: None), to="002")
    db = open_database(pg_url)
    db.execute_sql("INSERT INTO items (name, price) SELECT 'Item ' || g, g FROM generate_series(1, 3000) g")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
              "from analyzer.config import Settings; from analyzer.migrate import commands; "
              "commands.run(commands.Context(settings=Settings(database_url=sys.argv[2]), directory=Path(sys.argv[3])))")
    worker = subprocess.Popen([sys.executable, "-c", script, str(ROOT), pg_url, str(directory)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    filled = 0
    deadline = time.monotonic() + 60
    while filled < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
        filled = db.execute_sql("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()[0]
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    time.sleep(1.0)  # the server finishes or cancels the batch the killed process had sent
    filled = db.execute_sql("SELECT count(*) FROM items WHERE label IS NOT NULL").fetchone()[0]
    assert 300 <= filled < 3000
    assert "003_fill_label" not in [r.name for r in history.applied(db)]
    lines = []
    assert commands.run(commands.Context(settings=settings, directory=directory, out=lines.append)) == 0
    assert any(line.startswith(f"  backfill items.label: {3000 - filled:,} of {3000 - filled:,} rows") for line in lines)
    assert db.execute_sql("SELECT count(*) FROM items WHERE label = lower(name)").fetchone()[0] == 3000
    db.close()


def test_a_backfill_that_stops_partway_is_listed_by_its_first_batches_and_resumes(make_ctx, migrations_dir, db):
    items(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "003_fill_label",
                    'migrator.backfill("items", "label", "lower(name)", batch_size=2)\n'
                    'migrator.sql("UPDATE no_such_table SET x = 1")', header=OUTSIDE)
    with pytest.raises(AppError):
        commands.run(make_ctx())
    ctx = make_ctx()
    commands.status(ctx)
    assert "13 statement(s) of it stayed applied: UPDATE " in ctx.out.text and "; … and 8 more." in ctx.out.text
    write_migration(migrations_dir, "003_fill_label", 'migrator.backfill("items", "label", "lower(name)", '
                    'batch_size=2)', header=OUTSIDE)
    assert commands.run(make_ctx()) == 0
    assert db.execute_sql("SELECT COUNT(*) FROM items WHERE label IS NULL").fetchone()[0] == 0
    assert history.halfway(db) == {}
