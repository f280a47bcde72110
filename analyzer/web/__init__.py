"""The Bottle app factory."""

import base64
import hashlib
import hmac
import logging
from urllib.parse import urlsplit, urlunsplit

import bottle
import peewee as pw

from analyzer.accounts import users
from analyzer.config import load_settings
from analyzer.db import discard_connection, init_database
from analyzer.web import (account, api, api_dashboard, auth, dashboard, details, explore, explore_api, funnels,
                          imports, openapi, retention, routes, schema, signin)

log = logging.getLogger("analyzer.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(settings=None, migrations_dir=None):
    """Create and configure an instance of the application."""
    settings = settings or load_settings()
    db = init_database(settings, pooled=True)
    app = bottle.Bottle()
    # Bottle's <name:path> (.+?) stops at a line break: a session key or customer id holding one answered 404.
    app.router.add_filter("path", lambda conf: (r"[\s\S]+?", None, None))
    app.config["analyzer.settings"] = settings
    app.config["analyzer.db"] = db
    if migrations_dir is not None:
        app.config["analyzer.migrations_dir"] = migrations_dir

    @app.hook("before_request")
    def open_connection():
        bottle.request.environ["analyzer.db_error"] = None
        if bottle.request.path.startswith("/static/"):
            return
        try:
            db.connect(reuse_if_open=True)
        except pw.OperationalError as exc:
            bottle.request.environ["analyzer.db_error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"

    def add_security_headers():
        for name, value in SECURITY_HEADERS.items():
            bottle.response.set_header(name, value)
        if settings.is_production:
            bottle.response.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not bottle.request.path.startswith("/static/"):
            # Pages and API answers hold customer data or a token shown once: nothing stores them, so the Back
            # button after sign-out asks the server (and is sent to sign in) instead of showing them again.
            bottle.response.set_header("Cache-Control", "no-store")

    @app.hook("after_request")
    def close_connection():
        add_security_headers()
        relative_location()
        body = bottle.request.environ.get("bottle.request.body")
        if body is not None:  # a large body is spooled to a temporary file: give it back now, not at collection
            body.close()
        if db.is_closed():
            return
        try:
            db.close()
        except pw.DatabaseError:  # left in a transaction, or ended by the server: the next request takes another
            discard_connection(db)

    app.install(auth.Guard(settings, lambda behind_ok=False: routes.unavailable_page(app, behind_ok),
                           routes.failed_page))
    routes.register(app)
    dashboard.register(app, settings)
    signin.register(app, settings)
    account.register(app, settings)
    imports.register(app, settings)
    api.register(app, settings)
    api_dashboard.register(app)
    details.register(app, settings)
    explore.register(app, settings)
    explore_api.register(app)
    funnels.register(app)
    retention.register(app)
    openapi.register(app)
    schema.register(app, settings)
    unguarded = [f"{r.method} {r.rule}" for r in app.routes if r.config.get("access") not in auth.ACCESS]
    if unguarded:
        raise RuntimeError(f"routes without a declared access: {', '.join(unguarded)}")
    # An uncaught exception reaches Bottle after the after_request hook, and its 500 response
    # replaces the headers that hook set: the error pages set them again.
    for code, handler in list(app.error_handler.items()):
        app.error_handler[code] = _with_headers(handler, add_security_headers)
    if settings.is_production:
        routes.log_schema_state(app)
        _announce_setup_token(app, db, settings.secret_key)
    return app


def _announce_setup_token(app, db, secret_key):
    """While no user exists in production, the setup page asks for a one-time token printed in the log."""
    # Derived from SECRET_KEY, so every replica and every restart of one deploy asks for the same token.
    digest = hmac.new(secret_key.encode(), b"analyzer first-run setup", hashlib.sha256).digest()
    app.config["analyzer.setup_token"] = base64.urlsafe_b64encode(digest[:18]).decode()
    try:
        with db.connection_context():
            if users.exists():
                return
    except pw.DatabaseError as exc:
        # Logged only once no user is confirmed: the setup page logs it when it is first opened.
        log.warning("Cannot check at start whether a user exists (%s); the setup token will be logged when /setup "
                    "is first opened.", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return
    signin.log_setup_token(app)


def relative_location():
    """Make a redirect to this site relative: Bottle builds it from the request's Host header, which anyone sets."""
    location = bottle.response.get_header("Location")
    if not location:
        return
    parts = urlsplit(location)
    own = bottle.request.urlparts
    if (parts.scheme, parts.netloc) == (own.scheme, own.netloc) and not parts.path.startswith("//"):
        bottle.response.set_header("Location", urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment)))


def _with_headers(handler, add_headers):
    def error_page(error):
        add_headers()
        return handler(error)
    return error_page
