"""Hostile input: every file of tests/data/hostile (and big ones made here) gives a clear error or a correct result.

Never a crash, never a partial write; a file with bad fields lists each one (line, column, value, reason) and is
recorded as a failed import. The same on SQLite and PostgreSQL.
"""

import csv
import gzip
import html
import io
import json
import random
import zipfile

import pytest

from analyzer.config import Settings
from analyzer.db import database
from analyzer.errors import AppError
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions
from analyzer.models import CustomerSession, Import
from tests.conftest import ROOT, csrf_of
from tests.test_ingest_import import db  # noqa: F401 (the migrated database those tests use)

HOSTILE = ROOT / "tests" / "data" / "hostile"
OUT_OF_RANGE = "out of range (times must fall between 1971-01-01 and 2999-12-31 UTC)"
NUL = "contains a NUL character (\\0), which cannot be stored"

# file: the bad fields as (line, column, value, reason)
REJECTED = {
    "revenue-1e30.csv": [(2, "revenue", "1e30", "too large (at most 999,999,999,999.99)")],
    "page-views-1e400.csv": [(2, "page_views", "1e400", "too large")],
    "epoch-huge.csv": [(2, "started_at", "99999999999999999999", OUT_OF_RANGE)],
    "date-max.csv": [(2, "started_at", "9999-12-31T23:59:59Z", OUT_OF_RANGE)],
    "date-max-after-zone.csv": [(2, "started_at", "9999-12-31T23:00:00-05:00", OUT_OF_RANGE)],
    "date-min-after-zone.csv": [(2, "started_at", "0001-01-01T00:30:00+05:00", OUT_OF_RANGE)],
    "duration-over-integer.csv": [(2, "duration", "3000000000", "too large")],
    "duration-derived-over-integer.csv": [(2, "ended_at", "2999-01-01 00:00:00", "ends more than 68 years after it starts")],
    "nul-byte.csv": [(2, "utm_campaign", "spring\x00sale", NUL)],
    "nul-byte-json.ndjson": [(1, "landing_page", "/a\x00b", NUL)],
    "long-values.csv": [(2, "utm_source", "s" * 80, "longer than 255 characters"),
                        (3, "landing_page", "/" * 80, "longer than 2000 characters")],
    "deep-nesting.ndjson": [(2, "(whole line)", "", "nested too deeply")],
    "quote-not-closed.csv": [(3, "(whole line)", "", "4 fields where the header has 5 fields (is a quote not closed?)")],
    "ragged-rows.csv": [(2, "(whole line)", "", "3 fields where the header has 5 fields"),
                        (3, "(whole line)", "", "7 fields where the header has 5 fields")],
    "surrogate.ndjson": [(2, "(whole line)", "", "an object whose field 'user_id' holds half a character (an unpaired "
                                                 "\\u surrogate escape), not text")],
    "duplicate-key.ndjson": [(2, "(whole line)", "", "an object with the key 'user_id' twice (written twice, or made "
                                                     "twice by a nested object)"),
                             (3, "(whole line)", "", "an object with the key 'user_id' twice (written twice, or made "
                                                     "twice by a nested object)")],
    "late-key.ndjson": [(201, "(whole line)", "", "has 'revenue', which none of the first 200 records has: the columns "
                                                  "come from those records, so give one of them this field (empty will "
                                                  "do)")],
}
# The shape of a CSV line, which the API (JSON only) has no equivalent of.
CSV_ONLY = ("quote-not-closed.csv", "ragged-rows.csv")
# file: the start of the one-line error
REFUSED = {
    "empty.csv": "The file is empty: it has no header line.",
    "duplicate-headers.csv": "Columns 1 ('session_id') and 4 ('session_id') have the same name",
    "truncated.csv.gz": "truncated.csv.gz cannot be read: Compressed file ended",
    "huge-integer.json": "Element 1 of the JSON array cannot be read: a number with too many digits.",
    "deep-nesting-only.ndjson": "Record 1 is nested too deeply",
    "random-bytes.bin": "random-bytes.bin is not a file of records: its first line holds control characters.",
    "chart.png": "chart.png is a PNG image, not a file of records. Import a CSV, NDJSON or JSON file, plain or gzip;",
    "sessions.xlsx": "sessions.xlsx is a ZIP archive (an Excel .xlsx workbook is one: save its sheet as CSV UTF-8), "
                     "not a file of records.",
    "wide-header.csv": "wide-header.csv (sessions) has no column for started_at. Columns found: c0, c1,",
    "long-header.csv": "long-header.csv (sessions) has no column for started_at. Columns found: " + "h" * 59 + "…, x.",
    "field-over-16mb.csv": "Line 2: a field is longer than 16 MB; nothing was written.",
    "session-over-68-years.csv": "Session 'long1:S' of customer 'long1' cannot be stored: its events are 375,832 days "
                                 "apart (at most 68 years); nothing was written.",
    "session-revenue-over-column.csv": "Session 'r1:S' of customer 'r1' cannot be stored: its purchases add up to "
                                       "1,999,999,999,999.98 (at most 999,999,999,999.99); nothing was written.",
    "line-over-16mb.ndjson": "Line 2 is longer than 16 MB; nothing was written.",
    "utf16-without-bom.csv": "utf16-without-bom.csv looks like UTF-16 or UTF-32 text without a byte order mark: save "
                             "it as UTF-8 (Excel: CSV UTF-8) and import it again; nothing was written.",
    "session-keys-meet.csv": "The events of customer 'a' with session id 'b:c' and customer 'a:b' with session id 'c' "
                             "would form one session, 'a:b:c': a session key is the customer id, ':' and the session "
                             "id, so ids with ':' in them can meet.",
}
# file: {session key: {field: stored value}}
STORED = {
    "header-only.csv": {},
    "mixed-newlines.csv": {"s1": {"landing_page": "/a"}, "s2": {"landing_page": "/b"}, "s3": {"landing_page": "/c"}},
    "formula-injection.csv": {"s1": {"landing_page": '=HYPERLINK("http://evil")', "campaign": "+cmd|calc"},
                              "s2": {"landing_page": "@SUM(1)", "campaign": "-2+3"}},
    "quotes-and-newlines.csv": {"s1": {"campaign": 'say "hi", then\nleave', "landing_page": "/a,b"}},
    "latin-1.csv": {"s1": {"landing_page": "/café"}},
    "invalid-utf8.csv": {"s1": {"landing_page": "/ok"}, "s2": {"landing_page": "/ÿþ€"}},  # read as Windows-1252
    "long-line.csv": {"s1": {"landing_page": "/ok"}},
    "blank-padded.json": {"s1": {"landing_page": "/ok"}},
}


def make_generated(folder):
    """Write the big or binary cases that are not worth committing; return {name: path}."""
    made = {}

    def put(name, data):
        made[name] = folder / name
        made[name].write_bytes(data if isinstance(data, bytes) else data.encode())

    put("long-values.csv", "session_id,started_at,utm_source,landing_page\n"
                           f"s1,2026-03-01T10:00:00Z,{'s' * 256},/ok\ns2,2026-03-01T11:00:00Z,ok,{'/' * 2001}\n")
    line = json.dumps({"session_id": "s1", "started_at": "2026-03-01T10:00:00Z"})
    put("deep-nesting.ndjson", line + "\n" + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "\n")
    put("deep-nesting-only.ndjson", "[" * 100_000 + "]" * 100_000 + "\n")
    put("random-bytes.bin", random.Random(11).randbytes(64 * 1024).replace(b"\x1f\x8b", b"xx"))
    put("chart.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(12).randbytes(4096))
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    put("sessions.xlsx", workbook.getvalue())
    put("long-header.csv", "h" * (5 << 20) + ",x\n1,2\n")
    put("utf16-without-bom.csv", "session_id,started_at\ns1,2026-03-01T10:00:00Z\n".encode("utf-16-le"))
    put("wide-header.csv", ",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n")
    # A 5 MB field in a column the import ignores: read and dropped, the row itself is fine.
    put("long-line.csv", "session_id,started_at,landing_page,notes\n"
                         f"s1,2026-03-01T10:00:00Z,/ok,{'x' * 5_000_000}\n")
    # Read a chunk at a time: a 200 MB line of blanks once took 458 MB and a 100 MB run of them 6.5 s of CPU.
    first = json.dumps({"session_id": "s0", "started_at": "2026-03-01T10:00:00Z"})
    put("line-over-16mb.ndjson", first + "\n" + " " * (17 << 20) + "\n")
    put("blank-padded.json", "[" + " \n" * (4 << 20) + json.dumps(
        {"session_id": "s1", "started_at": "2026-03-01T10:00:00Z", "landing_page": "/ok"}) + "\t]")
    put("field-over-16mb.csv", f'session_id,user_id,started_at\n"{"x" * (17 << 20)}",c,2026-03-05 10:00:00\n')
    records = [{"session_id": f"s{i}", "started_at": "2026-03-02T10:00:00Z"} for i in range(200)]
    put("late-key.ndjson", "".join(json.dumps(r) + "\n" for r in records + [
        {"session_id": "s200", "started_at": "2026-03-02T10:00:00Z", "revenue": "99.00"}]))
    return made


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return make_generated(tmp_path_factory.mktemp("hostile"))


def corpus_path(name, generated):
    return generated.get(name) or HOSTILE / name


def test_every_committed_case_has_an_expected_outcome(generated):
    committed = {p.name for p in HOSTILE.iterdir()}
    expected = set(REJECTED) | set(REFUSED) | set(STORED)
    assert committed | set(generated) == expected


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_bad_fields_are_listed_and_nothing_is_written(db, generated, name):
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, corpus_path(name, generated))
    found = [(e.line, e.column, e.value, e.reason) for e in rejected.value.report.errors]
    assert found == REJECTED[name]
    assert CustomerSession.select().count() == 0
    assert [(i.file_name, i.status) for i in Import.select()] == [(name, "failed")]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unreadable_files_get_one_clear_error(db, generated, name):
    with pytest.raises(AppError) as refused:
        importer.import_file(db, corpus_path(name, generated))
    assert str(refused.value).startswith(REFUSED[name]) or REFUSED[name] in str(refused.value)
    assert len(str(refused.value)) < 1000 and "\x00" not in str(refused.value)  # a message to read, not the file
    assert CustomerSession.select().count() == 0


@pytest.mark.parametrize("name", sorted(STORED))
def test_odd_but_valid_files_are_stored_exactly(db, generated, name):
    report = importer.import_file(db, corpus_path(name, generated))
    stored = {s.session_key: s for s in CustomerSession.select()}
    assert report.sessions_created == len(stored) == len(STORED[name])
    for key, fields in STORED[name].items():
        assert {f: getattr(stored[key], f) for f in fields} == fields


def test_a_gzip_file_cut_after_its_header_is_refused_whole(db, tmp_path):
    path = tmp_path / "cut.csv.gz"
    whole = gzip.compress(b"session_id,started_at\n" + b"".join(b"s%d,2026-03-01T10:00:00Z\n" % i for i in range(20000)))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AppError, match="cut.csv.gz cannot be read"):
        importer.import_file(db, path)
    assert CustomerSession.select().count() == 0


def test_blank_lines_before_a_csv_header_are_skipped_and_lines_keep_their_numbers(db, tmp_path):
    # The blank first line was read as an empty header: "none of the first records is a JSON object with fields".
    path = tmp_path / "blank-first.csv"
    path.write_bytes(b"\n\r\n  \nsession_id,started_at,landing_page\ns1,2026-03-01T10:00:00Z,/a\ns2,soon,/b\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, path)
    assert [(e.line, e.column, e.value) for e in rejected.value.report.errors] == [(6, "started_at", "soon")]
    path.write_bytes(b"\n\nsession_id;started_at;landing_page\ns1;2026-03-01T10:00:00Z;/a\n")
    assert importer.import_file(db, path).sessions_created == 1
    assert [(s.session_key, s.landing_page) for s in CustomerSession.select()] == [("s1", "/a")]


def test_a_dry_run_writes_nothing_not_even_an_import_id_or_a_failed_import(db, generated):
    good = corpus_path("mixed-newlines.csv", generated)
    assert importer.import_file(db, good, ImportOptions(dry_run=True)).import_id is None
    with pytest.raises(importer.ImportRejected):
        importer.import_file(db, corpus_path("revenue-1e30.csv", generated), ImportOptions(dry_run=True))
    assert Import.select().count() == 0 and CustomerSession.select().count() == 0
    assert importer.import_file(db, good).import_id == 1


# --- the same corpus through the command line, the web upload and the API ----------------------------------


def every_case(generated):
    return sorted(set(REJECTED) | set(REFUSED) | set(STORED))


def stored_count(name):
    return len(STORED.get(name, {}))


def undo_all():
    for record in Import.select().where(Import.status == "done"):
        importer.undo(database.obj, record.id)  # the database the models use now


def test_the_corpus_through_the_command_line(db, db_url, generated, capsys):
    import manage

    for name in every_case(generated):
        code = manage.main(["import", str(corpus_path(name, generated))], environ={"DATABASE_URL": db_url},
                           out=lambda *_: None)
        database.initialize(db)  # the command pointed the models at a database of its own, closed now
        err = capsys.readouterr().err
        if name in STORED:
            assert (code, CustomerSession.select().count()) == (0, stored_count(name)), (name, err)
            undo_all()
        else:
            assert code == 1 and err.startswith("Error: ") and "Traceback" not in err, (name, err)
            for line, column, _, reason in REJECTED.get(name, []):
                assert f"line {line}, column {column!r}" in err and reason in err, (name, err)
            assert REFUSED.get(name, "") in err, (name, err)
            assert CustomerSession.select().count() == 0, name


@pytest.fixture
def web(db, db_url):
    """The app on the test's database, signed in as an analyst, with an ingest token."""
    import webtest

    from analyzer.accounts import tokens
    from analyzer.web import create_app
    from tests.conftest import sign_in

    app = create_app(Settings(app_env="test", database_url=db_url, secret_key="k"))
    client = webtest.TestApp(app)
    user = sign_in(client, "analyst@example.com", "analyst")
    yield client, {"Authorization": f"Bearer {tokens.create(user, 'ingest')[0]}"}
    app.config["analyzer.db"].close()


def test_the_corpus_through_the_web_upload(db, web, generated):
    client, _ = web
    for name in every_case(generated):
        response = client.post("/imports", {"csrf_token": csrf_of(client, "/imports")}, expect_errors=True,
                               upload_files=[("file", name, corpus_path(name, generated).read_bytes())])
        expected = 303 if name in STORED else 422 if name in REJECTED else 400
        assert response.status_int == expected, (name, response.status, response.text[-500:])
        if name in STORED:
            assert "Imported " in response.follow().text, name
        cells = [[td.get_text() for td in tr.select("td")] for tr in response.html.select("table tr")]
        for line, column, _, reason in REJECTED.get(name, []):
            assert [str(line), column] in [c[:2] for c in cells] and reason in html.unescape(response.text), name
        assert CustomerSession.select().count() == stored_count(name), name
        undo_all()


def as_api_body(name, path):
    """Return what a client of the API would send for this case, and how its line numbers shift."""
    if not name.endswith(".csv") or name in REFUSED:
        return path.read_bytes(), 0
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        records = list(csv.DictReader(handle))
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8", "surrogateescape"), -1


def test_the_corpus_through_the_api(db, web, generated):
    client, headers = web
    for name in every_case(generated):
        if name in CSV_ONLY:
            continue
        body, shift = as_api_body(name, corpus_path(name, generated))
        response = client.post("/api/v1/sessions", body, headers=headers, expect_errors=True)
        assert response.content_type == "application/json", name
        if not body:
            assert response.status_int == 400 and response.json["error"].startswith("The body is empty"), name
        elif name in STORED:
            assert response.status_int == 201, (name, response.json)
            assert response.json["sessions_created"] == stored_count(name), name
        elif name in REJECTED:
            found = [(e["line"] - shift, e["column"], e["reason"]) for e in response.json["errors"]]
            assert response.status_int == 422 and found == [(l, c, r) for l, c, _, r in REJECTED[name]], name
        else:
            assert response.status_int == 400 and response.json["error"], name
            assert "/tmp" not in response.json["error"] and "analyzer-api" not in response.json["error"], name
        assert CustomerSession.select().count() == stored_count(name), name
        undo_all()


@pytest.mark.parametrize("value, status, written", [("1", 200, 0), ("true", 200, 0), ("TRUE", 200, 0), ("0", 201, 1),
                                                    ("false", 201, 1), ("yes", 400, 0), ("", 400, 0)])
def test_the_api_dry_run_flag_is_one_of_four_words_and_anything_else_writes_nothing(db, web, value, status, written):
    client, headers = web
    body = json.dumps({"session_id": "s1", "customer_id": "c1", "started_at": "2026-03-01T10:00:00Z"})
    response = client.post(f"/api/v1/sessions?dry_run={value}", body, headers=headers, expect_errors=True)
    assert response.status_int == status, response.json
    assert CustomerSession.select().count() == written and Import.select().count() == written
    if status == 400:  # dry_run= (a script's unset $FLAG) wrote the rows
        assert f"dry_run {value!r}: give 1 (or true)" in response.json["error"]
    else:
        assert response.json["dry_run"] is (written == 0)


def test_an_empty_timezone_is_a_400_and_writes_nothing(db, web):
    client, headers = web
    body = json.dumps({"session_id": "s1", "customer_id": "c1", "started_at": "2026-03-01T10:00:00Z"})
    response = client.post("/api/v1/sessions?timezone=", body, headers=headers, status=400)  # it was read as UTC
    assert response.json["error"].startswith("timezone is empty: give an IANA zone")
    assert CustomerSession.select().count() == 0 and Import.select().count() == 0


@pytest.mark.parametrize("query", ["dry_run=1&dry_run=0", "dry_run=0&dry_run=1", "year=2026&year=2025",
                                   "timezone=UTC&timezone=Europe/Berlin"])
def test_an_import_option_given_twice_is_a_400_and_writes_nothing(db, web, query):
    client, headers = web
    body = json.dumps({"session_id": "s1", "customer_id": "c1", "started_at": "2026-03-01T10:00:00Z"})
    response = client.post(f"/api/v1/sessions?{query}", body, headers=headers, status=400)
    name = query.split("=")[0]
    assert response.json["error"] == f"{name} is given 2 times: give it once; nothing was written."
    assert CustomerSession.select().count() == 0 and Import.select().count() == 0


@pytest.mark.parametrize("query, hint", [("dryrun=1", " (did you mean 'dry_run'?)"), ("Dry-Run=1", " (did you mean "
                                         "'dry_run'?)"), ("tz=Europe/Berlin", ""), ("gap_minutes=5", "")])
def test_an_unknown_import_option_is_a_400_and_writes_nothing(db, web, query, hint):
    # Ignored, dryrun=1 imported the rows it was to check, and tz= read the times as UTC.
    client, headers = web
    body = json.dumps({"session_id": "s1", "customer_id": "c1", "started_at": "2026-03-01 10:00:00"})
    for route in ("/api/v1/sessions", "/api/v1/events"):
        response = client.post(f"{route}?{query}", body, headers=headers, status=400)
        name = query.split("=")[0]
        assert response.json["error"] == (f"Unknown parameter {name!r}{hint}: an import takes dry_run, timezone, year "
                                          "and map; nothing was written.")
    assert CustomerSession.select().count() == 0 and Import.select().count() == 0
