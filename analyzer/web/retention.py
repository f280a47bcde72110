"""The retention page and its CSV."""

from dataclasses import replace
from urllib.parse import urlencode

import bottle

from analyzer.analytics import retention
from analyzer.analytics.retention import RetentionError
from analyzer.web import dashboard, explore_params, params
from analyzer.web.api_dashboard import plain
from analyzer.web.routes import render

INTERVAL_NAMES = {"month": "Monthly", "week": "Weekly"}
ACTIVITY_NAMES = {"session": "Came back (any session)", "conversion": "Converted"}
CSV_HEADER = ["cohort", "cohort_customers", "period", "customers", "share"]
HEAT_STEPS = 10


def register(app):
    """Attach the retention page to APP."""

    @app.get("/retention", access="viewer")
    def retention_page():
        empty = dashboard.welcome("Retention")
        if empty:
            return empty
        explore_params.with_default_range(bottle.request.query, retention.DEFAULT_PERIOD)
        view, error = dashboard.read_view()
        if error:
            return error
        form = bottle.request.query.decode()
        # interval, as on the API; interval_by is what the page wrote before, kept for bookmarks
        interval = form.get("interval") or form.get("interval_by") or "month"
        names = {k: v for k, v in INTERVAL_NAMES.items() if k in params.intervals_for(view.query)}
        asked, interval = interval, interval if interval in names or interval not in INTERVAL_NAMES else "month"
        activity = form.get("activity") or "session"
        try:
            cohorts = retention.retention(view.query, interval, activity)
        except RetentionError as exc:
            bottle.response.status = 400
            return render("dashboard_error", title="Retention", message=str(exc))
        if form.get("format") == "csv":
            rows = [[c.cohort, c.customers, n, p.customers, plain(p.share)] for c in cohorts
                    for n, p in enumerate(c.periods)]
            return dashboard.send_csv(f"retention-{interval}", view, CSV_HEADER, rows)
        keep = [("interval", interval), ("activity", activity)]
        # The page's interval travels in KEEP, once: the view's links leave the trend's (the same parameter) out.
        q = view.query
        view = replace(view, interval_given=False, query=replace(q, interval=params.default_interval(q.start, q.end)))
        width = max((len(c.periods) for c in cohorts), default=0)
        return render("retention", title="Retention", v=view, path="/retention", cohorts=cohorts, width=width,
                      returning_only=view.query.customer_types() == {"returning"},
                      interval=interval, activity=activity, interval_names=names, by_month=asked != interval,
                      activity_names=ACTIVITY_NAMES, keep=urlencode(keep), keep_fields=keep, heat=heat,
                      link=lambda **c: _link(view, keep, **c), **dashboard.helpers(view, None))


def heat(share):
    """Return the heat-map class of a share: heat-0 (none) to heat-10 (everyone)."""
    return f"heat-{min(HEAT_STEPS, round(share * HEAT_STEPS))}"


def _link(view, keep, csv=False, **changes):
    chosen = dict(keep) | changes
    pairs = [(k, v) for k, v in chosen.items() if k != "interval"] + ([("format", "csv")] if csv else [])
    return f"{view.link('/retention', interval=chosen['interval'])}&{urlencode(pairs)}"
