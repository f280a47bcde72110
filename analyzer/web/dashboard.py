"""The analyst's dashboard at /: KPIs, the trend of one of them, breakdowns and filters, and each panel as CSV."""

import csv
import io
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl, urlencode

import bottle

from analyzer import localtime
from analyzer.analytics import dashboard
from analyzer.analytics.query import DIMENSIONS, METRICS, NONE_VALUE
from analyzer.ingest import export
from analyzer.web import chart, params, present
from analyzer.web.routes import render

TOP = 10
ALL = 1000  # rows of a "show all" page; its CSV has every row
SORTS = {"sessions": "Sessions", "conversion_rate": "Conv. rate", "revenue": "Revenue"}
PERIODS = [("today", "Today"), ("yesterday", "Yesterday"), ("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"),
           ("month", "This month"), ("last_month", "Last month"), ("12mo", "12 months"), ("all", "All time")]
COMPARES = [("previous", "Previous period"), ("year", "Year before"), ("none", "No comparison")]
INTERVALS = [("hour", "Hours"), ("day", "Days"), ("week", "Weeks"), ("month", "Months")]


@dataclass(frozen=True)
class View:
    """What the URL asks for: the query, the charted metric, how each breakdown is sorted."""

    query: object
    metric: str = "sessions"
    sorts: dict = field(default_factory=dict)
    interval_given: bool = False  # an interval chosen in the URL sticks until the range changes

    def link(self, path="/", metric=None, sorts=None, csv=False, **changes):
        """Return the URL of PATH for this view with CHANGES to the query (a new metric or sorts), or its CSV."""
        if self.interval_given and not changes.keys() & {"interval", "period", "start", "end"}:
            changes["interval"] = self.query.interval
        text = "&".join(part for part in (params.query_string(self.query, **changes), self._extra(metric, sorts, csv))
                        if part)
        return f"{path}?{text}" if text else path

    def _extra(self, metric, sorts, csv):
        """Return the parameters after the query's: the charted metric, the sorts, the CSV format."""
        metric = metric or self.metric
        extra = [("metric", metric)] if metric != "sessions" else []
        extra += [(f"sort_{d}", s) for d, s in sorted((self.sorts if sorts is None else sorts).items())
                  if s != "sessions"]
        extra += [("format", "csv")] if csv else []
        return urlencode(extra)

    @cached_property
    def _around_filters(self):
        """Return the parameters before and after the filters in link(filters=…), which every breakdown row makes."""
        kept = {"interval": self.query.interval} if self.interval_given else {}
        return params.query_string(self.query, filters=(), **kept), self._extra(None, None, False)

    def sorted_by(self, dimension):
        """Return how DIMENSION's breakdown is sorted."""
        return self.sorts.get(dimension, "sessions")

    def sort_link(self, path, dimension, sort):
        """Return the URL of PATH with DIMENSION's breakdown sorted by SORT."""
        return self.link(path, sorts={**self.sorts, dimension: sort})

    def with_filter(self, dimension, value, negate=False):
        """Return the URL that filters by 'DIMENSION is (not) VALUE'; exclusions of one dimension add up."""
        old = self.query.filter_of(dimension)
        values = (value,)
        if negate and old is not None and old.negate:
            values = old.values + tuple(v for v in values if v not in old.values)
        # As self.link(filters=…) writes it, without building the rest of the URL again for each of a page's rows.
        head, tail = self._around_filters
        filters = params.filters_with(self.query.filters, dimension, values, negate)
        return "/?" + "&".join(part for part in (head, params.filters_text(filters), tail) if part)

    def without_filter(self, chosen, path="/"):
        """Return the URL of PATH without the filter CHOSEN."""
        return self.link(path, filters=params.without_filter(self.query, chosen.dimension).filters)


def register(app, settings):
    """Attach the dashboard and its panels' CSV to APP."""
    currency = settings.currency

    @app.get("/", access="viewer")
    def dashboard_page():
        span = dashboard.data_span()
        empty = welcome("Dashboard") if span is None else None  # a CSV of an empty database is still a CSV
        if empty:
            return empty
        view, error = read_view()
        if error:
            return error
        if bottle.request.query.get("format") == "csv":
            stats = dashboard.stats(view.query)
            return send_csv("kpis", view, ["metric", "label", "value", "previous", "change", "approximate"],
                            [[name, present.METRICS[name][0], stats[name].value, stats[name].previous,
                              stats[name].change, bool(stats[name].approximate)] for name in METRICS])
        stats, tables = dashboard.overview(view.query, DIMENSIONS, TOP, {d: view.sorted_by(d) for d in DIMENSIONS},
                                           present.dimension_value)
        series = dashboard.timeseries(view.query, view.metric, view.query.interval)
        return render("dashboard", title="Dashboard", v=view, span=span, stats=stats,
                      chart=draw(view, series, currency), tables=tables, **helpers(view, currency))

    @app.get("/trend", access="viewer")
    def trend_page():
        view, error = read_view()
        if error:
            return error
        series = dashboard.timeseries(view.query, view.metric, view.query.interval)
        if bottle.request.query.get("format") == "csv":
            return send_csv(f"trend-{view.metric}", view, ["t", view.metric, "previous", "approximate"],
                            [[_iso(p.t), p.value, p.previous, p.approximate] for p in series])
        return render("trend", title=present.METRICS[view.metric][0], v=view, chart=draw(view, series, currency),
                      **helpers(view, currency))

    @app.get("/breakdown/<dimension>", access="viewer")
    def breakdown_page(dimension):
        try:
            params.parse_dimension(dimension)  # the API's message: the name asked for and the ones there are
        except params.QueryError as exc:
            bottle.abort(400, str(exc))
        view, error = read_view()
        if error:
            return error
        sort = view.sorted_by(dimension)
        if bottle.request.query.get("format") == "csv":
            table = dashboard.breakdown(view.query, dimension, None, sort, present.dimension_value)
            return send_csv(dimension, view, [dimension, "name", "sessions", "share", "conversions",
                                              "conversion_rate", "revenue"],
                            [[r.value, present.dimension_value(dimension, r.value), r.sessions, r.share,
                              r.conversions, r.conversion_rate, r.revenue] for r in table.rows])
        table = dashboard.breakdown(view.query, dimension, ALL, sort, present.dimension_value)
        return render("breakdown", title=present.DIMENSIONS[dimension], v=view, dimension=dimension, table=table,
                      **helpers(view, currency))


def read_view():
    """Parse the request's URL into a View; on a bad URL return (None, the friendly error page)."""
    query = bottle.request.query.decode()
    try:
        # A page over more than ten years charts months whatever the interval; a CSV says so instead of changing it.
        parsed = params.parse_query(query, fit=query.get("format") != "csv")
        metric = params.parse_metric(query)
        named = {dimension: query[f"sort_{dimension}"] for dimension in DIMENSIONS if query.get(f"sort_{dimension}")}
        folder, _, table = bottle.request.path.rpartition("/")
        if folder == "/breakdown" and table in DIMENSIONS and query.get("sort"):
            named.setdefault(table, query["sort"])  # the API's name, for the one table of this page
        sorts = {dimension: params.parse_sort({"sort": sort}) for dimension, sort in named.items()}
    except params.QueryError as exc:
        bottle.response.status = 400
        path, dates, swapped = bottle.request.path, params.swapped(query), None
        if dates:
            changed = {"from": dates[0].isoformat(), "to": dates[1].isoformat()}
            swapped = f"{path}?{urlencode([(k, changed.get(k, v)) for k, v in query.allitems()])}"
        return None, render("dashboard_error", title="Dashboard", message=str(exc), home=path, swapped=swapped,
                            dates=dates)
    return View(parsed, metric, sorts, bool(query.get("interval"))), None


def draw(view, series, currency):
    """Lay out the trend chart of VIEW's metric."""
    interval, kind = view.query.interval, present.METRICS[view.metric][1]
    return chart.build(series, lambda value: present.figure(view.metric, value, currency),
                       lambda t: present.moment(t, interval), lambda t: present.moment(t, interval, short=True),
                       whole=kind == "count", axis=lambda value: present.axis(view.metric, value, currency),
                       steps=chart.DURATION_STEPS if kind == "duration" else None)


def helpers(view, currency):
    """Return the names every dashboard template uses besides the data."""
    intervals = [(name, label) for name, label in INTERVALS if name in params.intervals_for(view.query)]
    today = localtime.now(view.query.tz).date()
    asked = bottle.request.query.get("interval")
    return dict(present=present, currency=currency, periods=PERIODS, compares=COMPARES, intervals=intervals,
                ongoing=view.query.start <= today <= view.query.end, refit=bool(asked) and asked != view.query.interval,
                sorts=SORTS, dimension_names=present.DIMENSIONS, metric_names=present.METRICS,
                filter_values=filter_values, hidden_fields=hidden_fields, none_value=NONE_VALUE)


def welcome(title):
    """Return the page that says how to import data or load the demo when there are no sessions yet, else None."""
    if dashboard.data_span() is None and bottle.request.query.get("format") != "csv":
        return render("dashboard_empty", title=title)
    return None


def hidden_fields(view):
    """Return the (name, value) pairs the custom range form carries over: filters, interval, metric, sorts."""
    pairs = parse_qsl(view.link().partition("?")[2], keep_blank_values=True)
    return [(name, value) for name, value in pairs if name not in ("from", "to", "period", "compare")]


def filter_values(chosen):
    """Write a filter's values for its chip: 'mobile or tablet'."""
    return " or ".join(present.dimension_value(chosen.dimension, value) for value in chosen.values)


def send_csv(name, view, header, rows):
    """Send ROWS as a CSV download named after the panel and the range."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else _cell(cell) for cell in row])
    query = view.query
    bottle.response.content_type = "text/csv; charset=utf-8"
    bottle.response.set_header("Content-Disposition",
                               f'attachment; filename="{name}-{query.start:%Y%m%d}-{query.end:%Y%m%d}.csv"')
    return out.getvalue()


def _cell(value):
    # A value starting like a formula would run in a spreadsheet: quote it as the export does (OWASP's advice).
    if isinstance(value, str):
        return export.guard(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _iso(value):
    return value if isinstance(value, str) else value.isoformat()
