"""The bulk demo loader: realistic sessions and funnel events as one undoable import, rollups current, statistics fresh."""

import datetime as dt

import pytest

from analyzer.analytics import dashboard, raw
from analyzer.analytics.query import DIMENSIONS, make_query
from analyzer.config import Settings
from analyzer.db import init_database, is_sqlite
from analyzer.ingest import demo, demo_bulk, importer, rollups, store, values
from analyzer.models import CustomerSession, Import, SessionEvent
from tests.conftest import ROOT, migrated, run_cli


@pytest.fixture
def db(db_url):
    """A migrated database bound to the models."""
    database = init_database(Settings(database_url=migrated(db_url)))
    yield database
    database.close()


def test_bulk_demo_writes_realistic_sessions_and_funnels_that_undo_removes(db):
    today = dt.date(2026, 6, 1)
    loaded = demo_bulk.load(db, 4000, 60, seed=3, today=today)
    assert (loaded.sessions, CustomerSession.select().count()) == (4000, 4000)
    assert SessionEvent.select().count() == loaded.events > 0
    record = Import.get_by_id(loaded.import_id)
    assert (record.status, record.sessions_written, record.events_written) == ("done", 4000, loaded.events)
    first = CustomerSession.select().order_by(CustomerSession.started_at).first().started_at
    assert dt.datetime(2026, 4, 2) <= first and CustomerSession.select(
        CustomerSession.started_at).order_by(CustomerSession.started_at.desc()).first().started_at < dt.datetime(2026, 6, 1)
    customers = {s.customer_id for s in CustomerSession.select(CustomerSession.customer_id)}
    assert 0.6 * 4000 < len(customers) < 0.85 * 4000
    assert 0.015 < CustomerSession.select().where(CustomerSession.converted).count() / 4000 < 0.06
    assert {s.channel for s in CustomerSession.select(CustomerSession.channel)} >= {
        "direct", "organic search", "paid search", "social", "email", "referral"}
    buyer = (CustomerSession.select().join(SessionEvent).where(SessionEvent.event_type == "purchase").first())
    steps = [e.event_type for e in SessionEvent.select().where(SessionEvent.session == buyer.id)
             .order_by(SessionEvent.occurred_at)]
    assert steps[0] == "page_view" and steps[-3:] == ["add_to_cart", "begin_checkout", "purchase"]
    assert steps.count("page_view") == buyer.page_views and len(steps) == buyer.events

    query = make_query(dt.date(2026, 4, 1), dt.date(2026, 5, 31), "previous")
    assert dashboard.stats(query)["sessions"].value == 4000
    assert dashboard.stats(query)["revenue"].value == raw.totals(query).revenue
    for dimension in DIMENSIONS:
        assert sorted(r.sessions for r in dashboard.breakdown(query, dimension, 100).rows) == sorted(
            r[1] for r in raw.rows(query, dimension))
    if not is_sqlite(db):
        analyzed = db.execute_sql("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
        assert {"customer_sessions", "session_events", "customer_firsts", *rollups.TABLES} <= {r[0] for r in analyzed}

    importer.undo(db, loaded.import_id)
    assert (CustomerSession.select().count(), SessionEvent.select().count()) == (0, 0)
    assert dashboard.stats(query)["sessions"].value == 0


def indexes(db, table):
    """Return the secondary indexes of TABLE with their definitions."""
    statement = store.SECONDARY_INDEXES["sqlite" if is_sqlite(db) else "postgres"]
    return sorted(db.execute_sql(statement, (table,)).fetchall())


def test_an_empty_table_gets_its_indexes_built_after_the_rows_and_a_failed_load_keeps_them(db, monkeypatch):
    before = {table: indexes(db, table) for table in ("customer_sessions", "session_events")}
    assert len(before["customer_sessions"]) >= 8 and before["session_events"]
    seen = []
    draw = demo_bulk._draw
    monkeypatch.setattr(demo_bulk, "_draw", lambda *a: seen.append(indexes(db, "customer_sessions")) or draw(*a))

    def fail(*_):
        raise RuntimeError("killed")

    monkeypatch.setattr(rollups, "refresh_rollups", fail)
    with pytest.raises(RuntimeError):
        demo_bulk.load(db, 3000, 30, seed=3)
    assert seen == [[]]
    assert {table: indexes(db, table) for table in before} == before
    assert CustomerSession.select().count() == 0

    monkeypatch.undo()
    monkeypatch.setattr(demo_bulk, "_draw", lambda *a: seen.append(indexes(db, "customer_sessions")) or draw(*a))
    demo_bulk.load(db, 3000, 30, seed=3)
    assert {table: indexes(db, table) for table in before} == before
    demo_bulk.load(db, 2000, 30, seed=4)  # into a table with rows: its indexes stay the whole time
    assert seen[1:] == [[], before["customer_sessions"]]
    assert CustomerSession.select().count() == 5000
    assert (db.execute_sql("SELECT COUNT(DISTINCT session_key) FROM customer_sessions").fetchone()[0]) == 5000


def test_the_demo_values_need_no_quoting_in_the_copy_text():
    # PostgreSQL's demo rows are joined with commas unquoted: a value with a comma, quote or line break would shift
    # the columns.
    texts = [v for row in (*demo.CHANNELS, *demo.DEVICES, *demo.COUNTRIES) for v in row if isinstance(v, str)]
    texts += [values.channel(None, source, medium, referrer) for _, source, medium, referrer in demo.CHANNELS]
    for value in texts + demo.LANDINGS + demo.PRODUCTS + ["/checkout", "/checkout/thank-you"]:
        assert not set(value) & set(',"\r\n'), value


def test_sqlite_scans_the_table_for_a_window_of_most_sessions_and_walks_started_at_for_a_day(db):
    demo_bulk.load(db, 2000, 40, seed=5, today=dt.date(2026, 6, 1))
    whole = (dt.datetime(2026, 4, 22), dt.datetime(2026, 6, 1))
    day = (dt.datetime(2026, 5, 20), dt.datetime(2026, 5, 21))
    if not is_sqlite(db):
        assert rollups._plus(db, *whole) == ""  # PostgreSQL has statistics, and no unary + for a timestamp
        return
    assert (rollups._plus(db, *whole), rollups._plus(db, *day)) == ("+", "")

    def plan(plus):
        sql = rollups.STAGE.format(day="s.started_at", p="?", plus=plus, **rollups.STORED_SESSIONS).split(" AS\n", 1)[1]
        return " ".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, day))

    assert "SCAN s" in plan("+") and "customersession_started_at" in plan("")


@pytest.mark.parametrize("option, value", [("--days", "0"), ("--days", "3651"), ("--sessions", "0"),
                                           ("--sessions", "-3"), ("--sessions", "1e3")])
def test_demo_sizes_outside_their_range_are_a_usage_error(tmp_path, option, value):
    # --days 0 ended in 'Unexpected error: IndexError'; --sessions 0 blamed an empty file of records.
    result = run_cli(ROOT, "demo", option, value, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"})
    assert result.code == 2 and f"argument {option}: '{value}' is not a whole number from 1 to" in result.err
    assert "Unexpected error" not in result.err and not (tmp_path / "a.db").exists()
