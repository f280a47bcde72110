"""The /admin/schema page: current and pending migrations, history with who ran them, archives; read-only."""

import shutil

import pytest
import webtest

from analyzer.config import Settings
from analyzer.db import open_database
from analyzer.migrate import MIGRATIONS_DIR, commands, history, snapshot
from analyzer.migrate import files as mfiles
from analyzer.web import create_app
from tests.conftest import sign_in
from tests.test_migrate_workflow import insert_session

DROP_CAMPAIGN = '''"""Drop the campaign column."""

import peewee as pw


def migrate(migrator, database, *, fake=False):
    migrator.remove_fields("customer_sessions", "campaign")


def rollback(migrator, database, *, fake=False):
    migrator.add_fields("customer_sessions", campaign=pw.TextField(null=True))
'''
ADD_REFERRER = '''"""Add a referrer."""

import peewee as pw


def migrate(migrator, database, *, fake=False):
    migrator.add_fields("customer_sessions", referrer=pw.CharField(max_length=255, null=True))
    migrator.remove_fields("customer_sessions", "device")


def rollback(migrator, database, *, fake=False):
    migrator.remove_fields("customer_sessions", "referrer")
'''


@pytest.fixture
def site(db_url, tmp_path, monkeypatch):
    """An app whose database applied the project's migrations plus one that dropped a column (archived)."""
    monkeypatch.setenv("RAILWAY_DEPLOYMENT_ID", "dep-42")
    monkeypatch.setenv("RAILWAY_GIT_COMMIT_SHA", "c0ffee1234567890")
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    number = mfiles.next_number(mfiles.scan(directory))
    settings = Settings(app_env="test", database_url=db_url, secret_key="k")
    ctx = commands.Context(settings=settings, directory=directory, out=lambda *_: None)
    commands.run(ctx)
    insert_session(db_url, "s1")
    insert_session(db_url, "s2")
    (directory / f"{number:03d}_drop_campaign.py").write_text(DROP_CAMPAIGN)
    commands.run(ctx)
    ctx.close()
    app = create_app(settings, migrations_dir=directory)
    testapp = webtest.TestApp(app)
    sign_in(testapp)
    yield testapp, directory, number
    app.config["analyzer.db"].close()


def test_the_page_shows_history_with_who_ran_each_migration_and_the_archives(site):
    testapp, directory, number = site
    page = testapp.get("/admin/schema")
    text = " ".join(page.html.get_text(" ", strip=True).split())
    assert f"is at {number:03d}_drop_campaign , 0 pending" in text
    assert "None: the database is up to date." in text
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.html.select("table.schema-history tbody tr")]
    assert [r[1] for r in rows] == [f.name for f in reversed(mfiles.scan(directory))]
    newest = rows[0]
    assert newest[3].endswith("@" + __import__("socket").gethostname())
    assert newest[4:7] == ["dep-42", "c0ffee123456", "unchanged"]
    assert rows[-1][3:6] == ["—", "—", "—"]  # written before migration 004 added the columns
    [archive] = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.html.select("table.schema-archives tbody tr")]
    assert archive[:3] == [f"_archive_{number:03d}_customer_sessions__campaign", "customer_sessions.campaign", "2"]
    assert archive[3].endswith(("bytes", "kB")) and archive[4] == f"{number:03d}_drop_campaign"


def test_pending_migrations_show_their_lint_findings_and_sql_while_the_rest_of_the_site_waits(site):
    testapp, directory, number = site
    (directory / f"{number + 1:03d}_add_referrer.py").write_text(ADD_REFERRER)
    testapp.get("/", status=503)
    page = testapp.get("/admin/schema")
    text = " ".join(page.html.get_text(" ", strip=True).split())
    assert "1 pending" in text
    assert page.html.select_one(".schema-pending h3").get_text() == f"{number + 1:03d}_add_referrer"
    findings = [li.get_text(" ", strip=True) for li in page.html.select(".schema-findings li")]
    assert any(f.startswith("error drop-column (line 8): drop column customer_sessions.device") for f in findings)
    assert any(f.startswith("error probable-rename (line 8): add customer_sessions.referrer + drop customer_sessions.device") for f in findings)
    sql = page.html.select_one("pre.schema-sql").get_text()
    assert 'ALTER TABLE "customer_sessions" ADD COLUMN "referrer" VARCHAR(255);' in sql
    assert "device" in sql


def test_the_page_changes_nothing(site, db_url):
    testapp, directory, number = site
    (directory / f"{number + 1:03d}_add_referrer.py").write_text(ADD_REFERRER)
    db = open_database(db_url)
    before = (snapshot.schema(db), snapshot.checksums(db, snapshot.schema(db)), [r.name for r in history.applied(db)],
              sorted(db.get_tables()))
    testapp.get("/admin/schema")
    after = (snapshot.schema(db), snapshot.checksums(db, snapshot.schema(db)), [r.name for r in history.applied(db)],
             sorted(db.get_tables()))
    db.close()
    assert after == before
    assert "referrer" not in before[0].__repr__()


def test_a_file_edited_after_it_was_applied_is_flagged(site):
    testapp, directory, number = site
    path = directory / f"{number:03d}_drop_campaign.py"
    path.write_text(path.read_text() + "\n# edited\n")
    row = testapp.get("/admin/schema").html.select_one("table.schema-history tbody tr")
    assert row.select("td")[-1].get_text() == "edited since it was applied"


def test_only_admins_see_the_page_and_its_link(site):
    testapp, _, _ = site
    page = testapp.get("/admin/schema")
    assert page.html.select_one('nav a[href="/admin/schema"]')["aria-current"] == "page"
    testapp.reset()
    sign_in(testapp, email="analyst@example.com", role="analyst")
    assert testapp.get("/admin/schema", status=403)
    assert testapp.get("/account").html.select_one('a[href="/admin/schema"]') is None
    testapp.reset()
    assert "/login?next=/admin/schema" in testapp.get("/admin/schema", status=302).location
