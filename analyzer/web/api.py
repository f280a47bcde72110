"""The JSON API: read sessions with a read token, send sessions or events with an ingest token."""

import datetime as dt
import json
import tempfile
from decimal import Decimal
from pathlib import Path

import bottle

from analyzer.analytics import sessions
from analyzer.errors import AppError
from analyzer.ingest import importer
from analyzer.web import auth

MAX_LIMIT = 500
FIELDS = ("id", "session_key", "customer_id", "started_at", "ended_at", "duration_s", "channel", "source", "medium",
          "campaign", "device", "country", "landing_page", "exit_page", "page_views", "events", "converted",
          "revenue", "import_id")


def register(app, settings):
    """Attach the API routes to APP."""

    @app.get("/api/v1/sessions", access="api:read")
    def list_sessions():
        query = bottle.request.query
        try:
            limit = min(max(int(query.get("limit", 100)), 1), MAX_LIMIT)
        except ValueError:
            return auth.api_error(400, "limit must be a whole number from 1 to 500.")
        page = sessions.recent_sessions(query.get("after"), limit)
        bottle.response.content_type = "application/json"
        return json.dumps({"sessions": [_session(s) for s in page.rows], "next": page.next_cursor})

    @app.post("/api/v1/sessions", access="api:ingest")
    def send_sessions():
        return _ingest(app, settings, "sessions")

    @app.post("/api/v1/events", access="api:ingest")
    def send_events():
        return _ingest(app, settings, "events")


def _ingest(app, settings, kind):
    limit = int(settings.max_body_mb * 1024 * 1024)
    if bottle.request.content_length > limit:
        return auth.api_error(413, f"The body is over the limit of {settings.max_body_mb:g} MB (MAX_BODY_MB).")
    body = bottle.request.body.read(limit + 1)
    if len(body) > limit:
        return auth.api_error(413, f"The body is over the limit of {settings.max_body_mb:g} MB (MAX_BODY_MB).")
    try:
        lines = _ndjson_lines(body)
    except ValueError as exc:
        return auth.api_error(400, str(exc))
    query = bottle.request.query
    with tempfile.TemporaryDirectory(prefix="analyzer-api-") as folder:
        path = Path(folder) / f"api-{kind}.ndjson"
        path.write_bytes(lines)
        try:
            report = importer.import_file(app.config["analyzer.db"], path, kind=kind, fmt="ndjson",
                                          tz=query.get("timezone") or "UTC", dry_run=query.get("dry_run") == "1",
                                          created_by=auth.current_user().email)
        except importer.ImportRejected as rejected:
            bad = rejected.report
            return auth.api_error(422, f"{bad.error_count} bad field(s); nothing was written.",
                                  error_count=bad.error_count,
                                  errors=[{"line": e.line, "column": e.column, "value": e.value, "reason": e.reason}
                                          for e in bad.errors])
        except AppError as exc:
            return auth.api_error(400, str(exc))
    bottle.response.status = 200 if report.dry_run else 201
    bottle.response.content_type = "application/json"
    return json.dumps({"import_id": report.import_id, "dry_run": report.dry_run, "rows_read": report.rows_read,
                       "sessions_written": report.sessions_written, "events_written": report.events_written,
                       "duplicates": report.duplicates})


def _ndjson_lines(body):
    """Return the body as NDJSON bytes: a JSON array becomes one line per element (line N = element N)."""
    text = body.lstrip()
    if not text:
        raise ValueError("The body is empty: send a JSON array of objects or NDJSON (one object per line).")
    if not text.startswith(b"["):
        return body
    try:
        records = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(records, list):
        raise ValueError("Send a JSON array of objects or NDJSON.")
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _session(row):
    out = {}
    for name in FIELDS:
        value = getattr(row, name)
        if isinstance(value, dt.datetime):
            value = value.isoformat() + "Z"
        elif isinstance(value, Decimal):
            value = f"{value:.2f}"
        out[name] = value
    return out
