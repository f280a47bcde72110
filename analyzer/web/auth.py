"""Who may call which route: sign-in cookies for pages, bearer tokens for the API, CSRF on every form."""

import hashlib
import hmac
import json
import secrets
from urllib.parse import quote

import logging

import bottle

from analyzer.accounts import logins, tokens, users
from analyzer.db import DATABASE_ERRORS
from analyzer.web import staging

SESSION_COOKIE = "analyzer_session"
CSRF_COOKIE = "analyzer_csrf"
# public: no database, no forms (health check, static files); anonymous: sign-in pages; setup: only while no user exists
ACCESS = ("public", "anonymous", "setup", *users.RANK, "api:read", "api:ingest")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
BUSY_RETRY_S = 5
log = logging.getLogger("analyzer.web")


class Guard:
    """A Bottle plugin that enforces each route's declared access; a route without one is refused."""

    name = "guard"
    api = 2

    def __init__(self, settings, unavailable, failed):
        self.settings = settings
        self.unavailable = unavailable  # returns a 503 page while the database is unreachable or behind
        self.failed = failed  # returns (503 page, message) for a database error in the middle of a request

    def apply(self, callback, route):
        access = route.config.get("access")
        # A page about the schema itself stays open to its role while migrations are pending.
        behind_ok = route.config.get("behind_ok", False)

        def guarded(*args, **kwargs):
            message = unreadable(bottle.request, forms=not access.startswith("api:"))
            if message:
                if access.startswith("api:"):
                    return api_error(400, message)
                bottle.abort(400, message)
            try:
                refusal = self.check(access, behind_ok)
                if refusal is not None:
                    return refusal
                return callback(*args, **kwargs)
            except DATABASE_ERRORS as exc:
                return self.database_failed(access, exc)
        return guarded

    def database_failed(self, access, exc):
        """Answer 503 for a database error (a killed connection, a failover, a locked SQLite file)."""
        log.warning("%s %s: the database failed: %s", bottle.request.method, bottle.request.path,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        busy = "locked" in str(exc) or "busy" in str(exc)
        page, message = self.failed(busy)
        if busy:
            bottle.response.set_header("Retry-After", str(BUSY_RETRY_S))
        return api_error(503, message) if access.startswith("api:") else page

    def check(self, access, behind_ok=False):
        """Return a refusal response, or None when the request may go on."""
        request = bottle.request
        if access not in ACCESS:
            bottle.abort(403, "This address is not open to anyone.")
        if access == "public":
            return None
        down = self.unavailable(behind_ok)
        if down is not None:
            return api_error(503, down[1]) if access.startswith("api:") else down[0]
        if access.startswith("api:"):
            try:
                request.environ["analyzer.user"] = tokens.authorize(request.get_header("Authorization"), access[4:])
            except tokens.TokenRefused as refused:
                return api_error(refused.status, refused.reason)
            return None
        if access in ("anonymous", "setup"):
            if access == "setup" and users.exists():
                bottle.abort(404)
            if request.method in UNSAFE and not anonymous_csrf_ok(self.settings):
                bottle.abort(403, "The form expired or did not come from this site: reload the page and try again.")
            return None
        if not users.exists():
            return bottle.redirect("/setup")
        login = current_login(self.settings)
        if login is None:
            if request.method in UNSAFE:
                bottle.abort(403, "You are signed out: sign in again and retry.")
            target = request.fullpath + (f"?{request.query_string}" if request.query_string else "")
            return bottle.redirect(f"/login?next={quote(target, safe='/')}")
        if request.method in UNSAFE and not same(form_csrf(), login.csrf_token):
            bottle.abort(403, "The form expired or did not come from this site: reload the page and try again.")
        if not users.allows(login.user.role, access):
            bottle.abort(403, f"This page needs the {access} role; you are signed in as {login.user.role}.")
        return None


def current_login(settings):
    """Return the LoginSession of this request's cookie, or None (cached per request)."""
    environ = bottle.request.environ
    if "analyzer.login" not in environ:
        login = logins.find(bottle.request.get_cookie(SESSION_COOKIE), settings.session_hours)
        environ["analyzer.login"] = login
        environ["analyzer.user"] = login.user if login else None
    return environ["analyzer.login"]


def current_user():
    """Return the user of this request (signed in, or the owner of its API token)."""
    return bottle.request.environ.get("analyzer.user")


def form_csrf():
    """Return the CSRF token the request sent (form field or X-CSRF-Token header)."""
    try:
        staging.read_form(bottle.request)
        field = bottle.request.forms.get("csrf_token")
    except ValueError:  # Bottle's parser refuses a part header with a NUL or line break, as in a file name
        bottle.abort(400, "The form cannot be read: if it sends a file, rename the file (no line breaks) and retry.")
    return field or bottle.request.get_header("X-CSRF-Token") or ""


def csrf_token(settings):
    """Return the CSRF token for this page's forms: the session's, or a signed anonymous one."""
    login = current_login(settings)
    if login is not None:
        return login.csrf_token
    nonce = bottle.request.get_cookie(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        bottle.response.set_cookie(CSRF_COOKIE, nonce, path="/", httponly=True, samesite="strict",
                                   secure=settings.is_production)
    return _sign(settings, nonce)


def anonymous_csrf_ok(settings):
    """Tell whether an anonymous form's token matches the signed nonce in its cookie."""
    nonce = bottle.request.get_cookie(CSRF_COOKIE) or ""
    return bool(nonce) and same(form_csrf(), _sign(settings, nonce))


def sign_in(settings, user):
    """Start a session for USER, ending the one this browser had (the session id changes at sign-in)."""
    old = current_login(settings)
    if old is not None:
        logins.end(old)
    secret, login = logins.start(user, client_address(), settings.session_hours)
    bottle.response.set_cookie(SESSION_COOKIE, secret, path="/", httponly=True, samesite="lax",
                               secure=settings.is_production)
    bottle.request.environ["analyzer.login"] = login
    bottle.request.environ["analyzer.user"] = user
    return login


def sign_out(settings):
    """End this browser's session and forget its cookie."""
    login = current_login(settings)
    if login is not None:
        logins.end(login)
    bottle.response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                                  secure=settings.is_production)


def client_address():
    """Return the client's address as the server saw it, after a trusted proxy's X-Forwarded-For (see README)."""
    # waitress's --trusted-proxy rewrites REMOTE_ADDR from the header; a header from anyone else is dropped.
    return (bottle.request.environ.get("REMOTE_ADDR") or "unknown")[:64]


def unreadable(request, forms=True):
    """Return why the address or (with FORMS) a plain form's fields are not text a value may hold, or None."""
    # An upload's fields are left to its route, which reads the body past Bottle's memory cap; an API body is data.
    try:
        request.environ.get("bottle.raw_path", "").encode("latin-1").decode("utf-8")  # Bottle drops what is not UTF-8
        parts = [request.path, *request.query.decode().allitems()]
        if forms and request.method in UNSAFE and request.content_type.startswith("application/x-www-form-urlencoded"):
            parts += request.forms.decode().allitems()
    except UnicodeDecodeError:
        return ("The address or the form holds bytes that are not UTF-8 text: check the link or the values typed, "
                "then try again.")
    # PostgreSQL refuses a NUL in any text, and SQLite's string functions stop at one.
    if any("\x00" in text for part in parts for text in (part if isinstance(part, tuple) else (part,))):
        return ("The address or the form holds a NUL character (%00), which no value may contain: check the link "
                "or the values typed, then try again.")
    return None


def api_error(status, message, **extra):
    """Return a JSON error response."""
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    if status == 401:
        bottle.response.set_header("WWW-Authenticate", 'Bearer realm="analyzer"')
    return json.dumps({"error": message, **extra})


def same(given, expected):
    """Compare a secret in constant time (any text, even non-ASCII)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def safe_next(target):
    """Return TARGET, percent-encoded, when it is a path on this site, else '/'."""
    # Browsers and urljoin drop tabs and newlines, so "/\t/evil.com" would become "//evil.com".
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all(" " < c != "\x7f" for c in target)):
        return quote(target, safe="/?&=%#:@!$'()*+,;~")  # a Location header is ASCII: /customers/M%C3%BCller
    return "/"


def _sign(settings, nonce):
    return hmac.new(settings.secret_key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()
