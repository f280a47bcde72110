"""The upload page: a check shows the detected columns before anything is written, the analyst changes one
and imports; the counts and warnings are shown by name."""

import dataclasses
import gzip
import re
import threading
import time
from urllib.parse import quote

from analyzer.ingest import changes, importer
from analyzer.models import CustomerSession, Import
from tests.conftest import csrf_of, sign_in
from tests.test_ingest_import import REAL, Hold, sessions_file, wait_for_a_waiter
from tests.test_auth import browser, make_app, settings  # noqa: F401 (fixtures)

SHOP = ("session_token,user_token,session_started_at,total_sales,theme\n"
        "t1,alice,2026-03-01T10:00:00Z,10.00,dawn\n"
        "t2,alice,2026-03-02T10:00:00Z,0,dawn\n")

# A session file whose columns have names no detection knows.
CUSTOM = (b"visit,who,when,amount,cc\n"
          b"v1,alice,2026-11-20 10:00:00,10.00,DE\n"
          b"v2,bob,2026-11-21 11:00:00,20.50,FR\n"
          b"v3,alice,2026-11-22 12:00:00,,zz\n")
CUSTOM_CHOSEN = {"session_key": "visit", "customer_id": "who", "started_at": "when", "revenue": "amount"}


def check(client, body=SHOP.encode(), name="shop.csv", status=200):
    return client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "check"},
                       upload_files=[("file", name, body)], status=status)


def test_a_check_shows_the_mapping_unused_columns_and_warning_and_writes_nothing(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    page = check(client)
    assert "Checked shop.csv, nothing written: it would give 2 rows read, 2 sessions created" in page.text
    assert "Columns not used: user_token, theme" in page.text
    assert "No customer column was found: every session counts as its own customer" in page.text
    form = page.forms[1]
    assert form.action == "/imports/confirm"
    assert form["map_session_key"].value == "session_token" and form["map_customer_id"].value == ""
    assert (CustomerSession.select().count(), Import.select().count()) == (0, 0)


def test_changing_a_column_and_importing_uses_it(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = check(client).forms[1]
    form["map_customer_id"] = "user_token"
    form["map_revenue"] = ""
    done = form.submit(status=303)
    page = done.follow()
    assert page.request.path_qs == f"/imports?imported={Import.get().id}"
    assert re.search(r"Imported shop.csv as import \d+: 2 rows read, 2 sessions created", page.text)
    assert sorted((s.customer_id, s.revenue) for s in CustomerSession.select()) == [("alice", 0), ("alice", 0)]
    assert "Sessions continued" in page.text and "Rows already there" in page.text
    again = form.submit(status=303)  # sent again (Back, then the button): the same result, nothing imported again
    assert again.location == done.location and Import.select().count() == 1


def test_a_mapping_that_fails_keeps_the_form_with_the_analysts_columns_to_change_them(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = check(client).forms[1]
    form["map_customer_id"] = "user_token"
    form["map_revenue"] = "theme"
    page = form.submit(status=422)
    assert "2 bad field(s); nothing of this file was written. Change a column below and import again" in page.text
    assert "dawn" in page.html.select_one("table:not(.mapping)").text
    again = page.forms[1]
    assert again.action == "/imports/confirm"
    assert (again["map_revenue"].value, again["map_customer_id"].value) == ("theme", "user_token")
    assert "customer column was found" not in page.text  # the detection's warning, no longer true
    assert "Columns not used: total_sales" in page.text  # of the columns chosen, not of the detection
    again["map_revenue"] = "total_sales"
    done = again.submit(status=303).follow()
    assert re.search(r"Imported shop.csv as import \d+: 2 rows read, 2 sessions created", done.text)
    assert sorted((s.customer_id, float(s.revenue)) for s in CustomerSession.select()) == [("alice", 0), ("alice", 10)]
    assert Import.select().where(Import.status == "failed").count() == 1


def test_a_column_that_is_not_in_the_file_keeps_the_form_and_a_check_with_bad_rows_shows_one(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = check(client).forms[1]
    form["map_revenue"].force_value("no such column")
    page = form.submit(status=400)
    assert page.forms[1].action == "/imports/confirm"
    assert page.forms[1]["map_revenue"].value == "no such column"
    bad = SHOP.replace("10.00", "ten dollars").encode()
    checked = check(client, bad, status=422)
    assert "ten dollars" in checked.text
    assert checked.forms[1].action == "/imports/confirm" and checked.forms[1]["map_revenue"].value == "total_sales"
    assert CustomerSession.select().count() == 0


def choose_custom_columns(client):
    """Check CUSTOM, choose every column of it by hand and import: return the page of its bad country."""
    form = check(client, CUSTOM, name="custom.csv", status=400).forms[1]
    for field, column in {**CUSTOM_CHOSEN, "country": "cc"}.items():
        form[f"map_{field}"] = column
    page = form.submit(status=422)
    assert "zz" in page.html.select_one("table:not(.mapping)").text
    return page


def selected(form):
    return {field: form[f"map_{field}"].value for field in [*CUSTOM_CHOSEN, "country"]}


def test_columns_chosen_by_hand_stay_chosen_after_a_failed_import_when_another_is_unset(browser):  # noqa: F811
    # None of these columns is detected: the import after a 422 used only the column changed, not the ones kept.
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    again = choose_custom_columns(client).forms[1]
    assert selected(again) == {**CUSTOM_CHOSEN, "country": "cc"}
    again["map_country"] = ""
    done = again.submit(status=303).follow()
    assert re.search(r"Imported custom.csv as import \d+: 3 rows read, 3 sessions created", done.text)
    assert sorted((s.session_key, s.customer_id, s.country) for s in CustomerSession.select()) == [
        ("v1", "alice", None), ("v2", "bob", None), ("v3", "alice", None)]


def test_columns_chosen_by_hand_stay_chosen_after_a_refused_import(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = choose_custom_columns(client).forms[1]
    form["map_country"], form["map_started_at"] = "", ""
    page = form.submit(status=400)
    assert "custom.csv (sessions) has no column for started_at" in page.text
    again = page.forms[1]
    assert selected(again) == {**CUSTOM_CHOSEN, "started_at": "", "country": ""}
    again["map_started_at"] = "when"
    again.submit(status=303)
    assert sorted(s.session_key for s in CustomerSession.select()) == ["v1", "v2", "v3"]


def test_a_file_without_a_recognised_start_column_gets_the_form_to_choose_one(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    page = check(client, b"sid,uid,start,rev\ncf1,c1,2026-03-10 10:00:00,5\n", name="cf.csv", status=400)
    assert "cf.csv (sessions) has no column for started_at" in page.text
    form = page.forms[1]
    assert form.action == "/imports/confirm" and form["map_started_at"].value == ""
    form["map_started_at"], form["map_session_key"], form["map_customer_id"] = "start", "sid", "uid"
    form["map_revenue"] = "rev"
    done = form.submit(status=303).follow()
    assert re.search(r"Imported cf.csv as import \d+: 1 rows? read, 1 sessions? created", done.text), done.text[-800:]
    assert [(s.session_key, s.customer_id, float(s.revenue)) for s in CustomerSession.select()] == [("cf1", "c1", 5)]


def test_confirming_needs_the_csrf_token_and_the_same_user(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = check(client).forms[1]
    fields = {name: field.value for name, field in form.field_order if name}
    fields["csrf_token"] = "forged"
    client.post("/imports/confirm", fields, status=403)
    other = browser()
    sign_in(other, "bo@example.com", "analyst")
    fields["csrf_token"] = csrf_of(other, "/imports")
    page = other.post("/imports/confirm", fields, status=400)
    assert "no longer here" in page.text
    assert CustomerSession.select().count() == 0


def test_import_now_writes_at_once_and_shows_the_counts(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    done = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "import"},
                       upload_files=[("file", "shop.csv", SHOP.encode())], status=303)
    page = done.follow()  # a reload of the result sends nothing again
    assert "Imported shop.csv as import" in page.text and "every session counts as its own customer" in page.text
    assert CustomerSession.select().count() == 2
    events = b"user_id,timestamp,event\nu1,2026-03-01T10:00:00Z,pageview\nu1,2026-03-01T10:01:00Z,pageview\n"
    notes = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "import"},
                        upload_files=[("file", "e.csv", events)], status=303).follow()
    assert re.search(r"Imported e.csv as import \d+: 2 rows read, 1 sessions? created, 0 sessions continued, 2 events "
                     r"added, 0 rows already there \(identical\), in \d+\.\d s\.", notes.text), notes.text[-800:]
    assert "2 &#039;pageview&#039; event(s) were read as page_view" in notes.text


def test_an_upload_with_an_unknown_step_is_refused_and_imports_nothing(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    page = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "bogus"},
                       upload_files=[("file", "shop.csv", SHOP.encode())], status=400)
    assert "Choose Check columns first or Import now; nothing was imported." in page.text
    for dry_run, status in (("true", 200), ("yes", 400)):  # the API's words for a dry run
        client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "import", "dry_run": dry_run},
                    upload_files=[("file", "shop.csv", SHOP.encode())], status=status)
    assert CustomerSession.select().count() == 0


def test_undo_asks_first_and_its_answer_is_a_page_a_reload_does_not_send_again(browser):  # noqa: F811
    client = browser()
    sign_in(client)
    client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "import"},
                upload_files=[("file", "shop.csv", SHOP.encode())])
    record = Import.get()
    undo = next(f for f in client.get("/imports").forms.values() if f.action == f"/imports/{record.id}/undo")
    assert client.get("/imports").html.select_one(f"form[action='/imports/{record.id}/undo']")["data-confirm"] == (
        f"Undo import {record.id} (shop.csv)? Its events and the sessions it created are removed.")
    done = undo.submit(status=303).follow()
    assert done.request.path_qs == f"/imports?undone={record.id}"
    assert f"Import {record.id} (shop.csv) undone" in done.text and CustomerSession.select().count() == 0
    assert "undone" not in client.get(f"/imports?undone={record.id + 1}").text.split("<table")[0]


def at_once(hold, send, count, db_url=None):
    """Run SEND(n) for n in range(COUNT) on threads: the first until HOLD stops it, then the others; return answers."""
    answers = [None] * count

    def run(n):
        response = send(n)
        answers[n] = (response.status_int, response.headers.get("Location"))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    threads[0].start()
    assert hold.reached.wait(30)
    for thread in threads[1:]:
        thread.start()
    if db_url:
        wait_for_a_waiter(db_url)
    else:
        time.sleep(0.5)
    hold.go.set()
    for thread in threads:
        thread.join(60)
    return answers


def test_a_checked_upload_sent_four_times_at_once_is_imported_once(browser, monkeypatch):  # noqa: F811
    # Each submit imported the file again: three more imports, of 0 sessions, in the list and its undo.
    clients = [browser() for _ in range(4)]
    for client in clients:
        sign_in(client, "ann@example.com", "analyst")
    form = check(clients[0]).forms[1]
    fields = {name: field.value for name, field in form.field_order if name}
    tokens = [csrf_of(client, "/imports") for client in clients]
    hold = Hold(monkeypatch, importer, "import_file")
    answers = at_once(hold, lambda n: clients[n].post("/imports/confirm", {**fields, "csrf_token": tokens[n]},
                                                      expect_errors=True), 4)
    record = Import.get()
    assert answers == [(303, answers[0][1])] * 4 and answers[0][1].endswith(f"/imports?imported={record.id}")
    assert (Import.select().count(), CustomerSession.select().count(), hold.calls) == (1, 2, ["import_file"])
    page = clients[3].get(answers[3][1])
    assert re.search(rf"Imported shop.csv as import {record.id}: 2 rows read, 2 sessions created, 0 rows whose "
                     r"session is already there, in \d+\.\d s\.", page.text)
    assert "No customer column was found" in page.text


def test_undos_of_one_import_at_once_all_answer_that_it_is_undone(browser, db_url, tmp_path, monkeypatch):  # noqa: F811
    # Six at once from three admins, as a double-click sends two: on PostgreSQL four were 503 "Database unavailable".
    from tests.test_ingest_continuity import state

    admins = [browser() for _ in range(6)]
    for n, client in enumerate(admins):
        sign_in(client, f"admin{n % 3}@example.com")
    for name, count in (("kept", 100), ("undone", 200)):
        path = sessions_file(tmp_path, name, count)
        admins[0].post("/imports", {"csrf_token": csrf_of(admins[0], "/imports"), "step": "import"},
                       upload_files=[("file", path.name, path.read_bytes())])
        if name == "kept":
            before = state()
    record = Import.select().order_by(Import.id.desc()).get()
    tokens = [csrf_of(client, "/imports") for client in admins]
    hold = Hold(monkeypatch, changes.Change, "apply")
    answers = at_once(hold, lambda n: admins[n].post(f"/imports/{record.id}/undo", {"csrf_token": tokens[n]},
                                                     expect_errors=True), 6, db_url)
    assert answers == [(303, answers[0][1])] * 6 and answers[0][1].endswith(f"/imports?undone={record.id}")
    assert f"Import {record.id} (undone.csv) undone" in admins[5].get(answers[5][1]).text
    assert state() == before and hold.calls == ["apply"]


def test_sessions_of_a_file_without_traffic_columns_show_an_unknown_channel(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "import"},
                upload_files=[("file", "e.csv", b"user_id,timestamp,page\nu1,2026-03-01T10:00:00Z,/\n")])
    session = CustomerSession.get()
    assert session.channel == "unknown"
    page = client.get("/sessions/" + quote(session.session_key, safe=""))
    assert "(unknown)" in page.text


def test_a_file_larger_than_bottles_memory_cap_uploads(make_app, settings):  # noqa: F811
    # Bottle counted the form's fields and the file against one 100 KB memory cap and moved the file to disk only
    # past 100 KB: a file that came after the fields hit the cap first ("MultipartError: Memory limit reached.").
    client = make_app(dataclasses.replace(settings, max_body_mb=5))()
    sign_in(client, "ann@example.com", "analyst")
    # Bottle feeds a file line by line (CRLF): rows shorter than the fields before it, so one ends inside the gap.
    rows = "".join(f"t{n:05d},c{n % 97:02d},2026-03-01T10:{n % 60:02d}:00Z,1\r\n" for n in range(8000))
    body = ("session_token,customer_id,session_started_at,total_sales\r\n" + rows).encode()
    assert len(body) > 200_000 and len(rows) // 8000 < len(csrf_of(client, "/imports")) + len("check")
    page = check(client, body)
    assert "Checked shop.csv, nothing written: it would give 8,000 rows read, 8,000 sessions created" in page.text


def test_a_file_with_months_but_no_dates_takes_the_year_from_the_upload_form(browser):  # noqa: F811
    # The UCI file has a Month column only: the page said "pass --year YYYY" and had no way to give it.
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    uci = gzip.decompress(REAL.joinpath("uci_online_shoppers_intention.csv.gz").read_bytes()).decode().splitlines()[:21]
    body = ("\n".join(uci) + "\n").encode()
    refused = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "check"},
                          upload_files=[("file", "uci.csv", body)], status=400)
    assert "the Year field of the upload page" in refused.text
    page = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "check", "year": "2018"},
                       upload_files=[("file", "uci.csv", body)])
    assert "Checked uci.csv, nothing written: it would give 20 rows read, 20 sessions created" in page.text
    form = page.forms[1]
    assert form["year"].value == "2018"
    assert re.search(r"Imported uci.csv as import \d+: 20 rows read, 20 sessions created",
                     form.submit(status=303).follow().text)
    assert {s.started_at.year for s in CustomerSession.select()} == {2018}
    bad = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "check", "year": "18"},
                      upload_files=[("file", "uci.csv", body)], status=400)
    assert "year '18': give a year from 1971 to 2999" in bad.html.get_text()


def test_a_checked_file_that_needs_a_year_takes_it_on_the_column_form_without_a_new_upload(browser):  # noqa: F811
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    uci = gzip.decompress(REAL.joinpath("uci_online_shoppers_intention.csv.gz").read_bytes()).decode().splitlines()[:21]
    refused = client.post("/imports", {"csrf_token": csrf_of(client, "/imports"), "step": "check"},
                          upload_files=[("file", "uci.csv", ("\n".join(uci) + "\n").encode())], status=400)
    form = refused.forms[1]
    assert form.action == "/imports/confirm"
    confirm = refused.html.find("form", action="/imports/confirm")
    fields = confirm.find_all("input", attrs={"name": ["year", "timezone"]})
    assert [(f["name"], f["type"]) for f in fields] == [("timezone", "text"), ("year", "number")]  # to fill in
    form["year"], form["timezone"] = "2018", "Europe/Lisbon"
    assert re.search(r"Imported uci.csv as import \d+: 20 rows read, 20 sessions created",
                     form.submit(status=303).follow().text)
    assert {s.started_at.year for s in CustomerSession.select()} == {2018}


def test_the_imports_list_pages_by_a_hundred_newest_first(browser):  # noqa: F811
    Import.insert_many([{"file_name": f"day-{n:03d}.csv", "checksum": str(n), "kind": "sessions", "file_format": "csv",
                         "status": "done", "started_at": "2026-03-01 10:00:00"} for n in range(1, 206)]).execute()
    ids = [i.id for i in Import.select(Import.id).order_by(Import.id.desc())]
    client = browser()
    sign_in(client, "ann@example.com", "analyst")

    def listed(page):
        return [int(row.select_one("td").text) for row in page.html.select("table.imports tbody tr")]

    first = client.get("/imports")
    assert listed(first) == ids[:100] and "205 imports in all" in first.text and "« Newest" not in first.text
    second = first.click("Older »")
    assert listed(second) == ids[100:200] and "« Newest" in second.text
    third = second.click("Older »")
    assert listed(third) == ids[200:] and "Older »" not in third.text
    assert listed(third.click("« Newest")) == ids[:100]
    assert "No older imports." in client.get(f"/imports?before={ids[-1]}").text
    assert "give the number of an import" in client.get("/imports?before=x1", status=400).text
    assert "give the number of an import" in client.get("/imports?before=%C2%B2", status=400).text  # "²"
    assert listed(client.get("/imports?before=")) == ids[:100]
