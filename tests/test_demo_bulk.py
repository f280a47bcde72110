"""The bulk demo loader: realistic sessions and funnel events as one undoable import, rollups current, statistics fresh."""

import datetime as dt

import pytest

from analyzer.analytics import dashboard, raw
from analyzer.analytics.query import DIMENSIONS, make_query
from analyzer.config import Settings
from analyzer.db import init_database, is_sqlite
from analyzer.ingest import demo_bulk, importer
from analyzer.migrate import commands
from analyzer.models import CustomerSession, Import, SessionEvent


@pytest.fixture
def db(db_url):
    """A migrated database bound to the models."""
    settings = Settings(database_url=db_url)
    ctx = commands.Context(settings=settings, out=lambda *_: None)
    commands.run(ctx)
    ctx.close()
    database = init_database(settings)
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
        analyzed = db.execute_sql("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'customer_sessions'")
        assert analyzed.fetchone()[0] is not None

    importer.undo(db, loaded.import_id)
    assert (CustomerSession.select().count(), SessionEvent.select().count()) == (0, 0)
    assert dashboard.stats(query)["sessions"].value == 0
