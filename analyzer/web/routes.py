"""Pages and endpoints: the health check, static files and error pages."""

import json
import logging
import os
from pathlib import Path
from time import monotonic

import bottle
import peewee as pw

from analyzer import localtime
from analyzer.accounts import users
from analyzer.ingest import rollups
from analyzer.migrate import MIGRATIONS_DIR, plan
from analyzer.web import auth, present

HERE = Path(__file__).resolve().parent
TEMPLATES = [str(HERE / "templates")]
STATIC = HERE / "static"
log = logging.getLogger("analyzer.web")
UNREACHABLE = "The database cannot be reached; the server log says why."
# A schema and rollup zone found fine are trusted this long, while the zone setting and the migration files stay the
# same: checking them costs three queries, a fifth of a small request's time. A migration rolled back, or rollups
# rebuilt for another zone, by another process go unnoticed this long at most (a query that meets a missing column
# or table meanwhile is a 503 like any database error).
FINE_FOR_S = 1.0


def render(name, **values):
    """Render a template from this package's templates folder, with the user and the forms' CSRF token."""
    login = bottle.request.environ.get("analyzer.login")
    values.setdefault("user", login.user if login else None)
    values.setdefault("csrf", login.csrf_token if login else "")
    values.setdefault("path", bottle.request.path)
    values.setdefault("allows", users.allows)
    values.setdefault("local_time", present.local_time)  # times in the reporting zone, which "zone" names
    values.setdefault("zone", present.zone_name())
    return bottle.template(name, template_lookup=TEMPLATES, **values)


def schema_state(app):
    """Return (current, pending names, problems) for the app's database."""
    directory = app.config.get("analyzer.migrations_dir", MIGRATIONS_DIR)
    state = plan.read_state(app.config["analyzer.db"], directory)
    # The previous version keeps serving while a deploy's pre-deploy step has applied the new version's migrations.
    return state.current, [f.name for f in state.pending], state.problems(ignore=state.ahead())


def log_schema_state(app):
    """Log at start whether the database schema is behind the migrations on disk."""
    db = app.config["analyzer.db"]
    try:
        with db.connection_context():
            current, pending, problems = schema_state(app)
    except pw.OperationalError as exc:
        log.warning("database unreachable at start: %s", str(exc).strip())
        return
    if pending or problems:
        log.warning("schema is behind: current=%s pending=%s %s", current, pending, "; ".join(problems))
    else:
        log.info("schema is up to date at %s", current)


def register(app):
    """Attach every route and error page to APP."""

    @app.get("/healthz", access="public")
    def healthz():
        bottle.response.content_type = "application/json"
        error = bottle.request.environ.get("analyzer.db_error")
        # The driver's words can name hosts and users: they go to the log, not to this public page.
        if error:
            log.warning("Health check: the database cannot be reached: %s", error)
            bottle.response.status = 503
            return json.dumps({"status": "unavailable", "database": "unreachable", "error": UNREACHABLE})
        try:
            current, pending, problems = schema_state(app)
        except pw.DatabaseError as exc:
            log.warning("Health check: the database failed: %s", str(exc).strip())
            bottle.response.status = 503
            return json.dumps({"status": "unavailable", "database": "error", "error": UNREACHABLE})
        zone = None if pending or problems else rollups.zone_problem()
        healthy = not pending and not problems and not zone
        bottle.response.status = 200 if healthy else 503
        body = {
            "status": "ok" if healthy else "migrations pending" if pending else "schema problem" if problems
            else "rollups of another time zone",
            "database": "ok",
            "schema": {"current": current, "pending": pending},
        }
        if problems or zone:
            body["problems"] = problems or [zone]
        return json.dumps(body)

    @app.get("/static/<path:path>", access="public")
    def static(path):
        return bottle.static_file(path, root=str(STATIC))

    @app.error(404)
    def not_found(error):
        unreadable = auth.unreadable(bottle.request, forms=False)  # /api/v1/sessions/%FF matched no route
        if unreadable:
            bottle.response.status = 400
            if bottle.request.path.startswith("/api/"):
                return auth.api_error(400, unreadable)
            return render("error", code=400, title="Bad request", message=unreadable)
        if bottle.request.path.startswith("/api/"):
            return auth.api_error(404, "There is no API route at this address: /api/v1/openapi.json lists them.")
        # A page's own abort says what is missing; the router's body and a bare abort's are not for users.
        generic = not isinstance(error.body, str) or error.body.startswith("Not found:") or error.body in (
            "", "Unknown Error.")
        return render("error", code=404, title="Not found",
                      message="There is no page at this address." if generic else error.body)

    @app.error(400)
    def bad_request(error):
        return render("error", code=400, title="Bad request", message=error.body)

    @app.error(403)
    def forbidden(error):
        return render("error", code=403, title="Not allowed", message=error.body)

    @app.error(405)
    def not_allowed(error):
        if bottle.request.path.startswith("/api/"):
            return auth.api_error(405, "This API route does not take that method: /api/v1/openapi.json lists them.")
        return render("error", code=405, title="Method not allowed", message="This address does not take that request.")

    @app.error(413)
    def too_large(error):
        return render("error", code=413, title="Too large", message=error.body)

    @app.error(500)
    def server_error(error):
        log.error("500 on %s %s: %s\n%s", bottle.request.method, bottle.request.path,
                  error.exception, error.traceback or "")
        return render("error", code=500, title="Something went wrong",
                      message="The error was logged. Try again, and tell an administrator if it persists.")

    @app.error(503)
    def unavailable(error):
        return render("error", code=503, title="Unavailable", message=error.body)


def failed_page(busy):
    """Return (503 page, message) for a database error in the middle of a request."""
    if busy:
        title, message = "Database busy", "The database is busy writing an import. Try again in a few seconds."
    else:
        title, message = "Database unavailable", "The database cannot be reached right now. Try again in a minute."
    bottle.response.status = 503
    return render("error", code=503, title=title, message=message), message


def unavailable_page(app, behind_ok=False):
    """Return (503 page, message) while the database is unreachable or (unless BEHIND_OK) behind, else None."""
    reachable = not bottle.request.environ.get("analyzer.db_error")
    seen = (localtime.reporting_zone()[0], _stamp(app.config.get("analyzer.migrations_dir", MIGRATIONS_DIR)))
    until, fine = app.config.get("analyzer.fine_until", (0.0, None))
    if reachable and fine == seen and monotonic() < until:
        return None
    try:
        state = schema_state(app) if reachable else None
    except pw.DatabaseError as exc:
        log.warning("The database failed: %s", str(exc).strip())
        state = None
    if state is None:
        message = "The database cannot be reached right now. Try again in a minute."
        title = "Database unavailable"
    else:
        current, pending, problems = state
        if behind_ok:
            return None
        if pending or problems:
            title = "Database schema is behind"
            message = (f"{len(pending)} migration(s) are pending ({', '.join(pending)}). Run: python manage.py "
                       "migrate run" if pending else "; ".join(problems))
        else:
            title, message = "Rollups of another time zone", rollups.zone_problem()
            if message is None:
                app.config["analyzer.fine_until"] = (monotonic() + FINE_FOR_S, seen)
                return None
    bottle.response.status = 503
    return render("error", code=503, title=title, message=message), message


def _stamp(directory):
    """Return when DIRECTORY last had a file added, removed or renamed (None when it is missing)."""
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None
