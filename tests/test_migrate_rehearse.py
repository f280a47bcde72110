"""migrate rehearse: pending migrations up, down, up on a scratch copy, on SQLite and PostgreSQL."""

import hashlib
import json
import subprocess
from pathlib import Path

import psycopg2
import pytest

import manage
from analyzer.db import is_sqlite, open_database
from analyzer.migrate import commands, scratch, snapshot
from analyzer.migrate.rehearse import RehearseOptions, rehearse
from tests.conftest import CREATE_ITEMS, PG_ADMIN_URL, write_migration

ADD_NOTE = ('migrator.add_fields("items", note=pw.CharField(max_length=20, default="none"))',
            'migrator.remove_fields("items", "note")')


def items_with_rows(make_ctx, migrations_dir, db, rows=50):
    """Apply 001 (table items) and fill it."""
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    assert commands.run(make_ctx()) == 0
    for start in range(0, rows, 25):
        values = ", ".join(f"('item {i}', {i})" for i in range(start, min(rows, start + 25)))
        db.execute_sql(f"INSERT INTO items (name, price) VALUES {values}")


def rehearsed(make_ctx, **options):
    """Run the rehearsal with --json; return (exit code, document)."""
    ctx = make_ctx()
    code = rehearse(ctx, RehearseOptions(as_json=True, **options))
    return code, json.loads(ctx.out.text)


def fingerprint(db, db_url):
    """Everything a write could change: the schema dump and every table's rows (history and archives too)."""
    if is_sqlite(db):
        path = Path(db_url.split(":///", 1)[1])
        files = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, Path(f"{path}-wal")) if p.exists()]
        dump = "\n".join(r[0] or "" for r in db.execute_sql("SELECT sql FROM sqlite_master ORDER BY name").fetchall())
    else:
        dump = subprocess.run(["pg_dump", "--schema-only", db_url], capture_output=True, text=True, check=True).stdout
        dump = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
        files = ""
    tables = {item[1] for item in _all_schema(db)}
    rows = {t: snapshot.checksums(db, {("column", t, c.name, "") for c in db.get_columns(t)})[t] for t in tables}
    return dump, rows, files


def _all_schema(db):
    return [("column", t, "", "") for t in db.get_tables()]


def test_the_real_database_is_never_written(make_ctx, migrations_dir, db, db_url):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_note", *ADD_NOTE)
    write_migration(migrations_dir, "003_broken", 'migrator.sql("UPDATE items SET price = 1 / 0")')
    db.close()
    before = fingerprint(db, db_url)
    code, report = rehearsed(make_ctx)
    assert code == 1 and [m["name"] for m in report["migrations"]] == ["002_note", "003_broken"]
    assert fingerprint(db, db_url) == before
    assert [r.name for r in commands.history_table.applied(db)] == ["001_items"]
    if not is_sqlite(db):
        admin = psycopg2.connect(PG_ADMIN_URL)
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'rehearse_%%' AND datname LIKE %s",
                        (f"%{db_url.rsplit('/', 1)[1]}%",))
            assert cur.fetchone()[0] == 0
        admin.close()


def test_a_clean_migration_is_reported_with_its_statements_and_exit_0(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_note", *ADD_NOTE)
    code, report = rehearsed(make_ctx)
    assert code == 0
    [migration] = report["migrations"]
    assert migration["name"] == "002_note" and migration["ok"] is True and migration["problems"] == []
    [statement] = migration["statements"]
    assert statement["sql"].startswith('ALTER TABLE "items" ADD COLUMN "note"')
    assert statement["ms"] >= 0 and statement["rewrites"] == []
    if is_sqlite(db):
        assert statement["locks"] == []
    else:
        [lock] = statement["locks"]
        assert (lock["table"], lock["mode"]) == ("items", "AccessExclusiveLock")
        assert lock["held_ms"] >= statement["ms"]


def test_markdown_report_names_each_migration_its_sql_and_the_verdict(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_note", *ADD_NOTE)
    ctx = make_ctx()
    assert rehearse(ctx, RehearseOptions()) == 0
    text = ctx.out.text
    assert "### 002_note: OK" in text
    assert '```sql\n-- 1\nALTER TABLE "items" ADD COLUMN "note"' in text
    assert "| # | ms | locks taken (held ms) | table rewritten |" in text
    assert text.endswith("**Verdict:** all 1 pending migration(s) rehearsed cleanly.")


def test_a_generated_drop_of_a_not_null_column_rehearses_cleanly(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    assert commands.create(make_ctx(models_module="tests.models_items_nameless"), "drop name") == 0
    code, report = rehearsed(make_ctx)
    assert (code, report["migrations"][0]["problems"]) == (0, [])


def test_a_rollback_that_leaves_a_column_behind_is_a_problem(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_note", ADD_NOTE[0], "pass")
    code, report = rehearsed(make_ctx)
    assert code == 1
    [problem] = report["migrations"][0]["problems"][:1]
    assert problem.startswith("the rollback leaves a trace in the schema: + column items.note")


def test_a_rollback_that_changes_another_tables_rows_is_a_problem(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_tags", '''
@migrator.create_model
class Tag(pw.Model):
    label = pw.CharField(max_length=20)

    class Meta:
        table_name = "tags"
''', 'migrator.remove_model("tags")')
    assert commands.run(make_ctx()) == 0
    db.execute_sql("INSERT INTO tags (label) VALUES ('a'), ('b'), ('c')")
    write_migration(migrations_dir, "003_note", ADD_NOTE[0],
                    ADD_NOTE[1] + "\nmigrator.sql(\"UPDATE tags SET label = upper(label)\")")
    code, report = rehearsed(make_ctx)
    assert code == 1
    assert report["migrations"][0]["problems"] == [
        "the rollback does not give back the rows of tags (same 3 rows, different values)"]


def test_a_migration_that_fails_on_the_data_is_a_problem_and_stops_the_later_ones(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    db.execute_sql("UPDATE items SET price = NULL WHERE price < 3")
    write_migration(migrations_dir, "002_price_required", 'migrator.add_not_null("items", "price")',
                    'migrator.drop_not_null("items", "price")')
    write_migration(migrations_dir, "003_note", *ADD_NOTE)
    code, report = rehearsed(make_ctx)
    assert code == 1
    failed, skipped = report["migrations"]
    assert failed["ok"] is False and failed["problems"][0].startswith("up failed on the copy: migrations/002_price_required.py")
    assert skipped == {"name": "003_note", "ok": False, "problems": ["not rehearsed: 002_price_required failed before it"],
                       "statements": []}


def test_a_second_up_is_checked_against_the_first(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    # Rolling back drops the index but keeps the column, so the second up fails on the existing column.
    write_migration(migrations_dir, "002_note", ADD_NOTE[0] + '\nmigrator.sql(\'CREATE INDEX "items_n" ON "items" ("note")\')',
                    'migrator.sql(\'DROP INDEX "items_n"\')')
    code, report = rehearsed(make_ctx)
    assert code == 1
    problems = report["migrations"][0]["problems"]
    assert problems[0].startswith("the rollback leaves a trace in the schema")
    assert problems[1].startswith("the second up failed after the rollback")


def test_a_lock_held_longer_than_max_lock_ms_is_flagged(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    if is_sqlite(db):
        write_migration(migrations_dir, "002_note", *ADD_NOTE)
        code, report = rehearsed(make_ctx, max_lock_ms=0)
        assert code == 0 and report["migrations"][0]["statements"][0]["locks"] == []
        return
    write_migration(migrations_dir, "002_note", ADD_NOTE[0] + '\nmigrator.sql("SELECT pg_sleep(0.05)")', ADD_NOTE[1])
    code, report = rehearsed(make_ctx, max_lock_ms=20)
    assert code == 1
    [problem] = report["migrations"][0]["problems"]
    assert problem.startswith("statement 1 holds AccessExclusiveLock on items for ")
    assert "blocking reads and writes longer than --max-lock-ms 20" in problem
    assert report["migrations"][0]["statements"][0]["locks"][0]["held_ms"] >= 50
    assert rehearsed(make_ctx, max_lock_ms=5000)[0] == 0


def test_a_table_rewrite_is_reported_with_its_rows(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_big_price", 'migrator.change_fields("items", price=pw.BigIntegerField(null=True))',
                    'migrator.change_fields("items", price=pw.IntegerField(null=True))')
    code, report = rehearsed(make_ctx)
    rewrites = [r for s in report["migrations"][0]["statements"] for r in s["rewrites"]]
    assert rewrites == [{"table": "items", "rows": 50}]


def test_each_rebuild_of_a_table_in_one_migration_is_reported(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_wider",
                    'migrator.change_fields("items", price=pw.BigIntegerField(null=True))\n'
                    'migrator.change_fields("items", name=pw.CharField(max_length=80))',
                    'migrator.change_fields("items", name=pw.CharField(max_length=50))\n'
                    'migrator.change_fields("items", price=pw.IntegerField(null=True))')
    code, report = rehearsed(make_ctx)
    statements = report["migrations"][0]["statements"]
    rewritten = [s["sql"] for s in statements if s["rewrites"] == [{"table": "items", "rows": 50}]]
    if is_sqlite(db):  # every rebuild ends by renaming the copy to items; the copy itself is no rewrite
        renames = [s["sql"] for s in statements if s["sql"] == 'ALTER TABLE "items__tmp__" RENAME TO "items"']
        assert len(renames) > 1 and rewritten == renames
    else:
        assert rewritten == ['ALTER TABLE "items" ALTER COLUMN "price" TYPE BIGINT']
    assert all(s["rewrites"] in ([], [{"table": "items", "rows": 50}]) for s in statements)
    assert code == 0


def test_rows_copies_a_sample_of_each_table(db_url, make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    with scratch.scratch_copy(db_url, rows=7) as url:
        assert url != db_url
        copy = open_database(url)
        assert copy.execute_sql("SELECT count(*) FROM items").fetchone()[0] == 7
        assert copy.execute_sql("SELECT count(*) FROM migratehistory").fetchone()[0] == 1
        copy.close()
    with scratch.scratch_copy(db_url) as url:
        copy = open_database(url)
        assert copy.execute_sql("SELECT count(*) FROM items").fetchone()[0] == 50
        assert snapshot.schema(copy) == snapshot.schema(db)
        copy.close()


def test_nothing_pending_is_exit_0(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    code, report = rehearsed(make_ctx)
    assert (code, report) == (0, {"migrations": []})
    ctx = make_ctx()
    assert rehearse(ctx, RehearseOptions()) == 0
    assert "Nothing to rehearse: no migration is pending" in ctx.out.text


def cli(db_url, *args, environ=None, capsys=None):
    lines = []
    code = manage.main(["migrate", "rehearse", *args], environ={"DATABASE_URL": db_url, **(environ or {})},
                       out=lines.append)
    return code, "\n".join(lines)


def test_a_missing_sqlite_file_is_exit_2(tmp_path, capsys):
    code, _ = cli(f"sqlite:///{tmp_path / 'typo.db'}")
    assert code == 2
    assert "No database at" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


def test_bad_rows_is_exit_2(db_url, capsys):
    assert cli(db_url, "--rows", "0")[0] == 2
    assert "--rows must be 1 or more" in capsys.readouterr().err


def test_missing_pg_dump_is_exit_2_with_the_fix(pg_url, make_ctx, migrations_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli(pg_url)[0] == 2
    err = capsys.readouterr().err
    assert "pg_dump is not installed on this machine" in err and "apt-get install postgresql-client" in err


def test_missing_create_database_right_is_exit_2_with_the_fix(pg_url, capsys):
    role = "rehearse_nocreatedb"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {role}")
        cur.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        code, _ = cli(pg_url.replace("postgres@", f"{role}@"))
        assert code == 2
        err = capsys.readouterr().err
        assert f"{role} may not create databases" in err and f'ALTER ROLE "{role}" CREATEDB;' in err
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


@pytest.mark.parametrize("as_json", [True, False])
def test_a_migration_that_fails_after_rewriting_a_table_is_reported_not_a_crash(make_ctx, migrations_dir, db, as_json):
    items_with_rows(make_ctx, migrations_dir, db)
    # The type change rewrites items (a rebuild on SQLite); the failure after it left the rewrites uncounted, and
    # the report stopped on them with "ValueError: too many values to unpack".
    write_migration(migrations_dir, "002_widen_and_fill",
                    'migrator.change_fields("items", price=pw.FloatField(null=True))\n'
                    'migrator.sql("UPDATE items SET no_such_column = 1")',
                    'migrator.change_fields("items", price=pw.IntegerField(null=True))')
    ctx = make_ctx()
    assert rehearse(ctx, RehearseOptions(as_json=as_json)) == 1
    text = ctx.out.text
    problem = "up failed on the copy: migrations/002_widen_and_fill.py line 8 failed at: UPDATE items SET no_such_column"
    if as_json:
        [migration] = json.loads(text)["migrations"]
        assert migration["problems"][0].startswith(problem)
        assert {"table": "items", "rows": 50} in [r for s in migration["statements"] for r in s["rewrites"]]
    else:
        assert problem in text and "items (50 rows)" in text


def test_a_migration_outside_a_transaction_rehearses_its_own_statements_only(make_ctx, migrations_dir, db):
    items_with_rows(make_ctx, migrations_dir, db)
    write_migration(migrations_dir, "002_two", 'migrator.sql("CREATE INDEX items_name ON items (name)")\n'
                    'migrator.sql("UPDATE items SET price = price")', 'migrator.sql("DROP INDEX items_name")',
                    header="TRANSACTION = False")
    code, report = rehearsed(make_ctx)
    assert code == 0, report
    [migration] = report["migrations"]
    # The note of each statement as it ran (migratehalfway) showed among them, as a CREATE TABLE after each.
    assert [s["sql"] for s in migration["statements"]] == ["CREATE INDEX items_name ON items (name)",
                                                           "UPDATE items SET price = price"]
