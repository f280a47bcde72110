"""db backup and restore: consistent SQLite copies, pg_dump/pg_restore, clear errors."""

import sqlite3
import threading

import pytest

from analyzer.backup import backup, restore, restore_command
from analyzer.db import open_database
from analyzer.errors import AppError
from tests.conftest import ROOT, run_cli


def fill(db_url, names):
    db = open_database(db_url)
    key = "INTEGER PRIMARY KEY" if db_url.startswith("sqlite") else "SERIAL PRIMARY KEY"
    db.execute_sql(f"CREATE TABLE IF NOT EXISTS items (id {key}, name VARCHAR(20))")
    for name in names:
        db.execute_sql(f"INSERT INTO items (name) VALUES ('{name}')")
    db.close()


def names(db_url):
    db = open_database(db_url)
    try:
        return [row[0] for row in db.execute_sql("SELECT name FROM items ORDER BY id").fetchall()]
    finally:
        db.close()


def test_backup_then_restore_brings_back_deleted_rows(db_url, tmp_path):
    fill(db_url, ["a", "b", "c"])
    path = backup(db_url, out=tmp_path / "backups" / "one.bak")
    assert path.exists() and path.stat().st_size > 0
    db = open_database(db_url)
    db.execute_sql("DELETE FROM items WHERE name <> 'a'")
    db.close()
    assert names(db_url) == ["a"]
    restore(db_url, path)
    assert names(db_url) == ["a", "b", "c"]


def test_sqlite_backup_while_a_writer_is_busy_holds_committed_rows_only(sqlite_url, tmp_path):
    fill(sqlite_url, ["committed"])
    writer = sqlite3.connect(sqlite_url.split(":///", 1)[1], timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO items (name) VALUES ('uncommitted')")
    result = {}
    worker = threading.Thread(target=lambda: result.update(path=backup(sqlite_url, out=tmp_path / "b.sqlite3")))
    worker.start()
    worker.join(timeout=10)
    writer.rollback()
    writer.close()
    assert not worker.is_alive()
    copy = sqlite3.connect(result["path"])
    assert copy.execute("SELECT name FROM items").fetchall() == [("committed",)]
    copy.close()


def test_backup_never_overwrites(sqlite_url, tmp_path):
    fill(sqlite_url, ["a"])
    target = tmp_path / "exists.sqlite3"
    target.write_text("keep me")
    with pytest.raises(AppError, match="already exists; nothing was written"):
        backup(sqlite_url, out=target)
    assert target.read_text() == "keep me"


def test_default_backup_name_has_database_and_time(sqlite_url, tmp_path, monkeypatch):
    import datetime as dt

    fill(sqlite_url, ["a"])
    monkeypatch.chdir(tmp_path)
    path = backup(sqlite_url, now=dt.datetime(2026, 11, 25, 6, 30, tzinfo=dt.timezone.utc))
    assert str(path) == "backups/test-20261125T063000Z.sqlite3"


def test_missing_pg_dump_says_how_to_back_up_on_railway(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AppError) as failure:
        backup(pg_url.replace("postgres@", "postgres:pw123@"), out=tmp_path / "x.dump")
    message = str(failure.value)
    assert message.startswith("pg_dump is not installed on this machine")
    assert "Backups tab" in message and "pw123" not in message


def test_pg_dump_failure_is_clear_masked_and_leaves_no_file(pg_url, tmp_path):
    broken = pg_url.rsplit("/", 1)[0].replace("postgres@", "postgres:pw123@") + "/no_such_database_x"
    with pytest.raises(AppError) as failure:
        backup(broken, out=tmp_path / "x.dump")
    assert "pg_dump failed for postgresql://postgres:***@" in str(failure.value)
    assert "pw123" not in str(failure.value)
    assert not (tmp_path / "x.dump").exists()


def test_restore_command_is_documented_for_both_databases():
    assert restore_command("sqlite:///analyzer.db", "backups/a.sqlite3").startswith("stop the app, then: cp backups/a.sqlite3 analyzer.db")
    assert restore_command("postgresql://u@h/d", "b.dump") == (
        'pg_restore --clean --if-exists --no-owner --single-transaction --dbname "$DATABASE_URL" b.dump')


def test_cli_backup_and_restore_round_trip(sqlite_url, tmp_path):
    fill(sqlite_url, ["a", "b"])
    made = run_cli(ROOT, "db", "backup", "--out", str(tmp_path / "cli.sqlite3"), env={"DATABASE_URL": sqlite_url})
    assert made.code == 0, made.err
    assert made.out.startswith(f"Backed up {sqlite_url} to {tmp_path / 'cli.sqlite3'}")
    fill(sqlite_url, ["c"])
    restored = run_cli(ROOT, "db", "restore", str(tmp_path / "cli.sqlite3"), env={"DATABASE_URL": sqlite_url})
    assert restored.code == 0, restored.err
    assert names(sqlite_url) == ["a", "b"]


@pytest.mark.parametrize("start, said", [(b"PGDMP\x01\x0e\x00", "it is not a SQLite backup (it is a PostgreSQL dump"),
                                         (b"session_id,started_at\n", "it is not a SQLite backup. Nothing was changed.")])
def test_restoring_a_file_that_is_not_a_sqlite_backup_says_so_and_changes_nothing(sqlite_url, tmp_path, start, said):
    fill(sqlite_url, ["a"])
    (tmp_path / "other.dump").write_bytes(start + b"\x00" * 64)
    with pytest.raises(AppError, match=f"Cannot restore {tmp_path / 'other.dump'}: " + said.replace("(", "\\(")):
        restore(sqlite_url, tmp_path / "other.dump")
    assert names(sqlite_url) == ["a"]


def test_restoring_a_folder_says_so(sqlite_url, tmp_path):
    with pytest.raises(AppError, match=f"Cannot restore {tmp_path}: is a directory. Nothing was changed."):
        restore(sqlite_url, tmp_path)


def test_cli_restore_of_a_missing_or_wrong_file_says_so_before_announcing_the_restore(db_url, tmp_path):
    (tmp_path / "notes.txt").write_text("not a backup")
    (tmp_path / "other.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00" * 64)
    wrong = ("notes.txt", "it is not a SQLite backup") if db_url.startswith("sqlite") else (
        "other.sqlite3", "it is a SQLite backup")  # other files are pg_restore's to judge (a tar dump, say)
    for name, said in (("nope.dump", "the file does not exist"), wrong):
        result = run_cli(ROOT, "db", "restore", str(tmp_path / name), "--yes", env={"DATABASE_URL": db_url})
        assert result.code == 1 and f"Cannot restore {tmp_path / name}: {said}" in result.err
        assert "Restoring" not in result.out + result.err and "replaced" not in result.out + result.err


def test_restoring_a_sqlite_backup_into_postgresql_says_so(pg_url, sqlite_url, tmp_path):
    fill(sqlite_url, ["a"])
    made = backup(sqlite_url, out=tmp_path / "b.sqlite3")
    with pytest.raises(AppError, match=r"it is a SQLite backup: restore it into a SQLite database. Nothing was changed."):
        restore(pg_url, made)


def test_cli_restore_in_production_needs_yes(pg_url, tmp_path):
    (tmp_path / "x.dump").write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    result = run_cli(ROOT, "db", "restore", str(tmp_path / "x.dump"),
                     env={"DATABASE_URL": pg_url, "APP_ENV": "production", "SECRET_KEY": "k" * 32})
    assert result.code == 2
    assert "Pass --yes to confirm" in result.err


def test_run_with_backup_takes_one_first(make_ctx, migrations_dir, db_url, tmp_path, monkeypatch):
    from analyzer.migrate import commands
    from tests.conftest import write_migration

    fill(db_url, ["a"])
    monkeypatch.chdir(tmp_path)
    write_migration(migrations_dir, "001_note", 'migrator.sql("ALTER TABLE items ADD COLUMN note TEXT")')
    ctx = make_ctx()
    assert commands.run(ctx, backup=True) == 0
    made = list((tmp_path / "backups").iterdir())
    assert len(made) == 1
    text = ctx.out.text
    assert f"Backed up the database to backups/{made[0].name}" in text
    assert text.index("Backed up the database") < text.index("Applied 001_note")
    if db_url.startswith("sqlite"):  # the copy is of the database before the migration
        copy = sqlite3.connect(made[0])
        assert [row[1] for row in copy.execute("PRAGMA table_info(items)")] == ["id", "name"]
        copy.close()
