"""The session page and the customer page, and their JSON twins in the API."""

import datetime as dt
import json
from functools import partial
from urllib.parse import quote, urlencode

import bottle

from analyzer import localtime
from analyzer.analytics import customers
from analyzer.web import auth, params, present
from analyzer.web.routes import render

MAX_LIMIT = 500
DASHBOARD_LINKS = ("channel", "landing_page", "country", "device")
DOT_SEGMENTS = (".", "..")  # a browser drops these from a path, escaped or not: such a key or id goes in the query


def register(app, settings):
    """Attach the session and customer pages and API routes to APP."""
    priced = partial(present.money, currency=settings.currency)

    @app.get("/sessions/", access="viewer")
    def session_page_by_query():
        return session_page(bottle.request.query.getunicode("key") or "")

    @app.get("/sessions/<key:path>", access="viewer")
    def session_page(key):
        view = customers.find_session(key)
        if view is None:
            bottle.abort(404, "There is no session with this key.")
        # Links to the dashboard show the 30 days up to the session: the default range may not hold it.
        around = partial(filter_url, last=view.session.started_at)
        return render("session", title=f"Session {key}", view=view, s=view.session, filter_url=around,
                      session_url=session_url, customer_url=customer_url, money=priced, clock=present.clock,
                      country=present.country)

    @app.get("/customers/", access="viewer")
    def customer_page_by_query():
        return customer_page(bottle.request.query.getunicode("id") or "")

    @app.get("/customers/<customer_id:path>", access="viewer")
    def customer_page(customer_id):
        customer = customers.find_customer(customer_id)
        if customer is None:
            bottle.abort(404, "There is no customer with this id.")
        after = bottle.request.query.get("after")
        try:
            page = customers.customer_sessions(customer_id, after)
        except ValueError as exc:
            bottle.abort(400, str(exc))
        seen = partial(filter_url, first=customer.first_seen, last=customer.last_seen)
        return render("customer", title=f"Customer {customer_id}", c=customer, page=page, first_page=not after,
                      session_url=session_url, customer_url=customer_url, filter_url=seen, money=priced,
                      clock=present.clock)

    @app.get("/api/v1/sessions/<key:path>", access="api:read")
    def session_json(key):
        view = customers.find_session(key)
        if view is None:
            return auth.api_error(404, "There is no session with this key.")
        body = session_fields(view.session)
        body["events"] = [{"occurred_at": stamp(e.occurred_at), "event_type": e.event_type, "page": e.page,
                           "revenue": money(e.revenue)} for e in view.events]
        return json_response(body)

    @app.get("/api/v1/customers/<customer_id:path>", access="api:read")
    def customer_json(customer_id):
        query = bottle.request.query.decode()
        try:
            limit = params.parse_limit(query, default=100, most=MAX_LIMIT)
        except params.QueryError as exc:
            return auth.api_error(400, str(exc))
        customer = customers.find_customer(customer_id)
        if customer is None:
            return auth.api_error(404, "There is no customer with this id.")
        try:
            page = customers.customer_sessions(customer_id, query.get("after"), limit)
        except ValueError as exc:
            return auth.api_error(400, str(exc))
        return json_response({
            "customer_id": customer.customer_id, "first_seen": stamp(customer.first_seen),
            "last_seen": stamp(customer.last_seen), "sessions_count": customer.sessions,
            "conversions": customer.conversions, "revenue": money(customer.revenue),
            "avg_order_value": money(customer.avg_order_value),
            "channels": [{"channel": name, "sessions": count} for name, count in customer.channels],
            "sessions": [session_fields(s) for s in page.rows], "next": page.next_cursor,
        })


SESSION_FIELDS = ("id", "session_key", "customer_id", "started_at", "ended_at", "duration_s", "channel", "source",
                  "medium", "campaign", "device", "country", "landing_page", "exit_page", "page_views", "events",
                  "converted", "revenue", "import_id")


def session_fields(row):
    """Return a session as a JSON-ready dict: times in ISO 8601 UTC, money as a string with two decimals."""
    out = {}
    for name in SESSION_FIELDS:
        value = getattr(row, name)
        if name in ("started_at", "ended_at"):
            value = stamp(value)
        elif name == "revenue":
            value = money(value)
        out[name] = value
    return out


def stamp(value):
    """Return a UTC datetime as ISO 8601 with a Z, or None."""
    return None if value is None else value.isoformat() + "Z"


def money(value):
    """Return an amount as a string with two decimals, or None."""
    return None if value is None else f"{value:.2f}"


def session_url(key):
    """Return the address of a session's page."""
    return "/sessions/?" + urlencode({"key": key}) if key in DOT_SEGMENTS else "/sessions/" + quote(key, safe="")


def customer_url(customer_id, after=None):
    """Return the address of a customer's page (from the cursor AFTER when given)."""
    more = {"after": after} if after else {}
    if customer_id in DOT_SEGMENTS:
        return "/customers/?" + urlencode({"id": customer_id} | more)
    return "/customers/" + quote(customer_id, safe="") + ("?" + urlencode(more) if more else "")


def filter_url(dimension, value, path="/", first=None, last=None):
    """Return PATH (the dashboard by default) filtered by one value, over the days FIRST to LAST (or 30 up to LAST)."""
    pairs = {}
    if last is not None:
        tz = localtime.reporting_zone()[1]
        end = localtime.local_day(last, tz)
        start = localtime.local_day(first, tz) if first is not None else end - dt.timedelta(days=29)
        pairs = {"period": "all"} if params.too_long(start, end) else {"from": start, "to": end}
    return f"{path}?{urlencode(pairs | {dimension: params.join_values((value,))})}"


def json_response(body):
    """Return BODY as a JSON response."""
    bottle.response.content_type = "application/json"
    return json.dumps(body)
