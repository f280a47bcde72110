"""The funnels and retention pages, saved funnels, and their CSV."""

import csv
import io
from urllib.parse import parse_qsl, urlsplit


from analyzer.analytics import funnels, retention
from analyzer.models import SavedFunnel, SessionEvent
from analyzer.web import params
from tests.conftest import csrf_of, sign_in
from tests.test_details import read_headers
from tests.test_funnel_api import RANGE, events  # noqa: F401  (fixture)
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)


def test_funnel_page_shows_the_default_funnel_and_builds_another(events):
    page = events.get(f"/funnels?{RANGE}")
    assert [c.text for c in page.html.select("table.funnel tbody code")] == list(funnels.DEFAULT_STEPS)
    built = events.get(f"/funnels?{RANGE}&kind1=page&match1=prefix&value1=/products/&kind2=event&match2=exact"
                       "&value2=add_to_cart&direct2=1&per=customer&by=channel")
    assert [c.text for c in built.html.select("table.funnel tbody code")] == ["page:/products/*", ">event:add_to_cart"]
    query = params.parse_query({"from": "2026-01-05", "to": "2026-01-25"})
    expected = funnels.funnel(query, funnels.parse_steps(["page:/products/*", ">event:add_to_cart"]), "customer")
    counts = [td.text for td in built.html.select("table.funnel:not(.breakdown-steps) tbody td:nth-of-type(3)")]
    assert counts == [f"{s.sessions:,}" for s in expected.steps]
    assert built.html.select("table.breakdown-steps tbody tr")


def test_funnel_page_lists_the_stored_event_types_and_names_a_step_type_no_event_has(events):
    from analyzer.models import SessionEvent

    stored = sorted({e.event_type for e in SessionEvent.select(SessionEvent.event_type)})
    assert funnels.event_types() == stored and "view" not in stored
    page = events.get(f"/funnels?{RANGE}&step=event:view&step=event:purchase")
    assert page.html.select_one("p.event-types").text == f"Event types stored: {', '.join(stored)}."
    assert page.html.select_one("p.absent").text == ("No stored event has the type 'view': the types stored are listed "
                                                     "under the steps.")
    found = events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase")
    assert found.html.select_one("p.absent") is None


def test_funnel_csv_has_the_overall_and_breakdown_rows(events):
    text = events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase&by=device&format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["group"] for r in rows][:2] == ["all", "all"] and {r["group"] for r in rows[2:]} == {"mobile", "desktop"}
    assert sum(int(r["count"]) for r in rows[2:] if r["step"] == "event:page_view") == int(rows[0]["count"])
    for row in rows[1::2]:  # every rate rounded alike, the drop-off with the conversions it completes
        figures = [row[name] for name in ("conversion_from_previous", "conversion_from_first", "drop_off")]
        assert all(len(f.partition(".")[2]) <= 6 for f in figures if f), row
        if row["drop_off"]:
            assert abs(float(row["drop_off"]) + float(row["conversion_from_previous"]) - 1) < 1e-6


def builder(page):
    """Return the funnel builder form of PAGE."""
    return next(f for f in page.forms.values() if f.action == "/funnels/show")


def press(form, action, status=303):
    """Submit FORM as its button with formaction ACTION does."""
    shown, form.action = form.action, action
    try:
        return form.submit(status=status)
    finally:
        form.action = shown


def test_analysts_save_edit_and_delete_funnels_and_viewers_open_them(events, serve, settings):
    page = events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase")
    form = builder(page)
    form["name"] = "Buyers"
    opened = press(form, "/funnels").follow()
    saved = SavedFunnel.get()
    assert saved.name == "Buyers" and saved.steps == "event:page_view\nevent:purchase" and saved.unit == "session"
    assert "The funnel was saved." in opened.text and opened.html.select_one("h1 small").text == "Buyers"
    assert "from=2026-01-05" in opened.request.url
    again = builder(opened)
    again["name"] = " Buyers "
    refused = press(again, "/funnels", status=400)
    assert "The funnel was not saved: A funnel named &#039;Buyers&#039; exists already" in refused.text
    # The page keeps what was sent: its range and steps, ready to save under another name.
    assert [refused.html.select_one(f"input[name=value{i}]")["value"] for i in (1, 2)] == ["page_view", "purchase"]
    assert refused.html.select_one("input[name=name]")["value"] == " Buyers "
    assert "from=2026-01-05" in builder(refused)["back"].value
    # Save changes saves what the builder holds, not the funnel shown before the edit.
    change = builder(opened)
    change["name"], change["value2"] = "Buyers (all)", "add_to_cart"
    change["kind3"], change["value3"] = "event", "purchase"
    press(change, f"/funnels/{saved.id}")
    assert (SavedFunnel.get().name, SavedFunnel.get().steps) == (
        "Buyers (all)", "event:page_view\nevent:add_to_cart\nevent:purchase")
    viewer = serve(settings)
    sign_in(viewer, "viewer@example.com", "viewer")
    shown = viewer.get(f"/funnels?funnel={saved.id}&{RANGE}")
    assert [c.text for c in shown.html.select("table.funnel tbody code")] == [
        "event:page_view", "event:add_to_cart", "event:purchase"]
    assert "name" not in builder(shown).fields and not shown.html.select("button[formaction]")
    viewer.post(f"/funnels/{saved.id}/delete", {"csrf_token": csrf_of(viewer)}, status=403)
    viewer.post(f"/funnels/{saved.id}", {"csrf_token": csrf_of(viewer), "step": ["event:a", "event:b"]}, status=403)
    delete = next(f for f in events.get(f"/funnels?funnel={saved.id}&{RANGE}").forms.values()
                  if f.action == f"/funnels/{saved.id}/delete")
    done = delete.submit(status=303).follow()
    assert "The saved funnel was deleted." in done.text and "from=2026-01-05" in done.request.url
    assert SavedFunnel.select().count() == 0
    gone = events.get(f"/funnels?funnel={saved.id}", status=404)
    assert f"The saved funnel &#039;{saved.id}&#039; no longer exists" in gone.text


def test_show_funnel_goes_to_the_funnels_link_and_a_wrong_step_keeps_what_was_typed(events):
    form = builder(events.get(f"/funnels?{RANGE}&by=device"))
    form["value3"], form["kind4"], form["value4"], form["value5"] = "add_to_cart", "page", "/checkout", ""
    shown = form.submit(status=303).follow()
    assert [c.text for c in shown.html.select("table.funnel:not(.breakdown-steps) tbody code")] == [
        "event:page_view", "page:/products/*", "event:add_to_cart", "page:/checkout"]
    assert "by=device" in shown.request.url and "from=2026-01-05" in shown.request.url
    wrong = builder(shown)
    wrong["match2"], wrong["value2"] = "exact", "/products/*"
    refused = wrong.submit(status=400)
    assert "Step 2: leave out the &#039;*&#039;" in refused.text
    assert [refused.html.select_one(f"input[name=value{i}]")["value"] for i in range(1, 5)] == [
        "page_view", "/products/*", "add_to_cart", "/checkout"]
    typed = events.get(f"/funnels?{RANGE}&step=event:a&step=nonsense", status=400)
    assert [typed.html.select_one(f"input[name=value{i}]")["value"] for i in (1, 2)] == ["a", "nonsense"]



def typed_rows(page, count):
    """Return the first COUNT rows of PAGE's builder as (kind, match, value, directly after)."""
    html = page.html
    return [(html.select_one(f"select[name=kind{i}] option[selected]")["value"],
             html.select_one(f"select[name=match{i}] option[selected]")["value"],
             html.select_one(f"input[name=value{i}]")["value"],
             bool(html.select_one(f"input[name=direct{i}][checked]"))) for i in range(1, count + 1)]


def test_a_refused_page_step_comes_back_as_the_page_step_typed(events):
    # 'page:*' came back as the event type 'page:*': the analyst had to build the step again to correct it.
    long = "/products/" + "x" * 2000
    typed = ["page:*", f">PAGE:{long}*", "event:purchase"]
    shown = events.get(f"/funnels?{RANGE}", {"step": typed}, status=400)
    posted = events.post("/funnels/show", {"csrf_token": csrf_of(events), "back": RANGE, "step": typed}, status=400)
    for page in (shown, posted):
        assert "for any page, use &#039;event:page_view&#039;" in page.text
        assert typed_rows(page, 3) == [("page", "exact", "*", False), ("page", "prefix", long, True),
                                       ("event", "exact", "purchase", False)]


def test_a_refused_funnels_range_and_filter_links_keep_the_steps_as_typed(events):
    # They carried no step: choosing another range on a refused funnel lost the funnel being built.
    typed = ["page:*", "event:purchase"]
    page = events.get(f"/funnels?{RANGE}&channel=direct", {"step": typed}, status=400)
    links = [a["href"] for a in page.html.select("nav.ranges a, a.chip")]
    assert len(links) == len(params.PERIODS) + 1
    for link in links:
        assert [value for name, value in parse_qsl(urlsplit(link).query) if name == "step"] == typed, link
    assert [i["value"] for i in page.html.select("form.custom-range input[name=step]")] == typed
    unfiltered = events.get(page.html.select_one("a.chip")["href"], status=400)
    assert "channel=direct" not in unfiltered.request.url
    assert typed_rows(unfiltered, 2) == [("page", "exact", "*", False), ("event", "exact", "purchase", False)]
    # The builder's rows, refused, come back in the links as the builder's rows.
    form = builder(events.get(f"/funnels?{RANGE}&channel=direct"))
    form["match2"], form["value2"], form["direct3"] = "exact", "/products/*", True
    refused = form.submit(status=400)
    moved = events.get(refused.html.select_one("nav.ranges a")["href"], status=400)
    assert "Step 2: leave out the &#039;*&#039;" in moved.text and "channel=direct" in moved.request.url
    assert typed_rows(moved, 5) == typed_rows(refused, 5)
    assert typed_rows(moved, 3)[1:] == [("page", "exact", "/products/*", False),
                                        ("event", "exact", "add_to_cart", True)]


def test_a_page_step_on_data_without_pages_says_why_it_counts_nobody(events):
    # An import without pages (REES46's page views have none) showed 0 at every page step, and nothing said why.
    steps = f"/funnels?{RANGE}&step=event:page_view&step=page:/nowhere"
    assert events.get(steps).html.select_one("p.no-pages") is None
    SessionEvent.update(page=None).execute()
    page = events.get(f"/funnels?{RANGE}&step=event:page_view&step=page:/products/*")
    counts = [td.text for td in page.html.select("table.funnel tbody td:nth-of-type(3)")]
    assert counts[0] != "0" and counts[1] == "0"
    assert " ".join(page.html.select_one("p.no-pages").text.split()) == (
        "No session in this range has page views with a page: page steps match nothing here. Use event steps (the "
        "types stored are listed under the steps).")
    filtered = events.get(f"/funnels?{RANGE}&device=mobile&step=page:/&step=event:purchase")
    note = " ".join(filtered.html.select_one("p.no-pages").text.split())
    assert note.startswith("No session in this range with these filters has page views with a page")
    assert filtered.html.select_one("section p.empty:not(.no-pages)") is None  # not "No session reached the first step"
    assert events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase").html.select_one("p.no-pages") \
        is None
    empty = events.get("/funnels?from=2020-01-01&to=2020-01-07&step=page:/&step=event:purchase").html
    assert empty.select_one("p.no-pages") is None  # no session at all: event steps would not help
    assert "in this range reached the first step" in empty.select_one("section p.empty").text


def test_an_empty_builder_is_refused_and_the_range_comes_back_rebuilt_from_its_values(events):
    form = builder(events.get(f"/funnels?{RANGE}"))
    for i in range(1, 8):
        form[f"value{i}"] = ""
    form["name"] = "Nothing"
    assert "A funnel has 2 to 8 steps; 0 given." in press(form, "/funnels", status=400).text
    assert "A funnel has 2 to 8 steps; 0 given." in form.submit(status=400).text
    form["value1"], form["value2"] = "page_view", "purchase"
    form["back"] = f"{RANGE}&format=csv&value1=x&saved=1#"  # only the range and filters are read from it
    shown = form.submit(status=303)
    assert shown.location.startswith("/funnels?from=2026-01-05") and "format" not in shown.location
    assert "value1" not in shown.location and "saved" not in shown.location and "#" not in shown.location
    assert SavedFunnel.select().count() == 0


def test_a_link_cannot_put_words_in_the_pages_mouth(events):
    page = events.get(f"/funnels?{RANGE}&deleted=Call+555-0100+now")
    assert "555-0100" not in page.text and "The saved funnel was deleted." in page.text


def test_saving_a_funnel_without_a_name_says_so(events):
    response = events.post("/funnels", {"csrf_token": csrf_of(events), "step": ["event:a", "event:b"], "name": " "},
                           status=400)
    assert "Give the funnel a name" in response.text


def test_a_builder_step_past_the_last_is_refused_not_dropped(events):
    # value9 was left out without a word: a funnel built with 9 steps was shown and saved with 8.
    steps = {f"value{i}": f"step{i}" for i in range(1, 10)}
    shown = events.get(f"/funnels?{RANGE}", steps, status=400)
    assert "A funnel has 2 to 8 steps; 9 given." in shown.text
    form = {"csrf_token": csrf_of(events), "name": "nine", "back": RANGE, **steps}
    refused = events.post("/funnels", form, status=400)
    assert "The funnel was not saved: A funnel has 2 to 8 steps; 9 given." in refused.text
    assert [refused.html.select_one(f"input[name=value{i}]")["value"] for i in range(1, 10)] == list(steps.values())
    assert SavedFunnel.select().count() == 0
    del form["value5"]  # eight steps, numbered up to 9
    saved = events.post("/funnels", form, status=303)
    assert SavedFunnel.get().steps.splitlines() == [f"event:step{i}" for i in (1, 2, 3, 4, 6, 7, 8, 9)]
    assert "step=event%3Astep9" in saved.location


def test_a_builder_step_numbered_oddly_or_past_9999_is_read_not_dropped(events):
    # Only value1 to value9999 were read: value10000, value0 or value09 left a funnel of 9 steps saved with 8.
    eight = {f"value{i}": f"step{i}" for i in range(1, 9)}
    form = {"csrf_token": csrf_of(events), "name": "odd", "back": RANGE, **eight}
    for odd in ("value10000", "value0", "value09", "value" + "9" * 5000):
        refused = events.post("/funnels", {**form, odd: "extra"}, status=400)
        assert "The funnel was not saved: A funnel has 2 to 8 steps; 9 given." in refused.text, odd[:12]
        assert "extra" in [field["value"] for field in refused.html.select("input[name^=value]")]
    assert SavedFunnel.select().count() == 0
    del form["value1"]
    events.post("/funnels", {**form, "value10000": "last"}, status=303)
    assert SavedFunnel.get().steps.splitlines()[-2:] == ["event:step8", "event:last"]


def test_nine_steps_refused_come_back_as_nine_rows_not_eight(events):
    # The builder showed the first 8 of 9 step= fields, so pressing Show or Save again kept 8 without a word.
    nine = [f"event:s{i}" for i in range(1, 10)]
    shown = events.get(f"/funnels?{RANGE}", {"step": nine}, status=400)
    posted = events.post("/funnels/show", {"csrf_token": csrf_of(events), "back": RANGE, "step": nine}, status=400)
    for page in (shown, posted):
        assert "A funnel has 2 to 8 steps; 9 given." in page.text
        assert [page.html.select_one(f"input[name=value{i}]")["value"] for i in range(1, 10)] == [
            f"s{i}" for i in range(1, 10)]


def test_a_first_builder_step_marked_direct_is_refused_as_the_step_texts_are(events):
    form = {"csrf_token": csrf_of(events), "back": RANGE, "value1": "page_view", "direct1": "1", "value2": "purchase"}
    page = events.post("/funnels/show", form, status=400)
    assert "The first step cannot be &#039;followed directly by&#039;" in page.text


def test_a_crafted_form_of_many_steps_is_refused_without_a_page_of_them_all(events):
    many = {f"value{i}": "page_view" for i in range(1, 5001)}
    page = events.post("/funnels/show", {"csrf_token": csrf_of(events), "back": RANGE, **many}, status=400)
    assert "A funnel has 2 to 8 steps; 5000 given." in page.text
    assert len(page.html.select("form[action='/funnels/show'] input[name^=value]")) == 50


def test_a_funnel_name_of_invisible_characters_is_refused_and_invisible_ends_are_trimmed(events):
    form = {"csrf_token": csrf_of(events), "value1": "page_view", "value2": "purchase", "back": RANGE}
    for name in ("\u200b", "\u200b\u2060 \ufeff", "\u200d\u200c"):
        page = events.post("/funnels", {**form, "name": name}, status=400)
        assert "Give the funnel a name that can be seen: this one has only invisible characters." in page.text
    assert SavedFunnel.select().count() == 0
    events.post("/funnels", {**form, "name": "\u200b Checkout \ufeff"}, status=303)
    assert SavedFunnel.get().name == "Checkout"
    taken = events.post("/funnels", {**form, "name": "Checkout\u200b"}, status=400)
    assert "A funnel named &#039;Checkout&#039; exists already" in taken.text


def test_a_funnel_name_of_blank_letters_or_lone_invisible_marks_is_refused_and_their_ends_trimmed(events):
    # A Hangul filler, the empty Braille pattern or a variation selector alone was saved: an empty name in the list.
    form = {"csrf_token": csrf_of(events), "value1": "page_view", "value2": "purchase", "back": RANGE}
    for name in ("\u3164", "\u115f\u1160", "\uffa0", "\u2800", "\u034f", "\ufe0f", "\u3164\u200b\ufe0f"):
        page = events.post("/funnels", {**form, "name": name}, status=400)
        assert "Give the funnel a name that can be seen: this one has only invisible characters." in page.text, name
    assert SavedFunnel.select().count() == 0
    events.post("/funnels", {**form, "name": "\u3164Checkout\u2800"}, status=303)
    assert SavedFunnel.get().name == "Checkout"
    # Inside a name they are kept: a zero-width joiner makes one emoji of two, Persian needs the non-joiner.
    inside = "\U0001f469\u200d\U0001f4bb \u0645\u06cc\u200c\u062e\u0631\u0645"
    events.post("/funnels", {**form, "name": inside}, status=303)
    assert SavedFunnel.get(SavedFunnel.name != "Checkout").name == inside


def test_a_funnel_name_ending_in_a_flag_of_tags_keeps_the_flag_whole(events):
    # The tags after 🏴 that make it Scotland's flag are invisible characters too: they were trimmed to a black flag.
    form = {"csrf_token": csrf_of(events), "value1": "page_view", "value2": "purchase", "back": RANGE}
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    events.post("/funnels", {**form, "name": f"Checkout {scotland}\u200b"}, status=303)
    assert SavedFunnel.get().name == f"Checkout {scotland}"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    events.post("/funnels", {**form, "name": f"\u200f{family}\u200d"}, status=303)
    assert SavedFunnel.select().where(SavedFunnel.name == family).count() == 1


def test_a_funnel_the_page_cannot_show_is_not_saved_and_the_form_says_why(events):
    # by=country was saved, and the page it led to said both "The funnel was saved." and that by is wrong.
    form = {"csrf_token": csrf_of(events), "name": "b4", "value1": "page_view", "value2": "purchase", "back": RANGE}
    wrongs = (({"by": "country"}, "by must be one of channel, device; got &#039;country&#039;."),
              ({"per": "visit"}, "per must be one of session, customer; got &#039;visit&#039;."),
              ({"back": "from=2026-02-01&to=2026-01-01"}, "from (2026-02-01) is after to (2026-01-01): swap them."))
    for wrong, reason in wrongs:
        page = events.post("/funnels", {**form, **wrong}, status=400)
        assert f"The funnel was not saved: {reason}" in page.text and "was saved." not in page.text, wrong
        assert page.html.select_one("input[name=name]")["value"] == "b4"
        assert [page.html.select_one(f"input[name=value{i}]")["value"] for i in (1, 2)] == ["page_view", "purchase"]
    assert SavedFunnel.select().count() == 0
    saved = events.post("/funnels", {**form, "by": "device", "per": "customer"}, status=303)
    assert "by=device" in saved.location and "The funnel was saved." in saved.follow().text
    funnel = SavedFunnel.get()
    changed = events.post(f"/funnels/{funnel.id}", {**form, "name": "b5", "by": "country"}, status=400)
    assert "by must be one of channel, device" in changed.text and SavedFunnel.get().name == "b4"
    shown = events.post("/funnels/show", {**form, "by": "country"}, status=400)
    assert "by must be one of channel, device" in shown.text


def test_retention_page_is_a_heat_map_with_sizes_and_a_csv(events):
    page = events.get("/retention?from=2026-01-01&to=2026-01-31&interval=week&activity=conversion")
    rows = page.html.select("table.retention tbody tr")
    query = params.parse_query({"from": "2026-01-01", "to": "2026-01-31"})
    expected = retention.retention(query, "week", "conversion")
    assert [r.th.text for r in rows] == [c.name for c in expected]
    assert [r.select("td")[0].text for r in rows] == [f"{c.customers:,}" for c in expected]
    assert all(cell["class"][1].startswith("heat-") for r in rows for cell in r.select("td.num")[1:])
    data = list(csv.DictReader(io.StringIO(events.get(page.html.find("a", string="Download CSV")["href"]).text)))
    assert len(data) == sum(len(c.periods) for c in expected)


def test_retention_after_choosing_weeks_takes_a_new_range_and_a_removed_filter(events):
    # Its own links carry interval, and so did the range form's hidden fields: each was sent twice.
    page = events.get("/retention?from=2026-01-01&to=2026-01-31&channel=direct").click("Weekly")
    form = next(f for f in page.forms.values() if f.action == "/retention")
    form["from"] = "2026-01-02"
    moved = form.submit()
    assert moved.status_int == 200 and "customers by the week" in moved.text
    chip = moved.html.select_one("a.chip")["href"]
    assert "customers by the week" in events.get(chip).text


def test_retention_defaults_to_twelve_months(events):
    page = events.get("/retention")
    assert "period=12mo" in page.html.find("a", string="Download CSV")["href"]


def test_retention_page_and_api_read_the_same_interval_parameter(events):
    # The page read interval_by and the API interval, so a page's URL on the API (and the README's) lost the week.
    headers = read_headers(events)
    url = "from=2026-01-01&to=2026-01-31&interval=week"
    page = events.get(f"/retention?{url}")
    expected = retention.retention(params.parse_query({"from": "2026-01-01", "to": "2026-01-31"}), "week")
    assert [r.th.text for r in page.html.select("table.retention tbody tr")] == [c.name for c in expected]
    assert [c["cohort"] for c in events.get(f"/api/v1/retention?{url}", headers=headers).json["cohorts"]] == \
        [c.cohort for c in expected]
    monthly = page.html.find("a", string="Monthly")["href"]
    assert monthly.count("interval=") == 1 and "interval=month" in monthly
    assert "2026-01" in events.get(monthly).text
    assert "interval=week" in page.html.find("a", string="Download CSV")["href"]
    assert [r.th.text for r in events.get(f"/retention?{url.replace('interval', 'interval_by')}").html.select(
        "table.retention tbody tr")] == [c.name for c in expected]


def test_retention_links_carry_each_parameter_once(events):
    # With interval in the URL, the chip that removes a filter linked to …&interval=week&interval=week&….
    page = events.get("/retention?period=90d&interval=week&channel=direct")
    links = [page.html.select_one("a.chip")["href"]] + [a["href"] for a in page.html.select("nav.ranges a")]
    for link in links:
        names = [name for name, _ in parse_qsl(urlsplit(link).query)]
        assert len(names) == len(set(names)), link
    assert "interval=week" in links[0]
