"""The JSON API: read sessions with a read token, send sessions or events with an ingest token."""

import difflib
import json
import tempfile
from pathlib import Path

import bottle

from analyzer.errors import AppError, shown
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions, parse_dry_run, parse_mapping, parse_year
from analyzer.web import auth

CHUNK = 1 << 20
SINGLE = ("dry_run", "timezone", "year")  # the options an import takes one value of (map may repeat)
OPTIONS = (*SINGLE, "map")


def register(app, settings):
    """Attach the API routes to APP."""

    @app.post("/api/v1/sessions", access="api:ingest")
    def send_sessions():
        return _ingest(app, settings, "sessions")

    @app.post("/api/v1/events", access="api:ingest")
    def send_events():
        return _ingest(app, settings, "events")


def _ingest(app, settings, kind):
    limit = int(settings.max_body_mb * 1024 * 1024)
    too_big = f"The body is over the limit of {settings.max_body_mb:g} MB (MAX_BODY_MB)."
    if bottle.request.content_length > limit:
        return auth.api_error(413, too_big)
    query = bottle.request.query.decode()
    for name in query.keys():  # ignored, dryrun=1 wrote the rows and tz=Europe/Berlin read the times as UTC
        if name not in OPTIONS:
            return auth.api_error(400, f"Unknown parameter {shown(name)!r}{_did_you_mean(name)}: an import takes "
                                       f"{', '.join(OPTIONS[:-1])} and {OPTIONS[-1]}; nothing was written.")
    for name in SINGLE:  # the last of two dry_run values won: dry_run=1&dry_run=0 wrote the rows
        if len(query.getall(name)) > 1:
            return auth.api_error(400, f"{name} is given {len(query.getall(name))} times: give it once; nothing was "
                                       "written.")
    with tempfile.TemporaryDirectory(prefix="analyzer-api-") as folder:
        path = Path(folder) / f"api-{kind}.json"
        size = _save_body(path, limit)
        if size > limit:
            return auth.api_error(413, too_big)
        if not size:
            return auth.api_error(400, "The body is empty: send a JSON array of objects or NDJSON (one object per line).")
        try:
            if query.get("timezone") == "":
                raise AppError("timezone is empty: give an IANA zone (Europe/Berlin) or leave it out for UTC; nothing "
                               "was written.")
            options = ImportOptions(kind=kind, name="the request body", timezone=query.get("timezone") or "UTC",
                                    mapping=parse_mapping(query.getall("map")),
                                    dry_run=parse_dry_run(query.get("dry_run")), year=parse_year(query.get("year")),
                                    created_by=auth.current_user().email)
            report = importer.import_file(app.config["analyzer.db"], path, options)
        except importer.ImportRejected as rejected:
            bad = rejected.report
            return auth.api_error(422, f"{bad.error_count:,} bad field(s); nothing was written.",
                                  error_count=bad.error_count,
                                  errors=[{"line": e.line, "column": e.column, "value": e.value, "reason": e.reason}
                                          for e in bad.errors])
        except AppError as exc:
            return auth.api_error(400, str(exc))
    bottle.response.status = 200 if report.dry_run else 201
    bottle.response.content_type = "application/json"
    return json.dumps({"import_id": report.import_id, "dry_run": report.dry_run, "rows_read": report.rows_read,
                       "sessions_created": report.sessions_created, "sessions_continued": report.sessions_continued,
                       "events_added": report.events_added, "rows_identical": report.rows_identical,
                       "extra_rows": report.extra_rows, "unused_columns": report.unused_columns,
                       "warnings": report.warnings, "notes": report.notes, "time_notes": report.time_notes})


def _did_you_mean(name):
    close = difflib.get_close_matches(name.lower().replace("-", "_"), OPTIONS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _save_body(path, limit):
    """Copy the request body to path a chunk at a time; return its size, stopping once it is over limit."""
    size = 0
    body = bottle.request.body  # each access to the property rewinds it
    with open(path, "wb") as out:
        for chunk in iter(lambda: body.read(CHUNK), b""):
            size += len(chunk)
            if size > limit:
                return size
            out.write(chunk)
    return size
