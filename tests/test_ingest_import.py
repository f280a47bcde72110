"""Importing files: every format and alias family, all-or-nothing, idempotence, undo, sessionizing, real data."""

import codecs
import csv
import datetime as dt
import gzip
import io
import json
import re
import socket
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import peewee
import pytest

from analyzer.config import Settings
from analyzer.db import init_database
from analyzer.errors import AppError
from analyzer.ingest import changes, demo, export, importer, rollups, store
from analyzer.ingest.options import ImportOptions
from analyzer.migrate import commands
from analyzer.models import CustomerSession, DailyRollup, Import, SessionEvent
from tests.conftest import ROOT, migrated, run_cli

REAL = ROOT / "tests" / "data" / "real"  # gzipped copies of ../shared/data/real


@pytest.fixture
def db(db_url):
    """A migrated database bound to the models."""
    database = init_database(Settings(database_url=migrated(db_url)))
    yield database
    database.close()


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding=encoding, newline="") as handle:
            handle.write(text)
    else:
        path.write_bytes(text.encode(encoding))
    return path


def sessions():
    return list(CustomerSession.select().order_by(CustomerSession.started_at, CustomerSession.id))


SHOPIFY = (
    "session_token,customer_id,session_started_at,session_duration,count_of_pageviews,landing_page_url,"
    "referrer_source,utm_source,utm_medium,utm_campaign,device_type,country_code,total_sales\n"
    "tok-1,c-1,2026-03-01T10:00:00Z,120,4,/collections/sale,,google,cpc,spring,Mobile,DE,59.90\n"
    "tok-2,c-2,2026-03-01T11:00:00Z,30,1,/,,,,,desktop,US,0\n"
)


def test_shopify_session_export(db, tmp_path):
    report = importer.import_file(db, write(tmp_path, "shopify.csv", SHOPIFY))
    assert (report.kind, report.rows_read, report.sessions_created) == ("sessions", 2, 2)
    first, second = sessions()
    assert (first.session_key, first.customer_id, first.started_at, first.duration_s, first.page_views) == (
        "tok-1", "c-1", dt.datetime(2026, 3, 1, 10), 120, 4)
    assert (first.channel, first.source, first.medium, first.campaign, first.device, first.country) == (
        "paid search", "google", "cpc", "spring", "mobile", "DE")
    assert first.converted and first.revenue == Decimal("59.90") and first.ended_at == dt.datetime(2026, 3, 1, 10, 2)
    assert (second.channel, second.converted, second.landing_page) == ("direct", False, "/")


def test_google_analytics_report_names(db, tmp_path):
    text = ("sessionId,userId,sessionStart,sessionSource,sessionMedium,sessionCampaignName,deviceCategory,country,"
            "screenPageViews,purchaseRevenue\n"
            "g1,u1,2026-02-01 08:00:00,newsletter,email,feb,tablet,France,3,12.5\n")
    importer.import_file(db, write(tmp_path, "ga4.csv", text))
    (row,) = sessions()
    assert (row.channel, row.device, row.country, row.page_views, row.revenue, row.campaign) == (
        "email", "tablet", "FR", 3, Decimal("12.50"), "feb")


def test_segment_ndjson_with_nested_context_and_gzip(db, tmp_path):
    lines = [
        {"anonymous_id": "a1", "timestamp": "2026-03-01T10:00:00Z", "event": "page_view",
         "context": {"page": {"path": "/"}, "campaign": {"source": "instagram", "medium": "social"},
                     "user_agent": "Mozilla/5.0 (iPhone) Mobile"}},
        {"anonymous_id": "a1", "timestamp": "2026-03-01T10:05:00Z", "event": "purchase", "revenue": 30,
         "context": {"page": {"path": "/thanks"}}},
    ]
    path = write(tmp_path, "segment.ndjson.gz", "".join(json.dumps(line) + "\n" for line in lines))
    report = importer.import_file(db, path)
    assert (report.kind, report.sessions_created, report.events_added) == ("events", 1, 2)
    (row,) = sessions()
    assert (row.channel, row.device, row.landing_page, row.exit_page, row.converted, row.revenue, row.duration_s) == (
        "social", "mobile", "/", "/thanks", True, Decimal("30.00"), 300)
    assert [e.event_type for e in SessionEvent.select().order_by(SessionEvent.occurred_at)] == ["page_view", "purchase"]


def test_ga4_event_timestamps_in_microseconds(db, tmp_path):
    text = "user_pseudo_id,event_timestamp,event_name,page_location\np1,1772359200000000,page_view,/a\n" \
           "p1,1772359260000000,page_view,/b\n"
    importer.import_file(db, write(tmp_path, "ga4_events.csv", text))
    (row,) = sessions()
    assert (row.started_at, row.page_views, row.duration_s) == (dt.datetime(2026, 3, 1, 10), 2, 60)


def test_event_times_from_1971_to_2999_are_stored_to_the_microsecond(db, tmp_path):
    times = [dt.datetime(1971, 1, 1), dt.datetime(2000, 2, 29, 12, 0, 0, 1),
             dt.datetime(2026, 3, 29, 2, 30, 59, 999999), dt.datetime(2255, 6, 1, 0, 0, 0, 123457),
             dt.datetime(2999, 12, 31, 23, 59, 59, 999999)]
    rows = "".join(f"u{n},{t.isoformat()},page_view,/\n" for n, t in enumerate(times))
    text = "user_id,timestamp,event,page\n" + rows
    importer.import_file(db, write(tmp_path, "times.csv", text), ImportOptions(kind="events"))
    stored = [e.occurred_at for e in SessionEvent.select().order_by(SessionEvent.customer_id)]
    assert stored == times
    assert [s.started_at for s in CustomerSession.select().order_by(CustomerSession.customer_id)] == times


def test_events_of_one_instant_are_stored_in_the_event_order_whatever_the_file_order(db, tmp_path):
    kinds = [("page_view", "/b"), ("page_view", "/a"), ("add_to_cart", "/a"), ("purchase", ""), ("signup", "/z")]
    lines = []
    for customer in range(20):
        for minute in range(3):
            shuffled = kinds[customer % 5:] + kinds[:customer % 5]
            lines += [f"c{customer},2026-03-01T10:0{minute}:00Z,{kind},{page}" for kind, page in reversed(shuffled)]
    importer.import_file(db, write(tmp_path, "e.csv", "user_id,timestamp,event,page\n" + "\n".join(lines) + "\n"),
                         ImportOptions(kind="events"))
    stored = (SessionEvent.select(SessionEvent.session, SessionEvent.occurred_at, SessionEvent.event_type,
                                  SessionEvent.page)
              .order_by(SessionEvent.session, SessionEvent.occurred_at, SessionEvent.id).tuples())
    by_instant = {}
    for session, when, kind, page in stored:
        by_instant.setdefault((session, when), []).append((kind, page or ""))
    assert len(by_instant) == 60
    assert all(found == sorted(kinds) for found in by_instant.values())


def test_imports_and_undos_leave_no_writer_thread_behind(db, tmp_path):
    interval = sys.getswitchinterval()
    good = write(tmp_path, "e.csv", "user_id,timestamp,event,page\nu1,2026-03-01T10:00:00Z,page_view,/\n")
    bad = write(tmp_path, "bad.csv", "user_id,timestamp,event,page\nu1,2026-03-01T10:00:00Z,page_view,/\nu2,x,y,/\n")
    done = importer.import_file(db, good, ImportOptions(kind="events"))
    with pytest.raises(importer.ImportRejected):
        importer.import_file(db, bad, ImportOptions(kind="events"))
    importer.undo(db, done.import_id)
    assert not [t for t in threading.enumerate() if t.name == "ingest-writer"]
    assert sys.getswitchinterval() == interval


UMAMI = (
    "website_id,session_id,visit_id,event_id,hostname,browser,os,device,screen,language,country,url_path,"
    "url_query,utm_source,utm_medium,utm_campaign,referrer_domain,page_title,event_type,event_name,created_at\n"
    "w1,v-1,visit-a,e1,shop.example,chrome,Mac OS,laptop,1440x900,en-US,DE,/,,,,,google.com,Home,1,,2026-03-01 10:00:00\n"
    "w1,v-1,visit-a,e2,shop.example,chrome,Mac OS,laptop,1440x900,en-US,DE,/cart,,,,,,Cart,2,add-to-cart,2026-03-01 10:02:00\n"
    "w1,v-1,visit-b,e3,shop.example,chrome,Mac OS,laptop,1440x900,en-US,DE,/sale,,newsletter,email,spring,,Sale,1,,2026-03-01 10:05:00\n"
)
GOATCOUNTER = (
    "2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen size,Location,FirstVisit,Date\n"
    "/,Home,false,Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile,Safari 17,iOS 17,s-9,0,"
    "www.bing.com,o,390x844,NL-NH,true,2026-03-01T10:00:00Z\n"
    "newsletter-signup,,true,Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile,Safari 17,iOS 17,s-9,0,,,"
    "390x844,NL-NH,false,2026-03-01T10:01:00Z\n"
    "/pricing,Pricing,false,Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile,Safari 17,iOS 17,s-9,0,,,"
    "390x844,NL,false,2026-03-01T11:30:00Z\n"
)


def test_umami_event_export_uses_visits_as_sessions(db, tmp_path):
    report = importer.import_file(db, write(tmp_path, "umami.csv", UMAMI))
    assert (report.kind, report.sessions_created, report.events_added) == ("events", 2, 3)
    first, second = sessions()
    assert (first.session_key, first.customer_id, first.page_views, first.events) == ("v-1:visit-a", "v-1", 1, 2)
    assert (first.channel, first.device, first.country, first.landing_page) == ("organic search", "desktop", "DE", "/")
    assert (second.channel, second.campaign) == ("email", "spring")
    types = [e.event_type for e in SessionEvent.select().order_by(SessionEvent.occurred_at)]
    assert types == ["page_view", "add-to-cart", "page_view"]


def test_goatcounter_export_splits_visitors_by_inactivity(db, tmp_path):
    report = importer.import_file(db, write(tmp_path, "goatcounter.csv", GOATCOUNTER))
    assert (report.kind, report.sessions_created, report.events_added) == ("events", 2, 3)
    first, second = sessions()
    assert (first.customer_id, first.page_views, first.events, first.exit_page) == ("s-9", 1, 2, "/")
    assert (first.device, first.country, first.channel) == ("mobile", "NL", "organic search")
    assert second.landing_page == "/pricing"
    assert [e.event_type for e in SessionEvent.select().order_by(SessionEvent.occurred_at)] == [
        "page_view", "newsletter-signup", "page_view"]


@pytest.mark.parametrize("encoding,bom,delimiter", [("utf-8", True, ","), ("latin-1", False, ";"),
                                                    ("utf-8", False, "\t"), ("utf-16", False, "\t"),
                                                    ("cp1252", False, ",")])
def test_encodings_and_delimiters(db, tmp_path, encoding, bom, delimiter):
    # utf-16 writes its byte order mark (Excel's "Unicode text"); cp1252 is Windows' curly apostrophe as 0x92.
    page = "/café’s" if encoding == "cp1252" else "/café"
    text = delimiter.join(["session_id", "user_id", "started_at", "landing_page"]) + "\r\n" + \
        delimiter.join(["s1", "Zoë", "2026-03-01 10:00:00", page]) + "\r\n"
    path = tmp_path / "file.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    importer.import_file(db, path)
    (row,) = sessions()
    assert (row.session_key, row.customer_id, row.landing_page) == ("s1", "Zoë", page)


def test_a_file_that_starts_as_utf16_but_is_not_is_refused(db, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "session_id,started_at\n".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(AppError, match="broken.csv starts as UTF-16 text but is not: save it as UTF-8"):
        importer.import_file(db, path)
    assert CustomerSession.select().count() == 0


def test_own_export_round_trips_exactly(db, tmp_path):
    importer.import_file(db, write(tmp_path, "shopify.csv", SHOPIFY))
    CustomerSession.update(campaign="=HYPERLINK(\"x\")", source="-5 off").where(CustomerSession.session_key == "tok-2").execute()
    # A file without traffic columns or end times stores channel unknown and no end: both came back changed.
    CustomerSession.update(channel="unknown", ended_at=None).where(CustomerSession.session_key == "tok-1").execute()
    path = tmp_path / "export.csv"
    with open(path, "wb") as handle:
        export.write_sessions(handle)
    assert "'=HYPERLINK" in path.read_text()
    before = [tuple(getattr(s, c) for c in export.COLUMNS) for s in sessions()]
    importer.undo(db, Import.select().first().id)
    importer.import_file(db, path)
    assert [tuple(getattr(s, c) for c in export.COLUMNS) for s in sessions()] == before


def test_export_to_a_folder_that_does_not_exist_says_so(db, db_url, tmp_path):
    result = run_cli(ROOT, "export", "--out", str(tmp_path / "nowhere" / "x.csv"), env={"DATABASE_URL": db_url})
    assert result.code == 1 and "Traceback" not in result.err and "Unexpected" not in result.err
    assert f"Error: Cannot write {tmp_path / 'nowhere' / 'x.csv'}: No such file or directory." in result.err


def test_a_command_line_import_records_the_user_and_host_that_ran_it(db, db_url, tmp_path):
    path = write(tmp_path, "shopify.csv", SHOPIFY)
    env = {"DATABASE_URL": db_url, "USER": "ana"}
    assert run_cli(ROOT, "import", str(path), env=env).code == 0
    ran_by = f"ana@{socket.gethostname()}"
    assert Import.get().created_by == ran_by
    assert f", by {ran_by}" in run_cli(ROOT, "import", "--list", env=env).out


# (stored text, the cell a spreadsheet reads back): formulas guarded, numbers kept, quotes where a cell needs them.
HOSTILE_CELLS = [("=1+1", "'=1+1"), ("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-inf", "'-inf"), ("@SUM(A1)", "'@SUM(A1)"),
                 ("\ttab", "'\ttab"), ("\rcr", "'\rcr"), ("a,b", "a,b"), ('say "hi"', 'say "hi"'),
                 ("two\nlines", "two\nlines"), ("cr\rinside", "cr\rinside"), ("\\.", "\\."), ("", ""), ("plain", "plain"),
                 ("'=x", "''=x"), ("''-5", "'''-5"), ("men's", "men's"), ("'", "'"), ("'5", "'5")]


def test_the_export_guards_formulas_quotes_cells_alike_on_both_databases_and_imports_back(db, tmp_path):
    start = dt.datetime(2026, 3, 1, 10, 0, 0, 120000)  # a time with a fraction of a second is written alike too
    for number, (stored, _) in enumerate(HOSTILE_CELLS):
        CustomerSession.create(session_key=f"k{number:02d}", customer_id="c",
                               started_at=start + dt.timedelta(hours=number), campaign=stored,
                               landing_page=stored or None, exit_page=f"/x{stored}")
    before = [tuple(getattr(s, c) for c in export.COLUMNS) for s in sessions()]
    path = tmp_path / "export.csv"
    with open(path, "wb") as handle:
        assert export.write_sessions(handle) == len(HOSTILE_CELLS)
    text = path.read_bytes().decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["campaign"], r["landing_page"]) for r in rows] == [(read, read) for _, read in HOSTILE_CELLS]
    assert [r["exit_page"] for r in rows] == [f"/x{stored}" for stored, _ in HOSTILE_CELLS]
    # The bytes themselves are what PostgreSQL's COPY writes: a cell with , " CR or LF quoted, and only such cells.
    for quoted in ('"a,b"', '"say ""hi"""', '"two\nlines"', '"cr\rinside"', "\"'\rcr\"", '/xtwo\nlines"'):
        assert quoted in text
    assert text.startswith(export.HEADER) and ",\\.," in text and ",'=1+1," in text and ",-5," in text
    assert "\nk00,c,2026-03-01 10:00:00.120000,,0," in text
    CustomerSession.delete().execute()
    importer.import_file(db, path)
    empty_as_null = [tuple(None if v == "" else v for v in row) for row in before]  # COPY writes '' and NULL alike
    assert [tuple(getattr(s, c) for c in export.COLUMNS) for s in sessions()] == empty_as_null


def test_the_export_is_utf8_whatever_the_clients_default_encoding(db_url, monkeypatch):
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")  # a role's or server's default, as libpq reads it
    database = init_database(Settings(database_url=migrated(db_url)))
    CustomerSession.create(session_key="k", customer_id="c", started_at=dt.datetime(2026, 3, 1), campaign="été")
    data = b"".join(chunk for chunk, _ in export.stream_sessions(
        CustomerSession.select().where(CustomerSession.campaign == "été")))
    database.close()
    assert ",été," in data.decode("utf-8")


def test_bad_row_at_the_end_leaves_the_database_unchanged(db, tmp_path):
    good = "".join(f"s{i},c{i},2026-03-01T10:00:00Z,60,2\n" for i in range(3000))
    path = write(tmp_path, "big.csv", "session_id,user_id,started_at,duration,pageviews\n" + good +
                 "bad,c,not-a-date,60,2\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, path)
    message = str(rejected.value)
    assert "big.csv: 1 bad row field(s); nothing of this file was written." in message
    assert "line 3002, column 'started_at', value 'not-a-date': not a date and time" in message
    assert CustomerSession.select().count() == 0 and DailyRollup.select().count() == 0
    assert [(i.status, i.sessions_written) for i in Import.select()] == [("failed", 0)]


def test_every_kind_of_bad_field_is_reported_with_line_and_column(db, tmp_path):
    text = ("session_id,user_id,started_at,ended_at,duration,pageviews,revenue,country\n"
            "a,c,2026-03-01T10:00:00Z,,-5,2,1,DE\n"
            "b,c,2026-03-01T10:00:00Z,,5,two,1,DE\n"
            "c,c,2026-03-01T10:00:00Z,,5,2,lots,DE\n"
            "d,c,2026-03-01T10:00:00Z,,5,2,1,Atlantis\n"
            "e,c,2026-03-01T10:00:00Z,2026-03-01T09:00:00Z,,2,1,DE\n"
            "f,c,,,5,2,1,DE\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, write(tmp_path, "bad.csv", text))
    found = [(e.line, e.column, e.reason) for e in rejected.value.report.errors]
    assert found == [
        (2, "duration", "must not be negative"), (3, "pageviews", "not a whole number"),
        (4, "revenue", "not an amount"), (5, "country", "not a known country name or ISO code"),
        (6, "ended_at", "ends before it starts"), (7, "started_at", "the start time is required"),
    ]


def test_values_too_large_for_their_columns_are_bad_fields(db, tmp_path):
    long_key = "k" * 129
    text = ("session_id,user_id,started_at,duration,pageviews,revenue\n"
            f"{long_key},c,2026-03-01T10:00:00Z,5,2,1\n"
            "b,c,2026-03-01T10:00:00Z,99999999999,2,1\n"
            "c,c,2026-03-01T10:00:00Z,5,2,1000000000000\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, write(tmp_path, "large.csv", text))
    found = [(e.line, e.column, e.reason) for e in rejected.value.report.errors]
    assert found == [
        (2, "session_id", "the session key is longer than 128 characters"), (3, "duration", "too large"),
        (4, "revenue", "too large (at most 999,999,999,999.99)"),
    ]
    events = "user_id,timestamp\n" + "u" * 64 + ",2026-03-01T10:00:00Z\n"
    with pytest.raises(importer.ImportRejected, match="line 2, column 'user_id'.*longer than 63 characters"):
        importer.import_file(db, write(tmp_path, "long-user.csv", events), ImportOptions(kind="events"))
    assert CustomerSession.select().count() == 0


def test_text_with_quotes_commas_newlines_and_backslashes_is_stored_as_is(db, tmp_path):
    tricky = 'say "hi", then\nleave \\N\ttab'
    path = tmp_path / "tricky.ndjson"
    path.write_text(json.dumps({"session_id": "t1", "started_at": "2026-03-01T10:00:00Z", "utm_campaign": tricky,
                                "landing_page": "\\N"}) + "\n")
    importer.import_file(db, path)
    (row,) = sessions()
    assert (row.campaign, row.landing_page, row.source) == (tricky, "\\N", None)


def test_a_file_that_partly_overlaps_earlier_imports_writes_only_the_new_sessions(db, tmp_path):
    rows = [f"s{i},c{i},2026-03-01T10:00:00Z,60,2\n" for i in range(12000)]
    header = "session_id,user_id,started_at,duration,pageviews\n"
    importer.import_file(db, write(tmp_path, "part.csv", header + "".join(rows[4000:8000])))
    report = importer.import_file(db, write(tmp_path, "all.csv", header + "".join(rows + rows[:10])))
    assert (report.rows_read, report.sessions_created, report.rows_identical, report.extra_rows) == (
        12010, 8000, 4000, 10)
    assert CustomerSession.select().count() == 12000


def test_an_ndjson_line_that_is_not_a_json_object_is_a_bad_row(db, tmp_path):
    good = json.dumps({"session_id": "s1", "started_at": "2026-03-01T10:00:00Z"})
    path = write(tmp_path, "broken.ndjson", f"{good}\n{{oops\n[1, 2]\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, path)
    found = [(e.line, e.column, e.reason) for e in rejected.value.report.errors]
    assert found == [(2, "(whole line)", "not valid JSON (Expecting property name enclosed in double quotes)"),
                     (3, "(whole line)", "not a JSON object")]
    assert CustomerSession.select().count() == 0


@pytest.mark.parametrize("name,indent", [("sessions.json", 2), ("sessions.json.gz", None), ("export", None)])
def test_a_json_array_file_is_read_an_element_at_a_time(db, tmp_path, monkeypatch, name, indent):
    monkeypatch.setattr("analyzer.ingest.readers.CHUNK", 5)  # elements, strings and numbers cross chunk ends
    records = [{"session_id": f"s{i}", "user_id": "c1", "started_at": f"2026-03-01T1{i}:00:00Z",
                "context": {"campaign": {"source": "newsletter, \"spring\""}}, "pageviews": 12345 + i}
               for i in range(3)]
    report = importer.import_file(db, write(tmp_path, name, json.dumps(records, indent=indent)))
    assert (report.file_format, report.kind, report.sessions_created) == ("json", "sessions", 3)
    assert [(r.session_key, r.source, r.page_views) for r in sessions()] == [
        ("s0", 'newsletter, "spring"', 12345), ("s1", 'newsletter, "spring"', 12346), ("s2", 'newsletter, "spring"', 12347)]


def test_a_bad_element_of_a_json_array_is_reported_by_its_number(db, tmp_path):
    good = {"session_id": "s1", "started_at": "2026-03-01T10:00:00Z"}
    path = write(tmp_path, "bad.json", json.dumps([good, [1], dict(good, session_id="s2", started_at="soon")]))
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, path)
    assert [(e.line, e.column) for e in rejected.value.report.errors] == [(2, "(whole line)"), (3, "started_at")]
    truncated = write(tmp_path, "cut.json", json.dumps([good, dict(good, session_id="s2")])[:-20])
    with pytest.raises(AppError, match="Element 2 of the JSON array is not valid JSON"):
        importer.import_file(db, truncated)
    assert CustomerSession.select().count() == 0 and Import.select().where(Import.status == "done").count() == 0


def test_report_lists_the_first_hundred_and_counts_the_rest(db, tmp_path):
    text = "session_id,started_at\n" + "".join(f"s{i},nope\n" for i in range(150))
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, write(tmp_path, "many.csv", text))
    report = rejected.value.report
    assert (len(report.errors), report.error_count) == (100, 150)
    assert str(rejected.value).splitlines()[-2] == "  … and 50 more."


def test_missing_required_column_names_what_was_found(db, tmp_path):
    with pytest.raises(AppError) as failure:
        importer.import_file(db, write(tmp_path, "nodate.csv", "session_id,pageviews\ns1,3\n"))
    assert "has no column for started_at. Columns found: session_id, pageviews" in str(failure.value)


def test_importing_the_same_file_twice_writes_nothing_the_second_time(db, tmp_path):
    path = write(tmp_path, "shopify.csv", SHOPIFY)
    importer.import_file(db, path)
    again = importer.import_file(db, path)
    assert (again.sessions_created, again.rows_identical) == (0, 2)
    assert CustomerSession.select().count() == 2
    events = write(tmp_path, "events.csv", "user_id,timestamp,event,page\nu9,2026-03-01T10:00:00Z,page_view,/\n"
                                           "u9,2026-03-01T10:01:00Z,purchase,/thanks\n")
    importer.import_file(db, events)
    again = importer.import_file(db, events)
    assert (again.sessions_created, again.events_added, again.rows_identical) == (0, 0, 2)
    assert (CustomerSession.select().count(), SessionEvent.select().count()) == (3, 2)


def test_dry_run_validates_without_writing(db, tmp_path):
    report = importer.import_file(db, write(tmp_path, "shopify.csv", SHOPIFY), ImportOptions(dry_run=True))
    assert (report.sessions_created, report.import_id) == (2, None)
    assert CustomerSession.select().count() == 0 and Import.select().count() == 0


def test_a_stored_session_repeated_across_batches_counts_once_as_there_and_then_as_extra_rows(db, tmp_path):
    importer.import_file(db, write(tmp_path, "first.csv", "session_id,user_id,started_at\ns1,a,2026-03-01 10:00:00\n"))
    rows = [f"n{i},c{i},2026-03-02 10:00:00" for i in range(12000)]
    for at in (0, 5000, 10000):  # in three of the writer's batches of 5,000
        rows[at] = "s1,a,2026-03-01 10:00:00"
    report = importer.import_file(db, write(tmp_path, "second.csv", "session_id,user_id,started_at\n" + "\n".join(rows)))
    assert (report.sessions_created, report.rows_identical, report.extra_rows) == (11997, 1, 2)


def test_a_json_key_first_seen_late_is_refused_only_when_the_import_would_read_it(db, tmp_path):
    records = [{"session_id": f"s{i}", "started_at": "2026-03-02T10:00:00Z"} for i in range(200)]
    unread = records + [{"session_id": "s200", "started_at": "2026-03-02T10:00:00Z", "properties": {"coupon": "X"}}]
    text = "".join(json.dumps(r) + "\n" for r in unread)
    assert importer.import_file(db, write(tmp_path, "unread.ndjson", text)).sessions_created == 201
    read = records + [{"session_id": "t200", "started_at": "2026-03-02T10:00:00Z", "revenue": "9.50"}]
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, write(tmp_path, "read.ndjson", "".join(json.dumps(r) + "\n" for r in read)))
    assert [(e.line, e.reason[:14]) for e in rejected.value.report.errors] == [(201, "has 'revenue',")]


@pytest.mark.parametrize("at", [1, 7000])  # in the same batch of the writer, or in another
def test_a_session_id_given_to_two_customers_is_refused_and_nothing_is_written(db, tmp_path, at):
    rows = [f"n{i},c{i},2026-03-02 10:00:00,1" for i in range(8000)]
    rows[0], rows[at] = "shared1,alice,2026-03-03 10:00:00,5", "shared1,bob,2026-03-03 11:00:00,7"
    text = "session_id,user_id,started_at,revenue\n" + "\n".join(rows) + "\n"
    with pytest.raises(AppError, match=r"Session 'shared1' is given to two customers in this file \('alice', then "
                                       r"'bob'\): a session has one customer"):
        importer.import_file(db, write(tmp_path, "shared.csv", text))
    assert CustomerSession.select().count() == 0
    again = text.replace("shared1,bob", "shared1,alice")  # the same customer twice is an extra row of its session
    assert importer.import_file(db, write(tmp_path, "again.csv", again)).extra_rows == 1


@pytest.mark.parametrize("import_id", [0, 7, 1 << 63, 10 ** 20])
def test_undo_of_an_import_that_does_not_exist_says_so(db, import_id):
    with pytest.raises(AppError, match=f"There is no import {import_id};"):
        importer.undo(db, import_id)


class Hold:
    """Stop the first call of OWNER.NAME once it has done its work, until released: another call meets it half done."""

    def __init__(self, monkeypatch, owner, name):
        self.reached, self.go, self.calls = threading.Event(), threading.Event(), []
        original = getattr(owner, name)

        def held(*args, **kwargs):
            result = original(*args, **kwargs)
            self.calls.append(name)
            if len(self.calls) == 1:
                self.reached.set()
                self.go.wait(30)
            return result

        monkeypatch.setattr(owner, name, held)


def wait_for_a_waiter(url, seconds=10):
    """Give a second request time to queue behind the first: on PostgreSQL, until a connection waits on a lock."""
    if url.startswith("sqlite"):
        time.sleep(0.5)
        return
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True
    deadline = time.monotonic() + seconds
    try:
        with connection.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'")
                if cur.fetchone()[0]:
                    return
                time.sleep(0.05)
    finally:
        connection.close()


def sessions_file(tmp_path, name, count=200):
    """Write COUNT sessions of 37 customers over 28 days, keyed by NAME."""
    rows = "".join(f"{name}{i},c{i % 37},2026-03-{1 + i % 28:02d}T1{i % 10}:{i % 60:02d}:00Z,{i % 3}\n"
                   for i in range(count))
    return write(tmp_path, f"{name}.csv", "session_id,user_id,started_at,revenue\n" + rows)


def test_a_second_undo_of_an_import_at_once_waits_for_the_first_and_finds_it_undone(db, db_url, tmp_path, monkeypatch):
    # Both read the import as finished and undid it: on PostgreSQL the later ones wrote the same rollup rows at once
    # and failed on their unique key ("Database unavailable"); on SQLite the second undid nothing a second time.
    from tests.test_ingest_continuity import state

    importer.import_file(db, sessions_file(tmp_path, "kept", 100))  # days and customers the undo leaves in place
    before = state()
    done = importer.import_file(db, sessions_file(tmp_path, "undone"))
    hold = Hold(monkeypatch, changes.Change, "apply")
    outcomes = {}

    def undo(name):
        try:
            outcomes[name] = importer.undo(db, done.import_id).status
        except Exception as exc:  # noqa: BLE001 (what the second undo raised is what the test checks)
            outcomes[name] = exc
        finally:
            db.close()

    first = threading.Thread(target=undo, args=("first",))
    first.start()
    assert hold.reached.wait(30)
    second = threading.Thread(target=undo, args=("second",))
    second.start()
    wait_for_a_waiter(db_url)
    hold.go.set()
    first.join(60)
    second.join(60)
    assert outcomes["first"] == "undone"
    assert isinstance(outcomes["second"], importer.AlreadyUndone), outcomes["second"]
    assert str(outcomes["second"]) == f"Import {done.import_id} was undone; only a finished import can be undone."
    assert state() == before and hold.calls == ["apply"]


def test_undo_removes_exactly_that_imports_rows_and_rollups(db, tmp_path):
    kept = "user_id,timestamp,event,page,revenue\nu1,2026-03-01T09:00:00Z,page_view,/,\nu1,2026-03-01T09:01:00Z,purchase,/t,25\n"
    first = importer.import_file(db, write(tmp_path, "kept.csv", kept))
    events = "user_id,timestamp,event,page\nu9,2026-03-01T10:00:00Z,page_view,/\nu9,2026-03-01T10:01:00Z,page_view,/x\n"
    second = importer.import_file(db, write(tmp_path, "events.csv", events))
    assert sum(r.sessions for r in DailyRollup.select()) == 2
    importer.undo(db, second.import_id)
    assert [s.customer_id for s in sessions()] == ["u1"]
    assert [(e.import_id, e.page) for e in SessionEvent.select().order_by(SessionEvent.occurred_at)] == [
        (first.import_id, "/"), (first.import_id, "/t")]
    assert [(r.sessions, r.conversions, r.revenue) for r in DailyRollup.select()] == [(1, 1, Decimal("25.00"))]
    assert Import.get_by_id(second.import_id).status == "undone"
    with pytest.raises(AppError, match=f"Import {second.import_id} was undone; only a finished import can be undone"):
        importer.undo(db, second.import_id)
    Import.update(status="failed").where(Import.id == second.import_id).execute()
    with pytest.raises(AppError, match=f"Import {second.import_id} failed; only a finished import can be undone"):
        importer.undo(db, second.import_id)
    assert first.import_id != second.import_id


def event_file(tmp_path, times, tz_name="events.csv", extra=""):
    rows = "".join(f"u1,{t},page_view,/p{i}{extra}\n" for i, t in enumerate(times))
    return write(tmp_path, tz_name, "user_id,timestamp,event,page\n" + rows)


def test_exactly_thirty_minutes_apart_is_one_session_and_a_second_more_splits(db, tmp_path):
    importer.import_file(db, event_file(tmp_path, ["2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z",
                                                   "2026-03-01T11:00:01Z"]))
    assert [(s.page_views, s.duration_s) for s in sessions()] == [(2, 1800), (1, 0)]


def test_events_out_of_order_are_sorted_before_sessionizing(db, tmp_path):
    importer.import_file(db, event_file(tmp_path, ["2026-03-01T10:20:00Z", "2026-03-01T10:00:00Z",
                                                   "2026-03-01T10:10:00Z"]))
    (row,) = sessions()
    assert (row.started_at, row.landing_page, row.exit_page) == (dt.datetime(2026, 3, 1, 10), "/p1", "/p0")


def test_session_across_midnight_stays_one_session(db, tmp_path):
    importer.import_file(db, event_file(tmp_path, ["2026-03-01T23:50:00Z", "2026-03-02T00:10:00Z"]))
    (row,) = sessions()
    assert (row.duration_s, row.page_views) == (1200, 2)


def test_dst_change_in_a_local_time_zone(db, tmp_path):
    path = event_file(tmp_path, ["2026-03-29 01:50:00", "2026-03-29 03:10:00"])
    importer.import_file(db, path, ImportOptions(timezone="Europe/Berlin"))
    (row,) = sessions()
    assert (row.started_at, row.duration_s) == (dt.datetime(2026, 3, 29, 0, 50), 1200)


def test_session_id_column_decides_over_the_gap(db, tmp_path):
    text = ("user_id,timestamp,event,page,session_id\nu1,2026-03-01T10:00:00Z,view,/,A\n"
            "u1,2026-03-01T12:00:00Z,view,/b,A\nu1,2026-03-01T12:01:00Z,view,/c,B\n")
    importer.import_file(db, write(tmp_path, "ids.csv", text))
    assert [(s.session_key, s.page_views) for s in sessions()] == [("u1:A", 2), ("u1:B", 1)]


def test_gap_is_configurable(db, tmp_path):
    importer.import_file(db, event_file(tmp_path, ["2026-03-01T10:00:00Z", "2026-03-01T10:20:00Z"]), ImportOptions(gap_minutes=10))
    assert len(sessions()) == 2


def test_real_google_analytics_sessions(db):
    report = importer.import_file(db, REAL / "ga_merchandise_store_all_sessions.csv.gz")
    assert (report.rows_read, report.sessions_created, report.rows_identical, report.extra_rows) == (
        15134, 14561, 0, 573)
    row = CustomerSession.get(CustomerSession.session_key == "2817722496551184128-1473757371")
    assert (row.customer_id, row.started_at, row.country, row.channel, row.page_views, row.duration_s) == (
        "2817722496551184128", dt.datetime(2016, 9, 13, 9, 2, 51), "TW", "direct", 7, 142)
    assert CustomerSession.select().where(CustomerSession.revenue > 0).count() == 80


def test_real_rees46_events(db):
    report = importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz")
    # 5 rows repeat an event of the same session at the same second (same type, no page, same value): one is kept.
    # 3 sessions hold a single view at the same second as a view of another session of theirs: each is kept.
    assert (report.rows_read, report.sessions_created, report.events_added, report.rows_identical) == (
        17434, 5067, 17429, 5)
    total = sum((s.revenue for s in CustomerSession.select()), Decimal("0"))
    assert total == Decimal("59442.63")
    first = sessions()[0]
    assert first.started_at == dt.datetime(2019, 10, 1, 0, 0, 0)


def test_real_rees46_split_by_inactivity_when_the_session_ids_are_ignored(db):
    report = importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz", ImportOptions(split_by_gap=True))
    assert report.sessions_created == 4518


@pytest.mark.parametrize("name", ["uci_online_shoppers_intention.csv", "uci_online_shoppers_intention_semicolon_crlf.csv"])
def test_real_uci_sessions_with_a_month_column(db, name):
    with pytest.raises(AppError, match=r"give the year \(--year YYYY"):
        importer.import_file(db, REAL / f"{name}.gz")
    report = importer.import_file(db, REAL / f"{name}.gz", ImportOptions(year=2018))
    assert (report.rows_read, report.sessions_created) == (12330, 12330)
    assert CustomerSession.select().where(CustomerSession.converted).count() == 1908
    assert CustomerSession.select().where(CustomerSession.started_at == dt.datetime(2018, 6, 1)).count() == 288


def test_rollups_match_the_sessions(db):
    importer.import_file(db, REAL / "ga_merchandise_store_all_sessions.csv.gz")
    assert sum(r.sessions for r in DailyRollup.select()) == CustomerSession.select().count()
    assert sum(r.conversions for r in DailyRollup.select()) == 80


def test_demo_is_realistic_and_reproducible(db):
    first = demo.load(db, sessions=2000, days=30, seed=3)
    keys = [s.session_key for s in sessions()]
    again = demo.load(db, sessions=2000, days=30, seed=3)
    assert (first.sessions_created, again.sessions_created, again.events_added) == (2000, 0, 0)
    assert again.rows_identical == first.events_added
    assert [s.session_key for s in sessions()] == keys
    rate = CustomerSession.select().where(CustomerSession.converted).count() / 2000
    assert 0.015 <= rate <= 0.05
    customers = [s.customer_id for s in sessions()]
    assert len(set(customers)) < 0.85 * len(customers)
    assert {s.channel for s in sessions()} >= {"direct", "organic search", "paid search", "social", "email", "referral"}


def test_cli_import_prints_detection_and_summary(db_url, db, tmp_path):
    path = write(tmp_path, "shopify.csv", SHOPIFY)
    result = run_cli(ROOT, "import", str(path), env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Reading shopify.csv: CSV, sessions"
    assert lines[1].startswith("Columns: session_key <- session_token, customer_id <- customer_id, started_at <- session_started_at")
    assert lines[2] == "Columns not used: referrer_source"
    assert lines[3].startswith("Imported as import 1: 2 rows read, 2 sessions created, 0 rows whose session is already "
                               "there, in ")


def test_cli_import_names_the_columns_a_google_analytics_session_key_is_built_from(db_url, db):
    result = run_cli(ROOT, "import", str(REAL / "ga_merchandise_store_all_sessions.csv.gz"), "--dry-run",
                     env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].startswith("Columns: session_key <- fullVisitorId-visitId, customer_id <- "
                                                 "fullVisitorId, started_at <- visitId")


def test_cli_bad_file_exits_1_with_the_report_and_no_traceback(db_url, db, tmp_path):
    path = write(tmp_path, "bad.csv", "session_id,started_at\ns1,never\n")
    result = run_cli(ROOT, "import", str(path), env={"DATABASE_URL": db_url})
    assert result.code == 1
    assert "line 2, column 'started_at', value 'never': not a date and time" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("option, message", [
    (["--split-by-gap", "--gap-minutes", "-5"], "--gap-minutes -5: give the minutes of inactivity that end a session"),
    (["--gap-minutes", "9999999999999999999999"], "--gap-minutes 9999999999999999999999: give the minutes"),
    (["--year", "99999"], "year '99999': give a year from 1971 to 2999"),
    (["--year", "02018"], "year '02018': give a year from 1971 to 2999"),  # the API and the upload page refused it
    (["--year", "9" * 5000], "year '" + "9" * 79 + "…': give a year"),  # argparse repeated all 5,000 digits
])
def test_cli_options_out_of_range_are_a_clear_error_and_write_nothing(db_url, db, tmp_path, option, message):
    path = write(tmp_path, "events.csv", "user_id,timestamp,event\nu1,2026-03-01T10:00:00Z,page_view\n")
    result = run_cli(ROOT, "import", str(path), *option, env={"DATABASE_URL": db_url})
    assert result.code == 1 and message in result.err and "Unexpected" not in result.err, result.err
    assert CustomerSession.select().count() == 0 and Import.select().count() == 0


def test_cli_missing_file_is_a_clear_error(db_url, db, tmp_path):
    result = run_cli(ROOT, "import", str(tmp_path / "nope.csv"), env={"DATABASE_URL": db_url})
    assert (result.code, result.err.strip()) == (1, f"Error: {tmp_path / 'nope.csv'} does not exist or is not a file.")


@pytest.mark.parametrize("name", ["many.csv", "many.csv.gz"])
def test_progress_reports_rows_and_the_share_of_the_file_read(db, tmp_path, name):
    rows = "".join(f"s{i},2026-03-01T10:00:00Z,{'x' * (i % 50)}\n" for i in range(25000))
    calls = []
    importer.import_file(db, write(tmp_path, name, "session_id,started_at,utm_campaign\n" + rows),
                         progress=lambda count, fraction: calls.append((count, fraction)))
    assert [c for c, _ in calls] == [10000, 20000]
    assert 0 < calls[0][1] < calls[1][1] <= 1


def test_cli_shows_a_progress_bar_on_a_terminal(db_url, db, tmp_path, capsys):
    from analyzer.ingest import commands as ingest_commands
    from tests.conftest import FakeTerminal

    path = write(tmp_path, "many.csv", "session_id,started_at\n" + "".join(
        f"s{i},2026-03-01T10:00:00Z\n" for i in range(10000)))
    ctx = commands.Context(settings=Settings(database_url=db_url), stdin=FakeTerminal(), out=print)
    try:
        assert ingest_commands.run_import(ctx, path, ImportOptions()) == Import.get().id
    finally:
        ctx.close()
    err = capsys.readouterr().err
    assert re.search(r"\r  \[#{20,30}\.{0,10}\]\s+\d+%  10,000 rows read", err), err


def test_path_objects_and_strings_both_work(db, tmp_path):
    path = write(tmp_path, "shopify.csv", SHOPIFY)
    assert importer.import_file(db, str(path)).sessions_created == 2
    assert isinstance(path, Path)


@pytest.mark.parametrize("kind", ["events", "sessions"])
def test_a_large_import_leaves_postgresql_statistics_of_what_it_wrote(pg_url, tmp_path, monkeypatch, kind):
    monkeypatch.setattr(store, "ANALYZE_ROWS", 1)  # every import counts as large
    database = init_database(Settings(database_url=migrated(pg_url)))
    try:
        if kind == "events":
            text = "user_id,timestamp,event\n" + "".join(
                f"u{i % 7},2026-03-01T{i % 24:02d}:{i % 60:02d}:00Z,page_view\n" for i in range(300))
        else:
            text = "session_id,customer_id,started_at\n" + "".join(
                f"s{i},c{i % 7},2026-03-01T{i % 24:02d}:{i % 60:02d}:00Z\n" for i in range(300))
        importer.import_file(database, write(tmp_path, "big.csv", text))
        tables = ("customer_sessions", "customer_firsts", *rollups.TABLES) + (
            ("session_events",) if kind == "events" else ())
        for table in tables:
            estimate = database.execute_sql("SELECT reltuples FROM pg_class WHERE relname = %s", (table,)).fetchone()[0]
            assert estimate == database.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    finally:
        database.close()


@pytest.mark.parametrize("kind", ["events", "sessions"])
def test_small_postgresql_imports_analyze_a_table_once_it_has_doubled_since_its_statistics(pg_url, tmp_path, kind):
    database = init_database(Settings(database_url=migrated(pg_url)))
    table = "session_events" if kind == "events" else "customer_sessions"

    def load(part, count):
        if kind == "events":
            text = "user_id,timestamp,event\n" + "".join(
                f"{part}{i},2026-03-01T{i % 24:02d}:{i % 60:02d}:00Z,page_view\n" for i in range(count))
        else:
            text = "session_id,customer_id,started_at\n" + "".join(
                f"{part}{i},c{i},2026-03-01T{i % 24:02d}:{i % 60:02d}:00Z\n" for i in range(count))
        importer.import_file(database, write(tmp_path, f"{part}.csv", text))
        stored = database.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return stored, database.execute_sql("SELECT reltuples FROM pg_class WHERE relname = %s", (table,)).fetchone()[0]

    try:
        assert load("a", 2000) == (2000, 2000)  # never analyzed: analyzed
        assert load("b", 600) == (2600, 2000)  # a third more: the statistics of the 2,000 stay
        assert load("c", 600) == (3200, 2000)
        assert load("d", 1400) == (4600, 4600)  # over twice the pages of the last ANALYZE
        assert load("d", 1400) == (4600, 4600)  # nothing written, nothing analyzed
    finally:
        database.close()


def test_an_interrupted_sqlite_publish_raises_the_interrupt_not_the_staging_tables_lock(sqlite_url, tmp_path,
                                                                                        monkeypatch):
    database = init_database(Settings(database_url=migrated(sqlite_url)))

    def interrupted(*args):
        raise KeyboardInterrupt

    def locked(self):
        raise peewee.OperationalError("database table is locked")

    monkeypatch.setattr(importer, "_publish", interrupted)
    monkeypatch.setattr(store.EventStager, "drop", locked)
    try:
        with pytest.raises(KeyboardInterrupt):
            importer.import_file(database, write(tmp_path, "e.csv", "user_id,timestamp,event\nu1,2026-03-01,x\n"))
        assert CustomerSession.select().count() == 0 and Import.select().count() == 0
    finally:
        database.close()
