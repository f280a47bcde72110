"""The explore API: sessions with the dashboard's range and filters, funnels and retention cohorts."""

import bottle

from analyzer.analytics import explorer, funnels, retention
from analyzer.analytics.funnels import FunnelError
from analyzer.analytics.retention import RetentionError
from analyzer.web import auth, details, explore_params, params
from analyzer.web.api_dashboard import plain

MAX_LIMIT = 500


def register(app):
    """Attach GET /api/v1/sessions, /api/v1/funnel and /api/v1/retention to APP."""

    @app.get("/api/v1/sessions", access="api:read")
    def sessions_json():
        query = explore_params.with_default_range(bottle.request.query).decode()
        try:
            limit = params.parse_limit(query, default=100, most=MAX_LIMIT)
            parsed, options = params.parse_query(query), explore_params.parse_options(query)
            found = explorer.page(parsed, options, query.get("after"), limit)
        except (params.QueryError, explorer.CursorError) as exc:
            return auth.api_error(400, str(exc))
        rows = [details.session_fields(s) for s in found.rows]
        return details.json_response({"sessions": rows, "next": found.next_cursor})

    @app.get("/api/v1/funnel", access="api:read")
    def funnel_json():
        query = bottle.request.query.decode()
        unit, by = query.get("per") or "session", query.get("by") or None
        try:
            parsed = params.parse_query(query)
            result = funnels.funnel(parsed, funnels.parse_steps(query.getall("step")), unit, by)
        except (params.QueryError, FunnelError) as exc:
            return auth.api_error(400, str(exc))
        body = {"from": parsed.start.isoformat(), "to": parsed.end.isoformat(), "per": unit,
                "steps": [_step(s) for s in result.steps]}
        if by:
            body["by"] = by
            body["breakdown"] = [{"value": value, "steps": [_step(s) for s in rows]}
                                 for value, rows in result.groups.items()]
        return details.json_response(body)

    @app.get("/api/v1/retention", access="api:read")
    def retention_json():
        query = explore_params.with_default_range(bottle.request.query, retention.DEFAULT_PERIOD).decode()
        interval, activity = query.get("interval") or "month", query.get("activity") or "session"
        try:
            parsed = params.parse_query(query)
            cohorts = retention.retention(parsed, interval, activity)
        except (params.QueryError, RetentionError) as exc:
            return auth.api_error(400, str(exc))
        return details.json_response({
            "from": parsed.start.isoformat(), "to": parsed.end.isoformat(), "interval": interval,
            "activity": activity,
            "cohorts": [{"cohort": c.cohort, "customers": c.customers,
                         "periods": [{"customers": p.customers, "share": plain(p.share)} for p in c.periods]}
                        for c in cohorts],
        })


def _step(step):
    return {"step": step.step, "sessions": step.sessions,
            "conversion_from_previous": plain(step.conversion_from_previous),
            "conversion_from_first": plain(step.conversion_from_first),
            "median_seconds_from_previous": plain(step.median_seconds_from_previous)}
