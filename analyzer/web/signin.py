"""Sign-in, sign-out and the first-run setup page."""

import logging

import bottle

from analyzer.accounts import passwords, users
from analyzer.db import database, waiting_out_imports
from analyzer.errors import AppError
from analyzer.web import auth
from analyzer.web.routes import render

log = logging.getLogger("analyzer.web")
WRONG = "Email or password is wrong, or the account is disabled."


def register(app, settings):
    """Attach the sign-in routes to APP."""
    cheap = settings.app_env == "test"

    @app.get("/login", access="anonymous")
    def login_form():
        if auth.current_login(settings) is not None:
            return bottle.redirect(auth.safe_next(bottle.request.query.getunicode("next")))
        if not users.exists():
            return bottle.redirect("/setup")
        return render("login", message=None, email="", next=auth.safe_next(bottle.request.query.getunicode("next")),
                      csrf=auth.csrf_token(settings))

    @app.post("/login", access="anonymous")
    def login():
        form = bottle.request.forms
        email, target = form.getunicode("email", ""), auth.safe_next(form.getunicode("next", "/"))
        try:
            address = auth.client_address()
            with users.signing_in(address), waiting_out_imports(database):
                user = users.authenticate(email, form.getunicode("password", ""), address, cheap)
                if user is not None:
                    auth.sign_in(settings, user)
        except users.Throttled as throttled:
            bottle.response.status = 429
            bottle.response.set_header("Retry-After", str(throttled.seconds))
            return render("login", message=throttled.message, email=email, next=target, csrf=auth.csrf_token(settings))
        if user is None:
            bottle.response.status = 401
            return render("login", message=WRONG, email=email, next=target, csrf=auth.csrf_token(settings))
        return bottle.redirect(target, 303)

    @app.post("/logout", access="viewer")
    def logout():
        auth.sign_out(settings)
        return bottle.redirect("/login", 303)

    @app.get("/setup", access="setup")
    def setup_form():
        log_setup_token(app)  # the access check has just confirmed that no user exists
        return _setup_page(app, settings, None, "")

    @app.post("/setup", access="setup")
    def setup():
        form = bottle.request.forms
        email = form.getunicode("email", "")
        expected = app.config.get("analyzer.setup_token")
        if expected and not auth.same(form.getunicode("setup_token", "").strip(), expected):
            bottle.response.status = 403
            return _setup_page(app, settings, "The setup token is wrong: copy it from the server log.", email)
        password = form.getunicode("password", "")
        if password != form.getunicode("password2", ""):
            bottle.response.status = 400
            return _setup_page(app, settings, "The two passwords differ.", email)
        try:
            user = users.create(email, password, "admin", cheap)
        except AppError as exc:
            bottle.response.status = 400
            return _setup_page(app, settings, str(exc), email)
        log.info("first admin %s created through the setup page", user.email)
        auth.sign_in(settings, user)
        return bottle.redirect("/", 303)


def log_setup_token(app):
    """Log the production setup token once per process, after confirming that no user exists."""
    token = app.config.get("analyzer.setup_token")
    if token and not app.config.get("analyzer.setup_token_logged"):
        app.config["analyzer.setup_token_logged"] = True
        log.warning("No user exists yet. Open /setup and enter this one-time setup token: %s", token)


def _setup_page(app, settings, message, email):
    return render("setup", message=message, email=email, needs_token=bool(app.config.get("analyzer.setup_token")),
                  min_length=passwords.MIN_LENGTH, csrf=auth.csrf_token(settings))
