"""Environment checks: what production prints, asks and refuses, on SQLite and PostgreSQL."""

import pytest

from analyzer.errors import AppError
from analyzer.migrate import commands, history
from tests.conftest import FakeTerminal, write_migration


def two_migrations(directory):
    write_migration(directory, "001_a", 'migrator.sql("CREATE TABLE a (id INTEGER PRIMARY KEY)")',
                    'migrator.sql("DROP TABLE a")')
    write_migration(directory, "002_b", 'migrator.sql("CREATE TABLE b (id INTEGER PRIMARY KEY)")',
                    'migrator.sql("DROP TABLE b")')


def applied_names(db):
    return [row.name for row in history.applied(db)]


def test_production_run_without_terminal_proceeds_unattended(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    ctx = make_ctx(app_env="production")
    assert commands.run(ctx) == 0
    assert applied_names(db) == ["001_a", "002_b"]
    text = ctx.out.text
    assert "Applying 2 migrations to " in text and "(production):" in text
    assert "Reminder: back up production before migrating" in text
    assert text.index("  001_a") < text.index("Applied 001_a")


def test_production_target_line_names_host_and_database_without_password(pg_url, migrations_dir):
    from analyzer.config import Settings
    from tests.conftest import Console, NoTerminal

    two_migrations(migrations_dir)
    url = pg_url.replace("postgres@", "postgres:hunter2@")
    ctx = commands.Context(settings=Settings(app_env="production", database_url=url, secret_key="k"),
                           directory=migrations_dir, out=Console(), stdin=NoTerminal())
    commands.run(ctx)
    ctx.close()
    dbname = pg_url.rsplit("/", 1)[1]
    assert f"Applying 2 migrations to PostgreSQL 127.0.0.1:5432/{dbname} (production):" in ctx.out.text
    assert "hunter2" not in ctx.out.text


def test_production_run_on_terminal_asks_and_applies_on_yes(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    terminal = FakeTerminal("yes")
    ctx = make_ctx(app_env="production", stdin=terminal)
    assert commands.run(ctx) == 0
    assert terminal.asked == 1
    assert "Type yes to apply these migrations" in ctx.out.text
    assert applied_names(db) == ["001_a", "002_b"]


def test_production_run_on_terminal_stops_without_yes(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    with pytest.raises(AppError, match="Stopped: not confirmed. Nothing was changed."):
        commands.run(make_ctx(app_env="production", stdin=FakeTerminal("no")))
    assert applied_names(db) == []


def test_production_run_with_yes_flag_does_not_ask(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    terminal = FakeTerminal()
    assert commands.run(make_ctx(app_env="production", yes=True, stdin=terminal)) == 0
    assert terminal.asked == 0
    assert applied_names(db) == ["001_a", "002_b"]


def test_production_rollback_without_terminal_or_yes_refuses(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    with pytest.raises(AppError) as refused:
        commands.rollback(make_ctx(app_env="production"))
    assert refused.value.exit_code == 2
    assert "there is no terminal to ask on. Pass --yes to confirm." in str(refused.value)
    assert applied_names(db) == ["001_a", "002_b"]
    assert db.table_exists("b")


def test_production_rollback_with_yes_runs(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.rollback(make_ctx(app_env="production", yes=True)) == 0
    assert applied_names(db) == ["001_a"]
    assert not db.table_exists("b")


def test_production_rollback_on_terminal_needs_the_database_name_typed(make_ctx, migrations_dir, db, db_url):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    with pytest.raises(AppError, match="not confirmed"):
        commands.rollback(make_ctx(app_env="production", stdin=FakeTerminal("yes")))
    assert applied_names(db) == ["001_a", "002_b"]
    name = db_url.rsplit("/", 1)[1]
    ctx = make_ctx(app_env="production", stdin=FakeTerminal(name))
    assert commands.rollback(ctx) == 0
    assert f'Type the database name "{name}" to roll back these migrations' in ctx.out.text
    assert applied_names(db) == ["001_a"]


def test_production_fake_without_terminal_or_yes_refuses(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    with pytest.raises(AppError, match="Pass --yes to confirm"):
        commands.run(make_ctx(app_env="production"), fake=True)
    assert applied_names(db) == []


def test_production_fake_with_yes_records(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    assert commands.run(make_ctx(app_env="production", yes=True), fake=True) == 0
    assert applied_names(db) == ["001_a", "002_b"]
    assert not db.table_exists("a")


def test_development_rollback_needs_no_confirmation(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.rollback(make_ctx()) == 0
    assert applied_names(db) == ["001_a"]
