"""Definitions checked against a plain computation: unknown channel, durations given in parts, local times."""

import csv
import datetime as dt
import gzip
import json

from analyzer.config import Settings
from analyzer.db import init_database
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions
from analyzer.models import CustomerSession, Import
from tests.conftest import ROOT, run_cli
from tests.test_ingest_import import REAL, db, write  # noqa: F401 (the migrated-database fixture)


def test_a_file_without_traffic_columns_has_unknown_channels(db):  # noqa: F811
    importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz")
    assert {s.channel for s in CustomerSession.select()} == {"unknown"}


def test_empty_traffic_columns_mean_direct(db, tmp_path):  # noqa: F811
    text = "session_id,started_at,utm_source,utm_medium\ns1,2026-03-01T10:00:00Z,,\ns2,2026-03-01T11:00:00Z,google,cpc\n"
    importer.import_file(db, write(tmp_path, "s.csv", text))
    assert sorted(s.channel for s in CustomerSession.select()) == ["direct", "paid search"]
    events = "user_id,timestamp,page\nu1,2026-03-01T10:00:00Z,/\n"
    importer.import_file(db, write(tmp_path, "e.csv", events))
    assert CustomerSession.get(CustomerSession.customer_id == "u1").channel == "unknown"


def test_durations_in_parts_are_summed_then_rounded_once(db, tmp_path):  # noqa: F811
    text = ("Administrative,Administrative_Duration,Informational,Informational_Duration,ProductRelated,"
            "ProductRelated_Duration,Month\n1,0.4,1,0.4,1,0.4,Feb\n")
    importer.import_file(db, write(tmp_path, "uci.csv", text), ImportOptions(year=2018))
    assert CustomerSession.get().duration_s == 1


def test_real_uci_durations_equal_the_rounded_sums(db):  # noqa: F811
    with gzip.open(REAL / "uci_online_shoppers_intention.csv.gz", "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    parts = ("Administrative_Duration", "Informational_Duration", "ProductRelated_Duration")
    expected = sum(round(sum(max(float(r[p]), 0.0) for p in parts if r[p] not in ("", "-1")))
                   for r in rows if any(r[p] not in ("", "-1") for p in parts))
    importer.import_file(db, REAL / "uci_online_shoppers_intention.csv.gz", ImportOptions(year=2018))
    assert sum(s.duration_s for s in CustomerSession.select()) == expected


BERLIN = ("user_id,timestamp,page\n"
          "u1,2026-03-29 02:30:00,/\n"  # does not exist: the clocks jump from 02:00 to 03:00
          "u2,2026-10-25 02:30:00,/\n"  # happens twice: the clocks go back from 03:00 to 02:00
          "u3,2026-10-25 02:45:00,/\n"
          "u4,2026-10-25 12:00:00,/\n")


def test_local_times_that_do_not_exist_or_happen_twice_are_counted_and_explained(db, tmp_path):  # noqa: F811
    report = importer.import_file(db, write(tmp_path, "b.csv", BERLIN), ImportOptions(timezone="Europe/Berlin"))
    assert report.notes == [
        "1 row(s) have a local time that does not exist in Europe/Berlin (the clocks jumped forward over it); each "
        "was read with the offset before the jump, so 02:30 counts as 03:30 summer time",
        "2 row(s) have a local time that happens twice in Europe/Berlin (the clocks went back over it); each was "
        "read as the first of the two, in summer time"]
    starts = {s.customer_id: s.started_at.isoformat() for s in CustomerSession.select()}
    assert starts == {"u1": "2026-03-29T01:30:00", "u2": "2026-10-25T00:30:00", "u3": "2026-10-25T00:45:00",
                      "u4": "2026-10-25T11:00:00"}
    assert json.loads(Import.get().notes)["notes"] == report.notes


def test_a_revenue_column_of_true_and_false_is_said_to_be_read_as_converted(db, db_url, tmp_path):  # noqa: F811
    path = write(tmp_path, "uci.csv", "Month,ProductRelated,Revenue\nFeb,3,FALSE\nMar,5,TRUE\nMar,1,12.50\n")
    report = importer.import_file(db, path, ImportOptions(year=2025))
    assert report.notes == ["2 row(s) have TRUE or FALSE in the revenue column 'Revenue': each was read as converted "
                            "or not, with no amount"]
    assert sorted((s.converted, float(s.revenue)) for s in CustomerSession.select()) == [
        (False, 0.0), (True, 0.0), (True, 12.5)]
    again = write(tmp_path, "uci2.csv", "Month,ProductRelated,Revenue\nApr,3,TRUE\n")
    result = run_cli(ROOT, "import", str(again), "--year", "2025", env={"DATABASE_URL": db_url})
    assert "Note: 1 row(s) have TRUE or FALSE in the revenue column 'Revenue'" in result.out, result.err


def test_event_types_read_as_page_view_are_named_in_the_report(db):  # noqa: F811
    # REES46 calls its page views 'view': a funnel step event:view found nothing, and nothing said why.
    report = importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz")
    with gzip.open(REAL / "rees46_multicategory_2019-10-01_head.csv.gz", "rt", encoding="utf-8") as handle:
        views = sum(row["event_type"] == "view" for row in csv.DictReader(handle))
    assert views > 0
    assert report.notes == [f"{views:,} 'view' event(s) were read as page_view, the one name of page views in "
                            "funnels and timelines"]
    assert json.loads(Import.get().notes)["notes"] == report.notes


def test_utc_files_have_no_local_time_notes(db, tmp_path):  # noqa: F811
    assert importer.import_file(db, write(tmp_path, "b.csv", BERLIN)).notes == []


def test_cli_prints_the_local_time_notes(db_url, db, tmp_path):  # noqa: F811
    path = write(tmp_path, "la.csv", "user_id,timestamp,page\nu1,2026-03-08 02:30:00,/\n")
    result = run_cli(ROOT, "import", str(path), "--timezone", "America/Los_Angeles", env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    assert "Note: 1 row(s) have a local time that does not exist in America/Los_Angeles" in result.out


def test_stored_times_in_the_last_half_millisecond_of_a_second_are_not_rounded_up(db, tmp_path):  # noqa: F811
    # SQLite's date functions round to milliseconds: a stored 10:00:00.9996 was read as 10:00:01.9996, so an event
    # of the next file 30 minutes and 0.5004 s later (past the 30-minute gap) looked 29:59.5004 later and continued it.
    head = "user_id,timestamp,event_type,page\n"
    importer.import_file(db, write(tmp_path, "1.csv", head + "u1,2026-03-01T10:00:00.9996Z,page_view,/first\n"))
    importer.import_file(db, write(tmp_path, "2.csv", head + "u1,2026-03-01T10:30:01.5Z,page_view,/second\n"))
    found = [(s.started_at, s.landing_page) for s in CustomerSession.select().order_by(CustomerSession.started_at)]
    assert found == [(dt.datetime(2026, 3, 1, 10, 0, 0, 999600), "/first"),
                     (dt.datetime(2026, 3, 1, 10, 30, 1, 500000), "/second")]


COLLATED = ("user_id,timestamp,event_type,page,utm_source\ncoll1,2026-03-21 10:00:00,page_view,/a,alpha\n"
            "coll1,2026-03-21 10:00:00,page_view,/B,beta\ncoll1,2026-03-21 10:05:00,page_view,/x,\n")


def test_same_instant_events_order_the_same_in_any_collation(db, tmp_path):  # noqa: F811
    importer.import_file(db, write(tmp_path, "c.csv", COLLATED))
    assert [(s.landing_page, s.source) for s in CustomerSession.select()] == [("/B", "beta")]  # bytes: B before a


def test_a_postgresql_database_in_the_en_us_collation_gives_the_same_landing_page(pg_url, tmp_path):
    import uuid

    from tests.conftest import _pg_admin, _pg_url, migrated

    name = f"analyzer_test_icu_{uuid.uuid4().hex[:8]}"
    _pg_admin(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    try:
        database = init_database(Settings(database_url=migrated(_pg_url(name))))
        try:
            importer.import_file(database, write(tmp_path, "c.csv", COLLATED))
            assert [(s.landing_page, s.source) for s in CustomerSession.select()] == [("/B", "beta")]
        finally:
            database.close()
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
