"""The funnels and retention pages, saved funnels, and their CSV."""

import csv
import io


from analyzer.analytics import funnels, retention
from analyzer.models import SavedFunnel
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


def test_funnel_csv_has_the_overall_and_breakdown_rows(events):
    text = events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase&by=device&format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["group"] for r in rows][:2] == ["all", "all"] and {r["group"] for r in rows[2:]} == {"mobile", "desktop"}
    assert sum(int(r["count"]) for r in rows[2:] if r["step"] == "event:page_view") == int(rows[0]["count"])


def test_analysts_save_edit_and_delete_funnels_and_viewers_open_them(events, serve, settings):
    page = events.get(f"/funnels?{RANGE}&step=event:page_view&step=event:purchase")
    form = next(f for f in page.forms.values() if f.action == "/funnels" and f.method.lower() == "post")
    form["name"] = "Buyers"
    opened = form.submit(status=303).follow()
    saved = SavedFunnel.get()
    assert saved.name == "Buyers" and saved.steps == "event:page_view\nevent:purchase" and saved.unit == "session"
    assert "The funnel was saved." in opened.text and opened.html.select_one("h1 small").text == "Buyers"
    assert "from=2026-01-05" in opened.request.url
    again = next(f for f in opened.forms.values() if f.action == "/funnels" and f.method.lower() == "post")
    again["name"] = " Buyers "
    refused = again.submit(status=400)
    assert "The funnel was not saved: A funnel named &#039;Buyers&#039; exists already" in refused.text
    # The page keeps what was sent: its range and steps, ready to save under another name.
    assert [c.text for c in refused.html.select("table.funnel tbody code")] == ["event:page_view", "event:purchase"]
    assert refused.html.select_one("input[name=from]")["value"] == "2026-01-05"
    change = next(f for f in opened.forms.values() if f.action == f"/funnels/{saved.id}")
    change["name"] = "Buyers (all)"
    change.submit(status=303)
    assert SavedFunnel.get().name == "Buyers (all)"
    viewer = serve(settings)
    sign_in(viewer, "viewer@example.com", "viewer")
    shown = viewer.get(f"/funnels?funnel={saved.id}&{RANGE}")
    assert [c.text for c in shown.html.select("table.funnel tbody code")] == ["event:page_view", "event:purchase"]
    assert not [f for f in shown.forms.values() if f.method.lower() == "post" and "funnels" in f.action]
    viewer.post(f"/funnels/{saved.id}/delete", {"csrf_token": csrf_of(viewer)}, status=403)
    delete = next(f for f in events.get(f"/funnels?funnel={saved.id}").forms.values()
                  if f.action == f"/funnels/{saved.id}/delete")
    assert "deleted" in delete.submit(status=303).follow().text
    assert SavedFunnel.select().count() == 0
    gone = events.get(f"/funnels?funnel={saved.id}", status=404)
    assert f"The saved funnel &#039;{saved.id}&#039; no longer exists" in gone.text


def test_saving_a_funnel_without_a_name_says_so(events):
    response = events.post("/funnels", {"csrf_token": csrf_of(events), "step": ["event:a", "event:b"], "name": " "},
                           status=400)
    assert "Give the funnel a name" in response.text


def test_retention_page_is_a_heat_map_with_sizes_and_a_csv(events):
    page = events.get("/retention?from=2026-01-01&to=2026-01-31&interval=week&activity=conversion")
    rows = page.html.select("table.retention tbody tr")
    query = params.parse_query({"from": "2026-01-01", "to": "2026-01-31"})
    expected = retention.retention(query, "week", "conversion")
    assert [r.th.text for r in rows] == [c.cohort for c in expected]
    assert [r.select("td")[0].text for r in rows] == [f"{c.customers:,}" for c in expected]
    assert all(cell["class"][1].startswith("heat-") for r in rows for cell in r.select("td.num")[1:])
    data = list(csv.DictReader(io.StringIO(events.get(page.html.find("a", string="Download CSV")["href"]).text)))
    assert len(data) == sum(len(c.periods) for c in expected)


def test_retention_defaults_to_twelve_months(events):
    page = events.get("/retention")
    assert "period=12mo" in page.html.find("a", string="Download CSV")["href"]


def test_retention_page_and_api_read_the_same_interval_parameter(events):
    # The page read interval_by and the API interval, so a page's URL on the API (and the README's) lost the week.
    headers = read_headers(events)
    url = "from=2026-01-01&to=2026-01-31&interval=week"
    page = events.get(f"/retention?{url}")
    expected = retention.retention(params.parse_query({"from": "2026-01-01", "to": "2026-01-31"}), "week")
    assert [r.th.text for r in page.html.select("table.retention tbody tr")] == [c.cohort for c in expected]
    assert [c["cohort"] for c in events.get(f"/api/v1/retention?{url}", headers=headers).json["cohorts"]] == \
        [c.cohort for c in expected]
    monthly = page.html.find("a", string="Monthly")["href"]
    assert monthly.count("interval=") == 1 and "interval=month" in monthly
    assert "2026-01" in events.get(monthly).text
    assert "interval=week" in page.html.find("a", string="Download CSV")["href"]
    assert [r.th.text for r in events.get(f"/retention?{url.replace('interval', 'interval_by')}").html.select(
        "table.retention tbody tr")] == [c.cohort for c in expected]
