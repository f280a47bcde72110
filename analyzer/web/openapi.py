"""The OpenAPI 3.1 document of the JSON API, served at /api/v1/openapi.json."""

import json

import bottle

from analyzer.analytics import explorer, funnels, retention
from analyzer.analytics.query import COMPARES, DIMENSIONS, INTERVALS, METRICS
from analyzer.web import params

NULLABLE_STRING = {"type": ["string", "null"]}
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "An amount with two decimals."}
FIGURE = {"type": ["number", "string", "null"], "description": "A count or fraction as a number, money as a string."}
STAMP = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with a Z."}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties, required=None, extra=False):
    return {"type": "object", "properties": properties, "required": list(required or properties),
            "additionalProperties": extra}


def _query(name, description, schema=None, required=False, many=False):
    schema = schema or {"type": "string"}
    if many:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema,
            **({"style": "form", "explode": True} if many else {})}


def _path(name, description):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RANGE = [
    _query("period", "A named range ending today in the reporting time zone (instead of from and to).",
           {"type": "string", "enum": list(params.PERIODS)}),
    _query("from", "First day of the range, inclusive (YYYY-MM-DD).", {"type": "string", "format": "date"}),
    _query("to", "Last day of the range, inclusive (YYYY-MM-DD); today when left out.",
           {"type": "string", "format": "date"}),
    _query("compare", "The range compared with.", {"type": "string", "enum": list(COMPARES)}),
] + [
    _query(("-" if negate else "") + name, f"Sessions whose {name} is{' not' if negate else ''} one of these values, "
           "joined by '|' (one inside a value written '\\|', a backslash '\\\\'); '(none)' means missing.")
    for name in DIMENSIONS for negate in (False, True)
]
READ_ERRORS = {"400": _error("A parameter cannot be read; the message says what to send instead."),
               "401": _error("No token, or an unknown, expired or revoked one."),
               "403": _error("The token's scope does not allow this route."),
               "503": _error("The database is unreachable or its schema is behind.")}
LIMIT = _query("limit", "Rows per page.", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100})
AFTER = _query("after", "The 'next' cursor of the previous page.")

SESSION = _object({
    "id": {"type": "integer"}, "session_key": {"type": "string"}, "customer_id": {"type": "string"},
    "started_at": STAMP, "ended_at": {**STAMP, "type": ["string", "null"]}, "duration_s": {"type": "integer"},
    "channel": {"type": "string"}, "source": NULLABLE_STRING, "medium": NULLABLE_STRING, "campaign": NULLABLE_STRING,
    "device": {"type": "string"}, "country": NULLABLE_STRING, "landing_page": NULLABLE_STRING,
    "exit_page": NULLABLE_STRING, "page_views": {"type": "integer"}, "events": {"type": "integer"},
    "converted": {"type": "boolean"}, "revenue": MONEY, "import_id": {"type": ["integer", "null"]}})
FUNNEL_STEP = _object({
    "step": {"type": "string"}, "sessions": {"type": "integer", "minimum": 0},
    "conversion_from_previous": {"type": ["number", "null"]}, "conversion_from_first": {"type": ["number", "null"]},
    "median_seconds_from_previous": {"type": ["number", "null"]}})
SCHEMAS = {
    "Error": _object({"error": {"type": "string"}}, extra=True),
    "Session": SESSION,
    # Its events are the list of them, not Session's count: an allOf of both matched no answer at all.
    "SessionWithEvents": _object({**SESSION["properties"], "events": {
        "type": "array", "items": _object({"occurred_at": STAMP, "event_type": {"type": "string"},
                                           "page": NULLABLE_STRING, "revenue": MONEY})}}),
    "Rejected": _object({"error": {"type": "string"}, "error_count": {"type": "integer", "minimum": 1},
                         "errors": {"type": "array", "items": _object({
                             "line": {"type": "integer"}, "column": {"type": "string"}, "value": {"type": "string"},
                             "reason": {"type": "string"}})}}),
    "SessionPage": _object({"sessions": {"type": "array", "items": _ref("Session")}, "next": NULLABLE_STRING}),
    "Customer": _object({
        "customer_id": {"type": "string"}, "first_seen": STAMP, "last_seen": STAMP,
        "sessions_count": {"type": "integer"}, "conversions": {"type": "integer"}, "revenue": MONEY,
        "avg_order_value": {"type": ["string", "null"]},
        "channels": {"type": "array", "items": _object({"channel": {"type": "string"},
                                                        "sessions": {"type": "integer"}})},
        "sessions": {"type": "array", "items": _ref("Session")}, "next": NULLABLE_STRING}),
    "FunnelStep": FUNNEL_STEP,
    "Funnel": _object({
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "per": {"type": "string", "enum": list(funnels.UNITS)},
        "steps": {"type": "array", "items": _ref("FunnelStep")},
        "by": {"type": "string", "enum": list(funnels.BREAKDOWNS)},
        "breakdown": {"type": "array", "items": _object({"value": {"type": "string"},
                                                         "steps": {"type": "array", "items": _ref("FunnelStep")}})}},
        required=("from", "to", "per", "steps")),
    "Retention": _object({
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "interval": {"type": "string", "enum": list(retention.INTERVALS)},
        "activity": {"type": "string", "enum": list(retention.ACTIVITIES)},
        "cohorts": {"type": "array", "items": _object({
            "cohort": {"type": "string"}, "customers": {"type": "integer", "minimum": 1},
            "periods": {"type": "array", "items": _object({"customers": {"type": "integer", "minimum": 0},
                                                            "share": {"type": "number", "minimum": 0,
                                                                      "maximum": 1}})}})}}),
    "Range": _object({
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "compare": {"type": "string", "enum": list(COMPARES)},
        "compare_from": {"type": ["string", "null"], "format": "date"},
        "compare_to": {"type": ["string", "null"], "format": "date"},
        "filters": {"type": "array", "items": _object({"dimension": {"type": "string", "enum": list(DIMENSIONS)},
                                                       "values": {"type": "array", "items": {"type": "string"}},
                                                       "negate": {"type": "boolean"}})}}, extra=True),
    "Stats": {"allOf": [_ref("Range"), {"type": "object", "required": ["metrics"], "properties": {
        "metrics": _object({name: _object({"value": FIGURE, "previous": FIGURE, "change": {"type": ["number", "null"]},
                                           "approximate": {"type": "boolean"}}) for name in METRICS})}}]},
    "Timeseries": {"allOf": [_ref("Range"), {"type": "object", "required": ["metric", "interval", "points"],
                                             "properties": {
        "metric": {"type": "string", "enum": list(METRICS)}, "interval": {"type": "string", "enum": list(INTERVALS)},
        "points": {"type": "array", "items": _object({"t": {"type": "string"}, "value": FIGURE,
                                                      "previous": FIGURE, "approximate": {"type": "boolean"}})}}}]},
    "Breakdown": {"allOf": [_ref("Range"), {"type": "object", "required": ["dimension", "rows", "total_rows"],
                                            "properties": {
        "dimension": {"type": "string", "enum": list(DIMENSIONS)}, "total_rows": {"type": "integer", "minimum": 0},
        "rows": {"type": "array", "items": _object({
            "value": NULLABLE_STRING, "sessions": {"type": "integer"}, "share": {"type": "number"},
            "conversions": {"type": "integer"}, "conversion_rate": {"type": "number"}, "revenue": MONEY})}}}]},
    "ImportResult": _object({
        "import_id": {"type": ["integer", "null"]}, "dry_run": {"type": "boolean"}, "rows_read": {"type": "integer"},
        "sessions_created": {"type": "integer"}, "sessions_continued": {"type": "integer"},
        "events_added": {"type": "integer"}, "rows_identical": {"type": "integer"},
        "extra_rows": {"type": "integer"}, "unused_columns": {"type": "array", "items": {"type": "string"}},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "time_notes": {"type": "array", "items": {"type": "string"}, "deprecated": True}}, extra=True),
}
EXPLORER = [
    _query("q", "A customer id or a session key, exactly."),
    _query("converted", "Only converted (yes) or not converted (no) sessions.", {"type": "string",
                                                                                "enum": ["yes", "no"]}),
    _query("revenue_min", "Revenue at least this.", {"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
    _query("revenue_max", "Revenue at most this.", {"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
    _query("pages_min", "At least this many page views.", {"type": "integer", "minimum": 0}),
    _query("pages_max", "At most this many page views.", {"type": "integer", "minimum": 0}),
    _query("duration_min", "At least this many seconds.", {"type": "integer", "minimum": 0}),
    _query("duration_max", "At most this many seconds.", {"type": "integer", "minimum": 0}),
    _query("landing", "The landing page contains this text (case-sensitive)."),
    _query("sort", "Order of the list; a leading - for descending.", {
        "type": "string", "enum": [f"{d}{s}" for s in explorer.SORTS for d in ("", "-")],
        "default": explorer.DEFAULT_SORT}),
]
INGEST = {
    "parameters": [_query("timezone", "IANA time zone of times without an offset.", {"type": "string"}),
                   _query("dry_run", "1 (or true) checks the rows and writes nothing; 0 (or false) imports.",
                          {"type": "string", "enum": ["0", "1", "true", "false"]}),
                   _query("year", "The year of a session file with a month column but no dates (1971-2999).",
                          {"type": "string", "pattern": "^[0-9]{4}$"}),
                   _query("map", "FIELD=COLUMN: read FIELD from COLUMN instead of the detected one (repeatable).",
                          many=True)],
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/x-ndjson": {"schema": {"type": "string"}}}},
    "security": [{"token": []}],
    "responses": {"200": _ok(_ref("ImportResult"), "Checked (dry run); nothing was written."),
                  "201": _ok(_ref("ImportResult"), "Imported."),
                  "400": _error("The body cannot be read, or a parameter is unknown, empty or given twice; "
                                "nothing was written."), "401": READ_ERRORS["401"],
                  "403": READ_ERRORS["403"], "413": _error("The body is over MAX_BODY_MB."),
                  "422": {"description": "Bad fields (line, column, value, reason each); nothing was written.",
                          "content": {"application/json": {"schema": _ref("Rejected")}}},
                  "503": READ_ERRORS["503"]},
}


def _read(summary, parameters, schema, extra_errors=None):
    return {"get": {"summary": summary, "parameters": parameters, "security": [{"token": []}],
                    "responses": {"200": _ok(schema), **READ_ERRORS, **(extra_errors or {})}}}


PATHS = {
    "/api/v1/sessions": {
        **_read("Sessions in the range that pass the filters, a keyset page at a time.",
                RANGE + EXPLORER + [LIMIT, AFTER], _ref("SessionPage")),
        "post": {**INGEST, "summary": "Import sessions (a JSON array or NDJSON); needs an ingest token."}},
    "/api/v1/events": {"post": {**INGEST, "summary": "Import events, sessionized on arrival; needs an ingest token."}},
    "/api/v1/sessions/{key}": _read("One session with its events in time order.", [_path("key", "The session key.")],
                                    _ref("SessionWithEvents"), {"404": _error("No session has this key.")}),
    "/api/v1/customers/{customer_id}": _read(
        "One customer's figures and sessions, newest first, a page at a time.",
        [_path("customer_id", "The customer id."), LIMIT, AFTER], _ref("Customer"),
        {"404": _error("No session has this customer id.")}),
    "/api/v1/funnel": _read(
        "Sessions (or customers) through 2 to 8 steps in order.",
        RANGE + [_query("step", "event:TYPE or page:PATH; a trailing * matches a prefix, *TEXT* a part, a leading > "
                                "means directly after the previous step.", many=True, required=True),
                 _query("per", "What is counted.", {"type": "string", "enum": list(funnels.UNITS)}),
                 _query("by", "One list of steps per value.", {"type": "string", "enum": list(funnels.BREAKDOWNS)})],
        _ref("Funnel")),
    "/api/v1/retention": _read(
        "Customers by the week or month of their first session, and the share active in each later one.",
        RANGE + [_query("interval", "Cohort size.", {"type": "string", "enum": list(retention.INTERVALS)}),
                 _query("activity", "What counts as active.", {"type": "string", "enum": list(retention.ACTIVITIES)})],
        _ref("Retention")),
    "/api/v1/stats": _read("Every KPI of the range against the comparison range.", RANGE, _ref("Stats")),
    "/api/v1/timeseries": _read(
        "The trend of one KPI, bucket by bucket, with the comparison range's.", RANGE + [
            _query("metric", "The KPI.", {"type": "string", "enum": list(METRICS)}),
            _query("interval", "Bucket size (hour only for ranges of up to two days).",
                   {"type": "string", "enum": list(INTERVALS)})], _ref("Timeseries")),
    "/api/v1/breakdown/{dimension}": _read(
        "Sessions, share, conversions, conversion rate and revenue per value of a dimension.",
        [{**_path("dimension", "The dimension."), "schema": {"type": "string", "enum": list(DIMENSIONS)}}] + RANGE + [
            _query("limit", "Rows.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}),
            _query("sort", "Sorted by (descending; value ascending).", {"type": "string", "enum": list(params.SORTS)})],
        _ref("Breakdown")),
    "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [],
                                     "responses": {"200": _ok({"type": "object"})}}},
}
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Customer Session Analyzer API", "version": "1",
             "description": "Read figures and sessions with a read token; send sessions and events with an ingest "
                            "token. Tokens are made on the account page. Errors are JSON: {\"error\": message}."},
    "servers": [{"url": "/"}],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                 "description": "An API token from the account page (csa_…)."}}},
}


def register(app):
    """Attach GET /api/v1/openapi.json to APP."""

    @app.get("/api/v1/openapi.json", access="public")
    def openapi_json():
        bottle.response.content_type = "application/json"
        return json.dumps(DOCUMENT)
