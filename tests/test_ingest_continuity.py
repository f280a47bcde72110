"""Files cut into parts add up to the whole file, in any order; re-imports write nothing twice; undo is exact."""

import csv
import datetime as dt
import gzip
import io
import random
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.errors import AppError
from analyzer.ingest import changes, importer, rollups
from analyzer.ingest.options import ImportOptions
from analyzer.models import (BreakdownRollup, CrossRollup, CustomerFirst, CustomerSession, CustomerSketch, DailyRollup,
                             Import, RollupZone, SessionEvent)
from tests.conftest import ROOT, run_cli
from tests.test_ingest_import import REAL, db  # noqa: F401 (the migrated-database fixture)

HEADER = ["user_id", "timestamp", "event", "page", "revenue", "utm_source", "device", "session_id"]
BASE = dt.datetime(2026, 3, 1, 22, 0)
SOURCES = ["google", "newsletter", "", "instagram"]
SESSION_FIELDS = [f.name for f in CustomerSession._meta.sorted_fields if f.name not in ("id", "import_id")]
ROLLUPS = (DailyRollup, BreakdownRollup, CrossRollup, CustomerSketch)


def event_rows(draw_events, by_id):
    """Turn drawn (customer, minute, second, type, page, value, session) tuples into CSV rows."""
    rows = []
    for customer, minute, second, kind, page, value, session in draw_events:
        when = BASE + dt.timedelta(minutes=minute, seconds=second)
        identity = (customer, when, kind, page, value)
        # Traffic details follow from the event itself, so identical events never disagree about them.
        detail = random.Random(repr(identity))
        rows.append([f"c{customer}", when.isoformat(sep=" "), kind, page, value if kind == "purchase" else "",
                     detail.choice(SOURCES), detail.choice(["mobile", "desktop"]), f"s{session}" if by_id else ""])
    return rows


def write_csv(path, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def state():
    """Return the sessions (every column but the row id), events and every rollup as comparable values."""
    sessions = sorted(tuple(str(v) for v in row) for row in
                      CustomerSession.select(*[getattr(CustomerSession, f) for f in SESSION_FIELDS]).tuples())
    events = sorted(tuple(str(v) for v in row) for row in
                    SessionEvent.select(SessionEvent.customer_id, SessionEvent.occurred_at, SessionEvent.event_type,
                                        SessionEvent.page, SessionEvent.revenue, CustomerSession.session_key)
                    .join(CustomerSession).tuples())
    rollups = sorted(tuple(str(bytes(v)) if isinstance(v, memoryview) else str(v) for v in row)
                     for model in ROLLUPS
                     for row in model.select(*[f for f in model._meta.sorted_fields if f.name != "id"]).tuples())
    rollups += sorted((c.customer_id, str(c.started_at)) for c in CustomerFirst.select())
    return sessions, events, rollups


def clear(database):
    with database.atomic():
        for model in (SessionEvent, CustomerFirst, CustomerSession, *ROLLUPS, RollupZone, Import):
            model.delete().execute()


@pytest.fixture
def by_difference(monkeypatch):
    """Every import onto days with sessions changes their rollups by the difference, however much it writes."""
    monkeypatch.setattr(changes, "DELTA_SHARE", 1e9)


EVENTS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 240), st.sampled_from([0, 0, 30]),
              st.sampled_from(["page_view", "page_view", "add_to_cart", "purchase"]),
              st.sampled_from(["/", "/shoes", "/cart", ""]), st.sampled_from(["9.90", "25.00"]), st.integers(0, 2)),
    min_size=1, max_size=40)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, by_id=st.booleans(), cuts=st.lists(st.integers(0, 40), max_size=3), order=st.randoms())
def test_any_split_imported_in_any_order_equals_the_whole_file(db, tmp_path, by_difference, events, by_id, cuts,  # noqa: F811
                                                               order):
    rows = event_rows(events, by_id)
    clear(db)
    importer.import_file(db, write_csv(tmp_path / "whole.csv", rows), ImportOptions(split_by_gap=not by_id))
    whole = state()
    clear(db)
    bounds = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    parts = [write_csv(tmp_path / f"part{i}.csv", rows[a:b]) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    order.shuffle(parts)
    reports = [importer.import_file(db, part, ImportOptions(split_by_gap=not by_id)) for part in parts]
    assert state() == whole
    again = importer.import_file(db, tmp_path / "whole.csv", ImportOptions(split_by_gap=not by_id))
    assert (again.sessions_created, again.sessions_continued, again.events_added) == (0, 0, 0)
    assert state() == whole
    importer.undo(db, again.import_id)
    assert state() == whole
    undo_order = [r.import_id for r in reports]
    order.shuffle(undo_order)
    for import_id in undo_order:
        importer.undo(db, import_id)
    assert state() == ([], [], [])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, by_id=st.booleans(), cut=st.integers(0, 40))
def test_undoing_the_second_import_restores_the_first_exactly(db, tmp_path, by_difference, events, by_id,  # noqa: F811
                                                              cut):
    rows = event_rows(events, by_id)
    clear(db)
    first = importer.import_file(db, write_csv(tmp_path / "first.csv", rows[:cut]), ImportOptions(split_by_gap=not by_id))
    before = state()
    second = importer.import_file(db, write_csv(tmp_path / "second.csv", rows[cut:]), ImportOptions(split_by_gap=not by_id))
    importer.undo(db, second.import_id)
    assert state() == before
    importer.undo(db, first.import_id)
    assert state() == ([], [], [])


def test_a_continued_session_is_extended_and_undo_restores_every_column(db, tmp_path):  # noqa: F811
    rows = [["u1", "2026-03-01 23:50:00", "page_view", "/", "", "google", "mobile", ""],
            ["u1", "2026-03-02 00:05:00", "page_view", "/shoes", "", "", "mobile", ""],
            ["u1", "2026-03-02 00:20:00", "purchase", "/thanks", "49.90", "", "mobile", ""]]
    first = importer.import_file(db, write_csv(tmp_path / "a.csv", rows[:1]))
    kept = list(CustomerSession.select().dicts())
    second = importer.import_file(db, write_csv(tmp_path / "b.csv", rows[1:]))
    assert (second.sessions_created, second.sessions_continued, second.events_added) == (0, 1, 2)
    (session,) = CustomerSession.select()
    assert (session.id, session.started_at, session.ended_at, session.duration_s) == (
        kept[0]["id"], dt.datetime(2026, 3, 1, 23, 50), dt.datetime(2026, 3, 2, 0, 20), 1800)
    assert (session.page_views, session.events, session.exit_page, session.revenue, session.converted) == (
        2, 3, "/thanks", Decimal("49.90"), True)
    assert (session.source, session.import_id) == ("google", first.import_id)
    assert [(r.day, r.sessions, r.conversions, r.revenue) for r in DailyRollup.select()] == [
        (dt.date(2026, 3, 1), 1, 1, Decimal("49.90"))]
    importer.undo(db, second.import_id)
    assert list(CustomerSession.select().dicts()) == kept
    assert [(r.day, r.sessions, r.conversions) for r in DailyRollup.select()] == [(dt.date(2026, 3, 1), 1, 0)]


def test_a_late_middle_part_joins_two_sessions_into_one(db, tmp_path):  # noqa: F811
    rows = [["u1", f"2026-03-01 10:{m:02d}:00", "page_view", f"/p{m}", "", "", "", ""] for m in (0, 25, 50)]
    importer.import_file(db, write_csv(tmp_path / "ends.csv", [rows[0], rows[2]]))
    assert CustomerSession.select().count() == 2
    middle = importer.import_file(db, write_csv(tmp_path / "middle.csv", [rows[1]]))
    assert (middle.sessions_created, middle.sessions_continued, middle.events_added) == (0, 1, 1)
    (session,) = CustomerSession.select()
    assert (session.events, session.landing_page, session.exit_page, session.duration_s) == (3, "/p0", "/p50", 3000)
    assert [r.sessions for r in DailyRollup.select()] == [1]
    importer.undo(db, middle.import_id)
    assert sorted((s.events, s.landing_page) for s in CustomerSession.select()) == [(1, "/p0"), (1, "/p50")]
    assert [r.sessions for r in DailyRollup.select()] == [2]


def test_sessions_continued_on_another_page_leave_the_old_exit_page_without_a_recount(  # noqa: F811
        db, tmp_path, by_difference, monkeypatch):
    # The next hour's file ends most continued sessions on another page. Their customers leave the old exit page's
    # cell, which keeps their hashes however many (600 here, past the 512 of other cells): they are taken out.
    first = [[f"u{n}", "2026-03-01 10:00:00", "page_view", "/a", "", "google", "mobile", f"s{n}"] for n in range(600)]
    first.append(["u0", "2026-03-01 12:00:00", "page_view", "/a", "", "google", "mobile", "other"])
    later = [[f"u{n}", "2026-03-01 10:40:00", "page_view", "/b", "", "google", "mobile", f"s{n}"] for n in range(600)]
    importer.import_file(db, write_csv(tmp_path / "whole.csv", first + later))
    whole = state()
    clear(db)
    importer.import_file(db, write_csv(tmp_path / "first.csv", first))
    monkeypatch.setattr(changes, "_recount_cells", lambda db, cells, tz: cells and pytest.fail(f"recounted {cells}"))
    monkeypatch.setattr(rollups, "refresh_days", lambda *args: pytest.fail("the day was recomputed"))
    second = importer.import_file(db, write_csv(tmp_path / "later.csv", later))
    assert second.sessions_continued == 600
    assert state() == whole
    assert {s.value: s.customers for s in CustomerSketch.select().where(CustomerSketch.dimension == "exit_page")} == {
        "/a": 1, "/b": 600}


def test_undoing_a_customers_first_session_makes_their_next_one_first(db, tmp_path, by_difference):  # noqa: F811
    morning = [["u1", "2026-03-01 09:00:00", "page_view", "/", "", "google", "mobile", ""],
               ["u2", "2026-03-01 09:30:00", "page_view", "/", "", "", "desktop", ""]]
    evening = [["u1", "2026-03-01 18:00:00", "page_view", "/shoes", "", "", "mobile", ""]]
    importer.import_file(db, write_csv(tmp_path / "evening.csv", evening))
    alone = state()
    first = importer.import_file(db, write_csv(tmp_path / "morning.csv", morning))
    assert [(f.customer_id, f.started_at.hour) for f in CustomerFirst.select().order_by(CustomerFirst.customer_id)] == [
        ("u1", 9), ("u2", 9)]
    importer.undo(db, first.import_id)
    assert state() == alone
    assert [(f.customer_id, f.started_at.hour) for f in CustomerFirst.select()] == [("u1", 18)]


def test_a_customer_missing_from_the_first_sessions_gets_their_earliest_one(db, tmp_path, by_difference):  # noqa: F811
    morning = [["u1", "2026-03-01 09:00:00", "page_view", "/", "", "google", "mobile", ""]]
    evening = [["u1", "2026-03-01 18:00:00", "page_view", "/shoes", "", "", "mobile", ""]]
    importer.import_file(db, write_csv(tmp_path / "morning.csv", morning))
    CustomerFirst.delete().execute()  # as a database upgraded past migration 005 holds them until a rebuild
    importer.import_file(db, write_csv(tmp_path / "evening.csv", evening))
    assert [(f.customer_id, f.started_at.hour) for f in CustomerFirst.select()] == [("u1", 9)]


def test_an_overlapping_file_adds_only_the_events_not_stored_yet(db, tmp_path):  # noqa: F811
    rows = [["u1", f"2026-03-01 10:0{m}:00", "page_view", "/", "", "", "", ""] for m in range(6)]
    importer.import_file(db, write_csv(tmp_path / "a.csv", rows[:4]))
    report = importer.import_file(db, write_csv(tmp_path / "b.csv", rows[2:]))
    assert (report.rows_read, report.events_added, report.rows_identical, report.sessions_continued) == (4, 2, 2, 1)
    assert (SessionEvent.select().count(), CustomerSession.get().events) == (6, 6)


@pytest.mark.parametrize("first_by_gap", [False, True], ids=["session ids first", "inactivity first"])
def test_the_same_events_grouped_the_other_way_are_already_there(db, tmp_path, first_by_gap):  # noqa: F811
    rows = [["u1", f"2026-03-01 10:0{m}:00", "page_view", f"/p{m}", "", "", "", "s1"] for m in range(4)]
    rows += [["u1", "2026-03-01 10:05:00", "purchase", "", "9.50", "", "", "s1"],
             ["u2", "2026-03-01 11:00:00", "page_view", "/", "", "", "", "s7"]]
    path = write_csv(tmp_path / "events.csv", rows)
    importer.import_file(db, path, ImportOptions(split_by_gap=first_by_gap))
    stored = state()
    again = importer.import_file(db, path, ImportOptions(split_by_gap=not first_by_gap))
    assert (again.rows_read, again.events_added, again.rows_identical, again.sessions_created) == (6, 0, 6, 0)
    assert state() == stored
    # A new event among them is added, grouped the way its import says.
    later = importer.import_file(db, write_csv(tmp_path / "more.csv", rows + [["u1", "2026-03-01 10:06:00", "page_view",
                                                                               "/p9", "", "", "", "s1"]]),
                                 ImportOptions(split_by_gap=not first_by_gap))
    assert (later.events_added, later.rows_identical) == (1, 6)
    assert SessionEvent.select().count() == 7
    assert sum((s.revenue for s in CustomerSession.select()), Decimal("0")) == Decimal("9.50")


def test_an_event_again_in_its_session_is_there_and_in_another_is_new_in_any_order(db, tmp_path):  # noqa: F811
    event = ["c1", "2026-03-01 22:00:00", "page_view", "", "", "google", "mobile"]
    part_a = [event + ["s1"]]
    part_b = [event + ["s1"], event + ["s2"]]
    whole = importer.import_file(db, write_csv(tmp_path / "whole.csv", part_a + part_b))
    assert (whole.sessions_created, whole.events_added, whole.rows_identical) == (2, 2, 1)
    expected = state()
    for first, second in ((part_a, part_b), (part_b, part_a)):
        clear(db)
        importer.import_file(db, write_csv(tmp_path / "first.csv", first))
        importer.import_file(db, write_csv(tmp_path / "second.csv", second))
        assert state() == expected


def test_a_later_file_whose_ids_meet_a_stored_session_key_is_refused(db, tmp_path):  # noqa: F811
    importer.import_file(db, write_csv(tmp_path / "first.csv", [["a:b", "2026-03-01 10:00:00", "page_view", "/x", "",
                                                                  "", "", "c"]]))
    (tmp_path / "sessions.csv").write_text("session_id,user_id,started_at,ended_at,pages\n"
                                           "q:1,x,2026-03-01 09:00:00,2026-03-01 09:10:00,3\n", encoding="utf-8")
    importer.import_file(db, tmp_path / "sessions.csv")
    stored = state()
    holder = CustomerSession.get(CustomerSession.session_key == "q:1").import_id
    meeting = [(["b:c"], "would form one session, 'a:b:c'"),
               # Among other new sessions (inserted before the one refused), the stored one is named.
               (["0", "1", "2"], f"Session 'q:1' of customer 'q' cannot be stored: a session of customer 'x' that "
                                 f"import {holder} wrote")]
    for sessions, message in meeting:
        customer = "a" if sessions == ["b:c"] else "q"
        rows = [[customer, f"2026-03-01 11:0{n}:00", "page_view", "/y", "", "", "", session]
                for n, session in enumerate(sessions)]
        with pytest.raises(AppError, match=re.escape(message)):
            importer.import_file(db, write_csv(tmp_path / "second.csv", rows))
        assert state() == stored


def rees46_parts(tmp_path):
    with gzip.open(REAL / "rees46_multicategory_2019-10-01_head.csv.gz", "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines(keepends=True)
    early = [line for line in lines[1:] if line < "2019-10-01 02:20:00"]
    late = [line for line in lines[1:] if line >= "2019-10-01 02:20:00"]
    paths = []
    for name, body in (("early.csv", early), ("late.csv", late)):
        (tmp_path / name).write_text(lines[0] + "".join(body), encoding="utf-8")
        paths.append(tmp_path / name)
    return paths


@pytest.mark.parametrize("by_gap", [False, True], ids=["by session id", "by inactivity"])
def test_real_rees46_cut_at_0220_adds_up_to_the_whole_file(db, tmp_path, by_gap):  # noqa: F811
    early, late = rees46_parts(tmp_path)
    importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz", ImportOptions(split_by_gap=by_gap))
    whole = state()
    assert len(whole[0]) == (4518 if by_gap else 5067) and len(whole[1]) == (17426 if by_gap else 17429)
    clear(db)
    importer.import_file(db, late, ImportOptions(split_by_gap=by_gap))
    report = importer.import_file(db, early, ImportOptions(split_by_gap=by_gap))
    assert report.sessions_continued > 0
    assert state() == whole
    revenue = sum((s.revenue for s in CustomerSession.select()), Decimal("0"))
    assert revenue == Decimal("59442.63")
    if not by_gap:
        assert CustomerSession.select().where(CustomerSession.converted).count() == 200


def test_real_rees46_in_six_parts_in_time_order_changes_the_rollups_by_the_difference(db, tmp_path, by_difference,  # noqa: F811
                                                                                       monkeypatch):
    importer.import_file(db, REAL / "rees46_multicategory_2019-10-01_head.csv.gz")
    whole = state()
    clear(db)
    with gzip.open(REAL / "rees46_multicategory_2019-10-01_head.csv.gz", "rt", encoding="utf-8") as handle:
        header, *lines = handle.read().splitlines(keepends=True)
    lines.sort()
    # Cut between two instants, so that no session's first event depends on the cut.
    cuts = [next(i for i in range(len(lines) * k // 6, len(lines)) if lines[i][:19] != lines[i - 1][:19])
            for k in range(1, 6)]
    recomputed = []
    recompute = rollups.refresh_days
    monkeypatch.setattr(rollups, "refresh_days", lambda *args: recomputed.append(args[1]) or recompute(*args))
    for number, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(lines)])):
        (tmp_path / f"part{number}.csv").write_text(header + "".join(lines[a:b]), encoding="utf-8")
        importer.import_file(db, tmp_path / f"part{number}.csv")
    assert state() == whole
    assert recomputed == [{dt.date(2019, 10, 1)}]  # the first part only: its day held no session yet


def test_one_command_imports_several_files_each_as_its_own_import(db, db_url, tmp_path):  # noqa: F811
    rows = event_rows([(0, 0, 0, "page_view", "/", "", 0), (0, 10, 0, "page_view", "/shoes", "", 0),
                       (0, 20, 0, "purchase", "", "25.00", 0), (1, 60, 0, "page_view", "/", "", 0)], by_id=False)
    whole = write_csv(tmp_path / "whole.csv", rows)
    parts = [write_csv(tmp_path / f"part-{n}.csv", part) for n, part in enumerate((rows[:2], rows[2:3], rows[3:]))]
    assert run_cli(ROOT, "import", str(whole), env={"DATABASE_URL": db_url}).code == 0
    expected = state()
    clear(db)
    result = run_cli(ROOT, "import", *map(str, parts), env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    assert state() == expected
    imports = list(Import.select().order_by(Import.id))
    assert [i.file_name for i in imports] == ["part-0.csv", "part-1.csv", "part-2.csv"]
    assert [line.split(":")[0] for line in result.out.splitlines() if line.startswith("Imported as")] == [
        f"Imported as import {i.id}" for i in imports]
    assert result.out.splitlines()[-1] == f"Imported 3 files as imports {imports[0].id} to {imports[-1].id}."


def test_several_files_stop_at_the_first_bad_one_and_keep_those_before_it(db, db_url, tmp_path):  # noqa: F811
    good = write_csv(tmp_path / "good.csv", event_rows([(0, 0, 0, "page_view", "/", "", 0)], by_id=False))
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,timestamp,event\nc9,never,page_view\n", encoding="utf-8")
    later = write_csv(tmp_path / "later.csv", event_rows([(1, 5, 0, "page_view", "/", "", 0)], by_id=False))
    result = run_cli(ROOT, "import", str(good), str(bad), str(later), env={"DATABASE_URL": db_url})
    assert result.code == 1
    assert f"Stopped at {bad}: the 1 file(s) before it are imported; it and the 1 after it are not." in result.out
    assert "line 2, column 'timestamp', value 'never': not a date and time" in result.err
    assert "Traceback" not in result.err
    assert [s.customer_id for s in CustomerSession.select()] == ["c0"]
    assert [(i.file_name, i.status) for i in Import.select().order_by(Import.id)] == [("good.csv", "done"),
                                                                                     ("bad.csv", "failed")]
    result = run_cli(ROOT, "import", "--dry-run", str(good), str(later), env={"DATABASE_URL": db_url})
    assert result.code == 0 and result.out.splitlines()[-1] == "Checked 2 files (dry run, nothing written).", result.err
    result = run_cli(ROOT, "import", str(bad), str(later), env={"DATABASE_URL": db_url})
    assert result.code == 1
    assert f"Stopped at {bad}: no file is imported; it and the 1 after it are not." in result.out


def test_list_and_undo_take_no_file(db, db_url, tmp_path):  # noqa: F811
    path = write_csv(tmp_path / "good.csv", event_rows([(0, 0, 0, "page_view", "/", "", 0)], by_id=False))
    for option in (["--list"], ["--undo", "1"]):
        result = run_cli(ROOT, "import", *option, str(path), env={"DATABASE_URL": db_url})
        assert (result.code, result.err.strip()) == (1, "Error: import --list and --undo take no file: list, undo "
                                                        "and import in separate commands.")
    assert Import.select().count() == 0
