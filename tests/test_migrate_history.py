"""Who ran each migration: recorded through migration 004's columns, shown by "migrate history"."""

import getpass
import socket

from analyzer.migrate import commands, history
from tests.conftest import ROOT

PROJECT_MIGRATIONS = ROOT / "migrations"
WHO_MIGRATION = "004_record_who_ran_each_migration"


def test_history_records_user_host_deployment_and_commit(make_ctx, db, monkeypatch):
    monkeypatch.setenv("USER", "deployer")
    monkeypatch.setenv("RAILWAY_DEPLOYMENT_ID", "7f3c2a10-dep")
    monkeypatch.setenv("RAILWAY_GIT_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567")
    assert commands.run(make_ctx(directory=PROJECT_MIGRATIONS), to=WHO_MIGRATION) == 0
    rows = history.applied(db)
    runners = history.runners(db)
    expected = {"run_by": f"deployer@{socket.gethostname()}", "deployment_id": "7f3c2a10-dep",
                "git_commit": "0123456789abcdef0123456789abcdef01234567"}
    assert runners[rows[-1].id] == expected
    # The rows written before the columns existed say nothing rather than something invented.
    assert all(runners[r.id] == {"run_by": None, "deployment_id": None, "git_commit": None} for r in rows[:-1])

    ctx = make_ctx(directory=PROJECT_MIGRATIONS)
    assert commands.history(ctx) == 0
    last = ctx.out.lines[-1]
    assert last.split()[3] == WHO_MIGRATION
    assert last.endswith(f"by deployer@{socket.gethostname()}, deploy 7f3c2a10-dep, commit 0123456789ab")
    assert "by " not in ctx.out.lines[1]


def test_history_outside_railway_names_the_os_user_only(make_ctx, db, monkeypatch):
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.delenv("RAILWAY_DEPLOYMENT_ID", raising=False)
    monkeypatch.delenv("RAILWAY_GIT_COMMIT_SHA", raising=False)
    assert commands.run(make_ctx(directory=PROJECT_MIGRATIONS), to=WHO_MIGRATION) == 0
    row = history.applied(db)[-1]
    assert history.runners(db)[row.id] == {"run_by": f"{getpass.getuser()}@{socket.gethostname()}",
                                           "deployment_id": None, "git_commit": None}


def test_rolling_back_the_who_migration_drops_its_columns_and_history_still_works(make_ctx, db):
    directory = PROJECT_MIGRATIONS
    assert commands.run(make_ctx(directory=directory), to=WHO_MIGRATION) == 0
    assert commands.rollback(make_ctx(directory=directory), to="003") == 0
    assert history.who_columns(db) == []
    assert history.runners(db) == {}
    ctx = make_ctx(directory=directory)
    assert commands.history(ctx) == 0
    assert [line.split()[3] for line in ctx.out.lines[1:]][-1].startswith("003_")
    assert commands.run(make_ctx(directory=directory), to=WHO_MIGRATION) == 0
    assert history.who_columns(db) == list(history.WHO_COLUMNS)
    assert history.runners(db)[history.applied(db)[-1].id]["run_by"]


def test_stamp_records_who_stamped(make_ctx, db, monkeypatch):
    monkeypatch.setenv("USER", "stamper")
    assert commands.run(make_ctx(directory=PROJECT_MIGRATIONS), to=WHO_MIGRATION) == 0
    assert commands.rollback(make_ctx(directory=PROJECT_MIGRATIONS), to="003") == 0
    assert commands.run(make_ctx(directory=PROJECT_MIGRATIONS), to=WHO_MIGRATION) == 0
    assert commands.stamp(make_ctx(directory=PROJECT_MIGRATIONS, yes=True), "003") == 0
    assert commands.stamp(make_ctx(directory=PROJECT_MIGRATIONS, yes=True), WHO_MIGRATION) == 0
    row = history.applied(db)[-1]
    assert history.runners(db)[row.id]["run_by"] == f"stamper@{socket.gethostname()}"
