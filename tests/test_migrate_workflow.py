"""The developer's workflow through the real command line, in a copy of the project, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

import pytest

from analyzer.db import open_database
from analyzer.migrate.files import next_number, scan
from tests.conftest import ROOT, run_cli

NEXT = next_number(scan(ROOT / "migrations"))
SESSION_META = '    class Meta:\n        table_name = "customer_sessions"'


def add_fields(project, *lines):
    """Add field lines to CustomerSession in the project's models.py."""
    path = project / "analyzer" / "models.py"
    text = path.read_text()
    assert SESSION_META in text
    path.write_text(text.replace(SESSION_META, "".join(f"    {line}\n" for line in lines) + "\n" + SESSION_META))


def append_models(project, code):
    path = project / "analyzer" / "models.py"
    path.write_text(path.read_text() + "\n\n" + code.strip() + "\n")


def migrate(project, db_url, *args, **kwargs):
    return run_cli(project, "migrate", *args, env={"DATABASE_URL": db_url}, **kwargs)


def columns(db_url, table):
    db = open_database(db_url)
    try:
        return [c.name for c in db.get_columns(table)]
    finally:
        db.close()


def query(db_url, sql):
    db = open_database(db_url)
    try:
        return db.execute_sql(sql).fetchall()
    finally:
        db.close()


def insert_session(db_url, key="s1"):
    db = open_database(db_url)
    try:
        db.execute_sql(
            "INSERT INTO customer_sessions (session_key, customer_id, started_at, duration_s, channel, device, "
            "page_views, events, converted, revenue) VALUES (%s, 'c1', %s, 60, 'direct', 'mobile', 3, 4, %s, 10)"
            .replace("%s", db.param), (key, dt.datetime(2026, 1, 1, 12, 0), False))
    finally:
        db.close()


def test_model_change_goes_through_create_run_rollback_run(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    add_fields(project, "referrer = pw.CharField(max_length=255, null=True)")

    created = migrate(project, db_url, "create", "add referrer to sessions")
    assert created.code == 0, created.err
    path = project / "migrations" / f"{NEXT:03d}_add_referrer_to_sessions.py"
    assert created.out.splitlines()[:2] == [
        f"Created migrations/{NEXT:03d}_add_referrer_to_sessions.py:",
        "  - add column customer_sessions.referrer",
    ]
    assert "Review it before you commit" in created.out
    text = path.read_text()
    assert "migrator.add_fields(\n        'customer_sessions',\n\n        referrer=pw.CharField(max_length=255, null=True))" in text
    assert "migrator.remove_fields('customer_sessions', 'referrer')" in text

    assert migrate(project, db_url, "run").code == 0
    assert "referrer" in columns(db_url, "customer_sessions")
    assert migrate(project, db_url, "rollback").code == 0
    assert "referrer" not in columns(db_url, "customer_sessions")
    assert migrate(project, db_url, "run").code == 0
    assert "referrer" in columns(db_url, "customer_sessions")
    assert migrate(project, db_url, "status").code == 0


def test_create_without_model_changes_writes_nothing(project, db_url):
    result = migrate(project, db_url, "create", "nothing here")
    assert (result.code, result.out.strip()) == (0, "No changes: the models match the migrations. Nothing was written.")
    assert sorted(p.name for p in (project / "migrations").glob("*.py")) == [f.path.name for f in scan(ROOT / "migrations")]


def test_create_numbers_after_the_highest_file_not_by_count(project, db_url):
    (project / "migrations" / f"{NEXT + 3:03d}_hand_written.py").write_text(
        "def migrate(migrator, database, *, fake=False):\n    pass\n\n\n"
        "def rollback(migrator, database, *, fake=False):\n    pass\n")
    result = migrate(project, db_url, "create", "--empty", "Backfill Referrers!")
    assert result.code == 0, result.err
    assert result.out.startswith(f"Created migrations/{NEXT + 4:03d}_backfill_referrers.py (empty template")
    second = migrate(project, db_url, "create", "--empty", "backfill referrers")
    assert second.out.startswith(f"Created migrations/{NEXT + 5:03d}_backfill_referrers.py")
    assert migrate(project, db_url, "run").code == 0


def test_create_refuses_while_an_applied_migration_s_file_is_missing(project, db_url):
    assert migrate(project, db_url, "create", "--empty", "gone soon").code == 0
    assert migrate(project, db_url, "run").code == 0
    (project / "migrations" / f"{NEXT:03d}_gone_soon.py").unlink()
    result = migrate(project, db_url, "create", "--empty", "next")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"the database's history lists {NEXT:03d}_gone_soon, whose file is missing" in result.err
    assert not list((project / "migrations").glob(f"{NEXT:03d}_*.py"))


def test_create_never_overwrites_an_existing_file(project, db_url):
    first = migrate(project, db_url, "create", "--empty", "one")
    assert first.code == 0
    path = project / "migrations" / f"{NEXT:03d}_one.py"
    before = path.read_text()
    (project / "migrations" / f"{NEXT + 1:03d}_two.py").write_text(before)
    result = migrate(project, db_url, "create", "--empty", "two")
    assert result.out.startswith(f"Created migrations/{NEXT + 2:03d}_two.py")
    assert path.read_text() == before


def test_a_mistyped_option_gets_the_commands_usage_and_the_likely_option(project, db_url):
    result = run_cli(project, "import", "--dryrun", "file.csv", env={"DATABASE_URL": db_url})
    assert result.code == 2 and result.err.startswith("usage: python manage.py import [-h]")
    assert result.err.strip().endswith("python manage.py import: error: unrecognized arguments: --dryrun "
                                       "(did you mean --dry-run?)")
    result = migrate(project, db_url, "rollback", "011_record_the_time_zone_of_the_rollups")
    assert result.code == 2 and result.err.startswith("usage: python manage.py migrate rollback [-h]")
    assert "[--steps N | --to NAME]" in result.err
    assert result.err.strip().endswith("unrecognized arguments: 011_record_the_time_zone_of_the_rollups "
                                       "(see python manage.py migrate rollback --help)")
    result = migrate(project, db_url, "--dry-run", "run")  # an option before its verb is no typo to correct
    assert result.code == 2 and "did you mean" not in result.err and "unrecognized arguments: --dry-run" in result.err


def test_a_long_bad_option_value_is_repeated_at_most_80_characters(project, db_url):
    # argparse repeated all 5,000 characters of --kind, --format or --gap-minutes, as the app's messages no longer do.
    result = run_cli(project, "import", "file.csv", "--kind", "k" * 5000, env={"DATABASE_URL": db_url})
    assert result.code == 2 and "'" + "k" * 79 + "…'" in result.err and "k" * 80 not in result.err


def test_merge_is_not_offered(project, db_url):
    result = migrate(project, db_url, "merge")
    assert result.code == 2
    assert "invalid choice: 'merge'" in result.err
    assert (project / "migrations" / "001_initial_customer_sessions.py").exists()


def test_callable_default_migration_runs_on_a_table_with_rows(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    path = project / "analyzer" / "models.py"
    path.write_text("import datetime\n" + path.read_text())
    add_fields(project, "seen_at = pw.DateTimeField(default=datetime.datetime.now)")
    created = migrate(project, db_url, "create", "add seen at")
    assert created.code == 0, created.err
    text = (project / "migrations" / f"{NEXT:03d}_add_seen_at.py").read_text()
    assert "import datetime\n" in text
    assert "seen_at=pw.DateTimeField(default=datetime.datetime.now)" in text
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    (seen_at,), = query(db_url, "SELECT seen_at FROM customer_sessions")
    assert seen_at is not None


def test_lambda_default_on_not_null_column_is_refused_with_a_fix(project, db_url):
    add_fields(project, "seen_at = pw.DateTimeField(default=lambda: None)")
    result = migrate(project, db_url, "create", "add seen at")
    assert result.code == 1
    assert "customer_sessions.seen_at is NOT NULL with a default a migration cannot import" in result.err
    assert "Traceback" not in result.err
    assert not (project / "migrations" / f"{NEXT:03d}_add_seen_at.py").exists()


def test_a_not_null_column_without_default_is_refused_with_the_two_ways_to_add_it(project, db_url):
    add_fields(project, "region = pw.CharField(max_length=32)")
    result = migrate(project, db_url, "create", "add region")
    assert result.code == 1
    assert result.err.startswith("Error: The generated migration does not run (customer_sessions.region is NOT NULL "
                                 "without a default")
    assert "nothing was written" in result.err and "Traceback" not in result.err
    assert 'migrator.backfill("customer_sessions", "region", "SQL expression")' in result.err
    assert 'migrator.set_not_null("customer_sessions", "region")' in result.err
    assert not (project / "migrations" / f"{NEXT:03d}_add_region.py").exists()
    sums = [directory / "migrations" / "migrations.sum" for directory in (project, ROOT)]
    assert sums[0].read_text() == sums[1].read_text()


def test_decimal_default_migration_imports_decimal_and_runs(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    add_fields(project, "refunds = pw.DecimalField(max_digits=12, decimal_places=2, default=0)")
    assert migrate(project, db_url, "create", "add refunds").code == 0
    text = (project / "migrations" / f"{NEXT:03d}_add_refunds.py").read_text()
    assert "from decimal import Decimal, ROUND_HALF_EVEN\n" in text
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert query(db_url, "SELECT refunds FROM customer_sessions") in ([(Decimal("0"),)], [(0,)])


def test_abstract_and_fieldless_base_models_are_not_tables(project, db_url):
    append_models(project, '''
class Audited(BaseModel):
    """A fieldless base of other models."""


class Note(Audited):
    """A note on a session."""

    text = pw.TextField()

    class Meta:
        table_name = "notes"
''')
    created = migrate(project, db_url, "create", "add notes")
    assert created.code == 0, created.err
    assert created.out.splitlines()[1] == "  - create table notes (2 columns)"
    assert migrate(project, db_url, "run").code == 0
    db = open_database(db_url)
    tables = db.get_tables()
    db.close()
    assert "notes" in tables
    assert not {"audited", "basemodel"} & set(tables)


def test_table_rebuild_keeps_child_rows_and_foreign_keys(project, db_url):
    append_models(project, '''
class PageView(BaseModel):
    """One page seen in a session."""

    session = pw.ForeignKeyField(CustomerSession, on_delete="CASCADE", backref="views")
    path = pw.TextField()

    class Meta:
        table_name = "page_views"
''')
    assert migrate(project, db_url, "create", "add page views").code == 0
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    db = open_database(db_url)
    (session_id,), = db.execute_sql("SELECT id FROM customer_sessions").fetchall()
    for path in ("/", "/cart", "/checkout"):
        db.execute_sql(f"INSERT INTO page_views (session_id, path) VALUES ({session_id}, '{path}')")
    db.close()
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace(
        'device = pw.CharField(max_length=16, default="unknown", index=True)',
        'device = pw.CharField(max_length=40, default="unknown", index=True)').replace(
        "ended_at = pw.DateTimeField(null=True)", "ended_at = pw.DateTimeField(null=True, index=True)"))
    created = migrate(project, db_url, "create", "widen device")
    assert created.code == 0, created.err
    assert "change column customer_sessions.device" in created.out
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert query(db_url, "SELECT COUNT(*) FROM page_views") == [(3,)]
    assert query(db_url, "SELECT COUNT(*) FROM customer_sessions") == [(1,)]
    if db_url.startswith("sqlite"):
        assert query(db_url, "PRAGMA foreign_key_check") == []
    assert references(db_url) == [("session_id", "customer_sessions", "id")]
    assert migrate(project, db_url, "rollback").code == 0
    assert query(db_url, "SELECT COUNT(*) FROM page_views") == [(3,)]
    assert references(db_url) == [("session_id", "customer_sessions", "id")]


def references(db_url):
    """Return page_views' foreign keys as (column, table, column)."""
    db = open_database(db_url)
    try:
        return [(fk.column, fk.dest_table, fk.dest_column) for fk in db.get_foreign_keys("page_views")]
    finally:
        db.close()


def test_add_not_null_rebuild_keeps_child_rows(project, db_url):
    append_models(project, '''
class PageView(BaseModel):
    """One page seen in a session."""

    session = pw.ForeignKeyField(CustomerSession, on_delete="CASCADE", backref="views")

    class Meta:
        table_name = "page_views"
''')
    assert migrate(project, db_url, "create", "add page views").code == 0
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    db = open_database(db_url)
    db.execute_sql("UPDATE customer_sessions SET source = 'google'")
    (session_id,), = db.execute_sql("SELECT id FROM customer_sessions").fetchall()
    db.execute_sql(f"INSERT INTO page_views (session_id) VALUES ({session_id})")
    db.close()
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace(
        "source = pw.CharField(max_length=255, null=True)", "source = pw.CharField(max_length=255)"))
    created = migrate(project, db_url, "create", "source required")
    assert "set NOT NULL on customer_sessions.source" in created.out
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert query(db_url, "SELECT COUNT(*) FROM page_views") == [(1,)]


def test_a_dropped_not_null_column_comes_back_with_its_values_through_create_run_rollback(project, db_url):
    append_models(project, '''
class Bookmark(BaseModel):
    """A page a customer saved."""

    path = pw.TextField()
    title = pw.CharField(max_length=100)

    class Meta:
        table_name = "bookmarks"
''')
    assert migrate(project, db_url, "create", "add bookmarks").code == 0
    assert migrate(project, db_url, "run").code == 0
    db = open_database(db_url)
    db.execute_sql("INSERT INTO bookmarks (path, title) VALUES ('/a', 'Home'), ('/b', 'Cart')")
    db.close()
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace("    title = pw.CharField(max_length=100)\n", ""))
    created = migrate(project, db_url, "create", "drop bookmark title")
    assert created.code == 0, created.err
    assert "error drop-column" in created.out and "Lint: 1 file(s), 1 error(s), 0 warning(s)" in created.out
    assert migrate(project, db_url, "rehearse").code == 0
    assert migrate(project, db_url, "run").code == 0
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert "restored 2 rows of bookmarks.title" in back.out
    assert query(db_url, "SELECT path, title FROM bookmarks ORDER BY id") == [("/a", "Home"), ("/b", "Cart")]
    db = open_database(db_url)
    assert [c.null for c in db.get_columns("bookmarks") if c.name == "title"] == [False]
    db.close()


def test_removing_an_indexed_column_drops_its_index_first(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace(
        '    device = pw.CharField(max_length=16, default="unknown", index=True)\n', ""))
    refused = migrate(project, db_url, "create", "drop device")
    assert refused.code == 1
    assert "CustomerSession's Meta.indexes names device, which is not a field of CustomerSession" in refused.err
    assert len(list((project / "migrations").glob("0*.py"))) == len(list((ROOT / "migrations").glob("0*.py")))
    models.write_text(models.read_text().replace('("channel", "country", "device")', '("channel", "country")'))
    created = migrate(project, db_url, "create", "drop device")
    assert created.code == 0, created.err
    assert "drop column customer_sessions.device" in created.out
    assert "add index on customer_sessions (channel, country)" in created.out
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert "device" not in columns(db_url, "customer_sessions")
    assert ("channel", "country") in indexes(db_url, "customer_sessions")
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert "device" in columns(db_url, "customer_sessions")
    restored = indexes(db_url, "customer_sessions")
    assert ("channel", "country", "device") in restored and ("channel", "country") not in restored


def indexes(db_url, table):
    db = open_database(db_url)
    try:
        return {tuple(i.columns): i.name for i in db.get_indexes(table)}
    finally:
        db.close()


def test_dropping_a_fields_index_is_one_statement_on_the_index_001_named(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace(
        '    device = pw.CharField(max_length=16, default="unknown", index=True)\n',
        '    device = pw.CharField(max_length=16, default="unknown")\n'))
    created = migrate(project, db_url, "create", "unindex device")
    assert created.code == 0, created.err
    text = (project / "migrations" / f"{NEXT:03d}_unindex_device.py").read_text()
    assert "change_fields" not in text  # a flag alone rebuilt the whole table twice on SQLite
    assert "migrator.drop_index('customer_sessions', 'device')" in text
    assert indexes(db_url, "customer_sessions")[("device",)] == "customersession_device"  # not the table's name
    preview = migrate(project, db_url, "sql")
    assert preview.code == 0, preview.err
    assert [line for line in preview.out.splitlines() if line and not line.startswith("--")] == [
        'DROP INDEX "customersession_device";']
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert ("device",) not in indexes(db_url, "customer_sessions")
    assert migrate(project, db_url, "check").code == 0
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert ("device",) in indexes(db_url, "customer_sessions")
    assert query(db_url, "SELECT COUNT(*) FROM customer_sessions") == [(1,)]


def unindex_country(project, db_url):
    """Apply the migrations, drop index=True from CustomerSession.country, create the migration; return its text."""
    assert migrate(project, db_url, "run").code == 0
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace("    country = pw.CharField(max_length=2, null=True, index=True)",
                                                 "    country = pw.CharField(max_length=2, null=True)"))
    created = migrate(project, db_url, "create", "unindex country")
    assert created.code == 0, created.err
    return (project / "migrations" / f"{NEXT:03d}_unindex_country.py").read_text()


def test_the_rollback_of_a_dropped_index_names_it_as_001_did(project, db_url):
    text = unindex_country(project, db_url)
    assert "migrator.drop_index('customer_sessions', 'country')" in text
    assert "migrator.add_index('customer_sessions', 'country', unique=False, name='customersession_country')" in text


def test_rolling_back_a_dropped_index_restores_it_under_its_own_name(project, db_url):
    unindex_country(project, db_url)
    assert indexes(db_url, "customer_sessions")[("country",)] == "customersession_country"
    assert migrate(project, db_url, "run").code == 0
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert indexes(db_url, "customer_sessions")[("country",)] == "customersession_country"


def test_a_table_renamed_without_rename_is_dropped_before_its_successor_takes_its_index_names(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    db = open_database(db_url)
    try:
        db.execute_sql("INSERT INTO saved_funnels (name, steps, unit, created_at, updated_at) "
                       "VALUES ('checkout', '[]', 'session', %s, %s)".replace("%s", db.param),
                       (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1)))
    finally:
        db.close()
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace('table_name = "saved_funnels"', 'table_name = "funnels_saved"'))
    created = migrate(project, db_url, "create", "rename saved funnels")
    assert created.code == 0, created.err
    assert created.out.splitlines()[1:3] == ["  - drop table saved_funnels",
                                             "  - create table funnels_saved (7 columns)"]
    assert "error probable-rename: create table funnels_saved + drop table saved_funnels" in created.out
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert indexes(db_url, "funnels_saved")[("name",)] == "savedfunnel_name"  # it was skipped: the old table had it
    assert query(db_url, "SELECT COUNT(*) FROM funnels_saved") == [(0,)]
    checked = migrate(project, db_url, "check")  # the models match; the pair stays a lint error, as in CI
    assert checked.code == 1 and "models differ" not in checked.out
    assert "error probable-rename: create table funnels_saved + drop table saved_funnels" in checked.out
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert indexes(db_url, "saved_funnels")[("name",)] == "savedfunnel_name"
    assert query(db_url, "SELECT name FROM saved_funnels") == [("checkout",)]


def index_campaign(project, db_url, transaction):
    """Give campaign an index through migrate create, then make the generated migration build it concurrently."""
    models = project / "analyzer" / "models.py"
    models.write_text(models.read_text().replace(
        "    campaign = pw.CharField(max_length=255, null=True)\n",
        "    campaign = pw.CharField(max_length=255, null=True, index=True)\n", 1))
    created = migrate(project, db_url, "create", "index campaign")
    assert created.code == 0, created.err
    path = project / "migrations" / f"{NEXT:03d}_index_campaign.py"
    text = path.read_text()
    assert "migrator.add_index('customer_sessions', 'campaign', unique=False)" in text
    assert "change_fields" not in text
    text = text.replace("unique=False)", "unique=False, concurrently=True)")
    text = text.replace("migrator.drop_index('customer_sessions', 'campaign')",
                        "migrator.drop_index('customer_sessions', 'campaign', concurrently=True)")
    if not transaction:
        text = text.replace("from peewee_migrate import Migrator\n",
                            "from peewee_migrate import Migrator\n\nTRANSACTION = False\n")
    path.write_text(text)
    assert migrate(project, db_url, "sum").code == 0


def test_an_index_built_concurrently_outside_a_transaction(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    insert_session(db_url)
    index_campaign(project, db_url, transaction=False)
    preview = migrate(project, db_url, "sql")
    assert preview.code == 0, preview.err
    how = "" if "sqlite" in db_url else "CONCURRENTLY "
    built = f'CREATE INDEX {how}IF NOT EXISTS "customer_sessions_campaign" ON "customer_sessions" ("campaign");'
    assert built in preview.out
    linted = migrate(project, db_url, "lint")
    assert linted.code == 0 and "index-not-concurrent" not in linted.out, linted.out
    ran = migrate(project, db_url, "run")
    assert ran.code == 0, ran.err
    assert indexes(db_url, "customer_sessions")[("campaign",)] == "customer_sessions_campaign"
    assert migrate(project, db_url, "check").code == 0
    back = migrate(project, db_url, "rollback")
    assert back.code == 0, back.err
    assert ("campaign",) not in indexes(db_url, "customer_sessions")
    assert query(db_url, "SELECT COUNT(*) FROM customer_sessions") == [(1,)]


def test_concurrently_inside_a_transaction_says_what_to_change(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    index_campaign(project, db_url, transaction=True)
    assert "error concurrent-in-transaction" in migrate(project, db_url, "lint").out  # on SQLite too, before a deploy
    ran = migrate(project, db_url, "run")
    if "sqlite" in db_url:  # SQLite has no CONCURRENTLY: a plain CREATE INDEX runs in the transaction
        assert ran.code == 0, ran.err
        return
    assert ran.code != 0
    assert "concurrently=True runs outside a transaction: put TRANSACTION = False at the top of the file" in ran.err
    assert "Traceback" not in ran.err
    assert ("campaign",) not in indexes(db_url, "customer_sessions")


@pytest.mark.parametrize("verb", ["status", "list", "history", "run", "rollback"])
def test_history_row_without_file_gives_a_clear_error(project, db_url, verb):
    assert migrate(project, db_url, "run").code == 0
    (project / "migrations" / "001_initial_customer_sessions.py").rename(project / "kept.py")
    result = migrate(project, db_url, verb)
    assert "Traceback" not in result.err
    if verb in ("status", "run", "rollback"):
        assert result.code == 2
        assert "history lists 001_initial_customer_sessions but migrations/001_initial_customer_sessions.py is missing" \
            in result.out + result.err
    else:
        assert result.code == 0
        assert "001_initial_customer_sessions" in result.out
