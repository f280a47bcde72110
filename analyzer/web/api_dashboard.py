"""The dashboard's figures as JSON: /api/v1/stats, /api/v1/timeseries and /api/v1/breakdown/DIMENSION."""

import datetime as dt
import json
from decimal import Decimal

import bottle

from analyzer.analytics import dashboard
from analyzer.web import auth, params

DIGITS = 6  # fractions and averages are rounded to this many decimals


def register(app):
    """Attach the dashboard's API routes to APP."""

    @app.get("/api/v1/stats", access="api:read")
    def stats():
        return _answer(lambda query: {**_range(query), "metrics": metrics_json(dashboard.stats(query))})

    @app.get("/api/v1/timeseries", access="api:read")
    def timeseries():
        def build(query):
            metric = params.parse_metric(bottle.request.query)
            interval = query.interval
            return {**_range(query), "metric": metric, "interval": interval,
                    "points": points_json(dashboard.timeseries(query, metric, interval))}
        return _answer(build)

    @app.get("/api/v1/breakdown/<dimension>", access="api:read")
    def breakdown(dimension):
        def build(query):
            name = params.parse_dimension(dimension)
            found = dashboard.breakdown(query, name, params.parse_limit(bottle.request.query),
                                        params.parse_sort(bottle.request.query))
            return {**_range(query), "dimension": name, "rows": rows_json(found.rows), "total_rows": found.total_rows}
        return _answer(build)


def metrics_json(found):
    """Return {name: {value, previous, change, approximate}} of dashboard.stats."""
    return {name: {"value": plain(m.value), "previous": plain(m.previous), "change": plain(m.change),
                   "approximate": m.approximate} for name, m in found.items()}


def points_json(points):
    """Return the points of a trend as JSON-ready dicts."""
    return [{"t": p.t.isoformat(), "value": plain(p.value), "previous": plain(p.previous),
             "approximate": p.approximate} for p in points]


def rows_json(rows):
    """Return breakdown rows as JSON-ready dicts."""
    return [{"value": r.value, "sessions": r.sessions, "share": plain(r.share), "conversions": r.conversions,
             "conversion_rate": plain(r.conversion_rate), "revenue": plain(r.revenue)} for r in rows]


def plain(value):
    """Return a figure for JSON: money as a string with two decimals, fractions rounded."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, float):
        return round(value, DIGITS)
    return value


def _range(query):
    return {"from": query.start.isoformat(), "to": query.end.isoformat(),
            "compare": query.compare, "compare_from": _day(query.compare_start), "compare_to": _day(query.compare_end),
            "filters": [{"dimension": f.dimension, "values": list(f.values), "negate": f.negate}
                        for f in query.filters]}


def _day(value):
    return value.isoformat() if isinstance(value, dt.date) else None


def _answer(build):
    try:
        query = params.parse_query(bottle.request.query)
        body = build(query)
    except params.QueryError as exc:
        return auth.api_error(400, str(exc))
    bottle.response.content_type = "application/json"
    return json.dumps(body)
