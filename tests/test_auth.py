"""Accounts and security through the real WSGI app: every route's guard per role, CSRF, sign-in, sessions,
throttling, setup, API tokens, escaping. Every test runs on SQLite and on PostgreSQL."""

import contextlib
import datetime as dt
import gzip
import html
import json
import re
import threading

import pytest
import webtest

from analyzer.accounts import passwords, tokens, users
from analyzer.config import Settings
from analyzer.db import init_database
from analyzer.models import ApiToken, CustomerSession, Import, LoginAttempt, LoginSession
from analyzer.web import auth, create_app
from tests.conftest import PASSWORD, csrf_of, migrated, sign_in


@pytest.fixture
def settings(db_url):
    """The test app's settings, on a migrated database that the models use until an app is made."""
    database = init_database(Settings(database_url=migrated(db_url)))
    yield Settings(app_env="test", database_url=db_url, secret_key="test-secret", max_body_mb=0.05)
    database.close()


@pytest.fixture
def make_app(settings):
    """Build TestApps on one app; close the database handle afterwards."""
    apps = []

    def make(custom=None):
        app = create_app(custom or settings)
        apps.append(app)
        scheme = "https" if (custom or settings).is_production else "http"
        return lambda: webtest.TestApp(app, extra_environ={"wsgi.url_scheme": scheme})

    yield make
    for app in apps:
        app.config["analyzer.db"].close()


@pytest.fixture
def browser(make_app):
    """A function returning a fresh browser on the same app."""
    return make_app()


def token_for(role, scope):
    user = users.User.get_or_none(users.User.email == f"{role}-api@example.com") or users.create(
        f"{role}-api@example.com", PASSWORD, role, cheap=True)
    return tokens.create(user, scope, "test")[0]


# --- every route, every role -------------------------------------------------------------------------------

# Who may use each route. A route missing here fails test_the_access_table_covers_every_route.
ACCESS = {
    ("GET", "/healthz"): "public",
    ("GET", "/static/<path:path>"): "public",
    ("GET", "/login"): "anonymous",
    ("POST", "/login"): "anonymous",
    ("GET", "/setup"): "setup",
    ("POST", "/setup"): "setup",
    ("GET", "/"): "viewer",
    ("GET", "/sessions"): "viewer",
    ("GET", "/trend"): "viewer",
    ("GET", "/breakdown/<dimension>"): "viewer",
    ("POST", "/logout"): "viewer",
    ("GET", "/account"): "viewer",
    ("POST", "/account/password"): "viewer",
    ("POST", "/account/tokens"): "viewer",
    ("POST", "/account/tokens/<token_id:int>/revoke"): "viewer",
    ("GET", "/imports"): "analyst",
    ("POST", "/imports"): "analyst",
    ("POST", "/imports/confirm"): "analyst",
    ("GET", "/export.csv"): "analyst",
    ("POST", "/imports/<import_id:int>/undo"): "admin",
    ("GET", "/admin/schema"): "admin",
    ("GET", "/admin/users"): "admin",
    ("POST", "/admin/users"): "admin",
    ("POST", "/admin/users/<user_id:int>/role"): "admin",
    ("POST", "/admin/users/<user_id:int>/disabled"): "admin",
    ("POST", "/admin/tokens/<token_id:int>/revoke"): "admin",
    ("GET", "/api/v1/sessions"): "api:read",
    ("POST", "/api/v1/sessions"): "api:ingest",
    ("POST", "/api/v1/events"): "api:ingest",
    ("GET", "/sessions/<key:path>"): "viewer",
    ("GET", "/customers/<customer_id:path>"): "viewer",
    ("GET", "/sessions/"): "viewer",
    ("GET", "/customers/"): "viewer",
    ("GET", "/api/v1/sessions/<key:path>"): "api:read",
    ("GET", "/api/v1/customers/<customer_id:path>"): "api:read",
    ("GET", "/api/v1/stats"): "api:read",
    ("GET", "/api/v1/timeseries"): "api:read",
    ("GET", "/api/v1/breakdown/<dimension>"): "api:read",
    ("GET", "/funnels"): "viewer",
    ("POST", "/funnels/show"): "viewer",
    ("POST", "/funnels"): "analyst",
    ("POST", "/funnels/<funnel_id:int>"): "analyst",
    ("POST", "/funnels/<funnel_id:int>/delete"): "analyst",
    ("GET", "/retention"): "viewer",
    ("GET", "/api/v1/funnel"): "api:read",
    ("GET", "/api/v1/retention"): "api:read",
    ("GET", "/api/v1/openapi.json"): "public",
}
RANK = {"anonymous": 0, "viewer": 1, "analyst": 2, "admin": 3}


def concrete(rule):
    return re.sub(r"<[^>]+>", lambda m: "style.css" if "path" in m.group(0) else "999999", rule)


def test_the_access_table_covers_every_route(browser):
    routes = {(r.method, r.rule): r.config.get("access") for r in browser().app.routes}
    assert routes == ACCESS


def test_a_route_without_a_declared_access_stops_the_app(settings, monkeypatch):
    from analyzer.web import routes

    original = routes.register

    def register(app):
        original(app)
        app.get("/forgotten")(lambda: "secret")
    monkeypatch.setattr(routes, "register", register)
    with pytest.raises(RuntimeError, match="routes without a declared access: GET /forgotten"):
        create_app(settings)


@pytest.mark.parametrize("principal", ["anonymous", "viewer", "analyst", "admin"])
def test_each_role_against_each_page(browser, principal):
    users.create("first@example.com", PASSWORD, "admin", cheap=True)
    for (method, rule), access in ACCESS.items():
        if access.startswith("api:") or access in ("public", "anonymous", "setup"):
            continue
        client = browser()
        if principal != "anonymous":
            sign_in(client, f"{principal}@example.com", principal)
        path = concrete(rule)
        if method == "GET":
            response = client.get(path, expect_errors=True)
        else:
            token = csrf_of(client, "/account") if principal != "anonymous" else ""
            response = client.post(path, {"csrf_token": token}, expect_errors=True)
        where = f"{principal} {method} {path}"
        if principal == "anonymous":
            if method == "GET":
                assert response.status_int == 302 and "/login?next=" in response.location, where
            else:
                assert response.status_int == 403, where
        elif RANK[principal] >= RANK[access]:
            assert response.status_int not in (401, 403) and "/login?next=" not in response.headers.get("Location", ""), where
            assert response.status_int < 500, where
        else:
            assert response.status_int == 403, where
            assert f"This page needs the {access} role; you are signed in as {principal}." in response.text, where


@pytest.mark.parametrize("scope", [None, "read", "ingest"])
def test_each_token_scope_against_each_api_route(browser, scope):
    headers = {"Authorization": f"Bearer {token_for('analyst', scope)}"} if scope else {}
    for (method, rule), access in ACCESS.items():
        if not access.startswith("api:"):
            continue
        client = browser()
        if method == "GET":
            response = client.get(concrete(rule), headers=headers, expect_errors=True)
        else:
            response = client.post(rule, "[]", headers={**headers, "Content-Type": "application/json"},
                                   expect_errors=True)
        expected = 401 if scope is None else (403 if access != f"api:{scope}" else None)
        body = response.json
        if expected is None:
            assert response.status_int in (200, 400, 404), (scope, rule, body)
        else:
            assert (response.status_int, "error" in body) == (expected, True), (scope, rule)
        if expected == 401:
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="analyzer"'


def test_public_routes_need_no_sign_in(browser):
    client = browser()
    assert client.get("/healthz").json["status"] == "ok"
    assert client.get("/static/style.css").status_int == 200
    assert client.get("/login", status=302).location.endswith("/setup")  # no user yet


# --- CSRF ---------------------------------------------------------------------------------------------------

def test_every_form_post_without_or_with_a_wrong_csrf_token_is_403(browser):
    forms = [(method, rule, access) for (method, rule), access in ACCESS.items()
             if method == "POST" and not access.startswith("api:")]
    for method, rule, access in sorted(forms, key=lambda f: f[2] != "setup"):  # setup first: no user exists yet
        client = browser()
        if access == "setup":
            client.get("/setup")
        else:
            sign_in(client, "admin@example.com", "admin")
        for token in (None, "wrong", "ü"):
            data = {"email": "x@example.com", "password": PASSWORD} | ({"csrf_token": token} if token else {})
            response = client.post(concrete(rule), data, expect_errors=True)
            assert response.status_int == 403, (rule, token, response.status)
            assert "The form expired or did not come from this site" in response.text
        if access != "setup":
            assert client.get("/account").status_int == 200, rule  # a rejected sign-out did not sign out
    assert [u.email for u in users.list_users()] == ["admin@example.com"]
    assert ApiToken.select().count() == 0 and Import.select().count() == 0
    assert users.authenticate("admin@example.com", PASSWORD, "1.2.3.4", cheap=True) is not None


def test_a_form_token_of_one_session_does_not_work_in_another(browser):
    alice, bob = browser(), browser()
    sign_in(alice, "alice@example.com", "admin")
    sign_in(bob, "bob@example.com", "admin")
    response = bob.post("/admin/users", {"csrf_token": csrf_of(alice), "email": "eve@example.com",
                                         "password": PASSWORD, "role": "admin"}, status=403)
    assert "eve@example.com" not in response.text
    assert not users.User.select().where(users.User.email == "eve@example.com").exists()


def test_api_tokens_never_work_for_the_pages(browser):
    users.create("first@example.com", PASSWORD, "admin", cheap=True)
    token = token_for("admin", "ingest")
    client = browser()
    response = client.get("/account", headers={"Authorization": f"Bearer {token}"}, status=302)
    assert "/login" in response.location
    refused = client.post("/admin/users", {"email": "x@example.com", "password": PASSWORD, "role": "admin"},
                          headers={"Authorization": f"Bearer {token}"}, status=403)
    assert "You are signed out" in refused.text
    assert not users.User.select().where(users.User.email == "x@example.com").exists()


def test_a_signed_in_browser_cookie_does_not_open_the_api(browser):
    client = browser()
    sign_in(client)
    assert client.get("/api/v1/sessions", status=401).json["error"].startswith("Send an API token")


# --- sign-in, sessions -------------------------------------------------------------------------------------

def test_sign_in_redirects_back_and_sets_a_hardened_cookie(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    client = browser()
    target = client.get("/account?tab=tokens", status=302).location
    assert target.endswith("/login?next=/account%3Ftab%3Dtokens")
    form = client.get(target).forms[0]
    form["email"], form["password"] = "Ann@Example.com ", PASSWORD
    response = form.submit(status=303)
    assert response.location.endswith("/account?tab=tokens")
    cookie = [v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith(auth.SESSION_COOKIE)][0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    assert "ann@example.com (viewer)" in client.get("/").text


def test_sign_in_sends_back_to_an_address_with_non_ascii_text(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    client = browser()
    target = client.get("/customers/M%C3%BCller?tab=a%20b", status=302).location
    assert target.endswith("/login?next=/customers/M%C3%BCller%3Ftab%3Da%2520b")
    form = client.get(target).forms[0]
    assert form["next"].value == "/customers/M%C3%BCller?tab=a%20b"  # it read /customers/MÃ¼ller
    form["email"], form["password"] = "ann@example.com", PASSWORD
    assert form.submit(status=303).location.endswith("/customers/M%C3%BCller?tab=a%20b")
    assert client.get("/login?next=/%C3%A9", status=302).location.endswith("/%C3%A9")


def test_a_nul_in_the_sign_in_form_is_a_400_on_both_databases(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    form = browser().get("/login").forms[0]
    form["email"], form["password"] = "ann\x00@example.com", PASSWORD
    assert "a NUL character (%00)" in form.submit(status=400).text  # PostgreSQL: a 500


def test_production_cookies_are_secure(make_app, settings):
    production = Settings(app_env="production", database_url=settings.database_url, secret_key="p")
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    client = make_app(production)()
    form = client.get("/login").forms[0]
    form["email"], form["password"] = "ann@example.com", PASSWORD
    response = form.submit(status=303)
    cookies = [v for k, v in response.headerlist if k == "Set-Cookie"]
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies)


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"])
def test_a_wrong_sign_in_does_not_tell_which_emails_exist(browser, email):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    form = browser().get("/login").forms[0]
    form["email"], form["password"] = email, "not the password 1"
    response = form.submit(status=401)
    assert "Email or password is wrong, or the account is disabled." in response.text
    assert auth.SESSION_COOKIE not in response.headers.get("Set-Cookie", "")


def test_open_redirects_are_refused(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\r\n/evil.example"):
        form = browser().get("/login", params={"next": target}).forms[0]
        form["email"], form["password"] = "ann@example.com", PASSWORD
        assert form.submit(status=303).location == "/"


def test_the_session_id_changes_at_sign_in_and_the_old_one_ends(browser):
    client = browser()
    sign_in(client, "ann@example.com", "admin")
    old = client.cookies[auth.SESSION_COOKIE]
    form = client.get("/login", status=302)  # already signed in: sent on
    sign_in_again = browser()
    sign_in_again.set_cookie(auth.SESSION_COOKIE, old)
    client.post("/logout", {"csrf_token": csrf_of(client)}, status=303)
    assert form.status_int == 302
    assert sign_in_again.get("/", status=302).location.endswith("/login?next=/")
    client.set_cookie(auth.SESSION_COOKIE, old)
    assert client.get("/account", status=302)
    assert LoginSession.select().count() == 0


def test_sign_in_rotates_a_session_that_already_exists(browser):
    client = browser()
    sign_in(client, "ann@example.com", "admin")
    first = client.cookies[auth.SESSION_COOKIE]
    other = users.create("bob@example.com", PASSWORD, "viewer", cheap=True)
    token = auth._sign(client.app.config["analyzer.settings"], "n")
    client.set_cookie(auth.CSRF_COOKIE, "n")
    client.post("/login", {"csrf_token": token, "email": other.email, "password": PASSWORD}, status=303)
    assert client.cookies[auth.SESSION_COOKIE] != first
    assert [s.user.email for s in LoginSession.select()] == ["bob@example.com"]


def test_an_expired_session_sends_to_the_sign_in_page(browser):
    client = browser()
    sign_in(client)
    LoginSession.update(expires_at=dt.datetime(2020, 1, 1)).execute()
    assert "/login" in client.get("/", status=302).location
    assert LoginSession.select().count() == 0


def test_expired_sessions_whose_cookie_never_returns_are_deleted_at_the_next_sign_in(browser):
    gone = browser()
    sign_in(gone)
    LoginSession.update(expires_at=dt.datetime(2020, 1, 1)).execute()
    sign_in(browser(), "ann@example.com", "viewer")
    assert [login.user.email for login in LoginSession.select()] == ["ann@example.com"]


def test_sessions_slide_but_end_after_seven_days(browser, settings):
    client = browser()
    sign_in(client)
    LoginSession.update(last_seen_at=dt.datetime(2020, 1, 1), expires_at=dt.datetime.utcnow() + dt.timedelta(minutes=5)).execute()
    client.get("/", status=200)
    slid = LoginSession.get().expires_at - dt.datetime.utcnow()
    assert dt.timedelta(hours=settings.session_hours) - slid < dt.timedelta(minutes=1)
    LoginSession.update(created_at=dt.datetime.utcnow() - dt.timedelta(days=7, minutes=-5),
                        last_seen_at=dt.datetime(2020, 1, 1)).execute()
    client.get("/", status=200)
    login = LoginSession.get()
    assert login.expires_at <= login.created_at + dt.timedelta(days=7)


def test_changing_the_password_ends_the_other_sessions_only(browser):
    laptop, phone = browser(), browser()
    sign_in(laptop, "ann@example.com", "viewer")
    sign_in(phone, "ann@example.com", "viewer")
    new = "another long password 9"
    page = laptop.post("/account/password", {"csrf_token": csrf_of(laptop), "current": PASSWORD, "password": new,
                                             "password2": new})
    assert "Password changed. Your other sessions are signed out." in page.text
    assert laptop.get("/account").status_int == 200
    assert "/login" in phone.get("/account", status=302).location
    assert users.authenticate("ann@example.com", new, "1.2.3.4", cheap=True) is not None


@pytest.mark.parametrize("current, new, again, message", [
    ("wrong password!!", "another long password 9", "another long password 9", "The current password is wrong."),
    (PASSWORD, "another long password 9", "different password 99", "The two new passwords differ."),
    (PASSWORD, "short", "short", "at least 10 characters"),
    (PASSWORD, "password1234", "password1234", "too common"),
    (PASSWORD, PASSWORD, PASSWORD, "The new password is the current one: choose another."),
])
def test_a_rejected_password_change_keeps_the_old_password(browser, current, new, again, message):
    client = browser()
    sign_in(client, "ann@example.com", "viewer")
    page = client.post("/account/password", {"csrf_token": csrf_of(client), "current": current, "password": new,
                                             "password2": again}, status=400)
    assert message in page.text
    assert users.authenticate("ann@example.com", PASSWORD, "1.2.3.4", cheap=True) is not None


def test_guessing_the_current_password_is_throttled_like_sign_in(browser):
    client = browser()
    sign_in(client, "ann@example.com", "viewer")
    new = "another long password 9"
    for _ in range(5):
        client.post("/account/password", {"csrf_token": csrf_of(client), "current": "a wrong guess!!", "password": new,
                                          "password2": new}, status=400)
    page = client.post("/account/password", {"csrf_token": csrf_of(client), "current": PASSWORD, "password": new,
                                              "password2": new}, status=429)
    assert "This account had too many wrong passwords in the last 15 minutes" in page.text
    assert "Try again in 15 minutes." in page.text and page.headers["Retry-After"]
    assert passwords.verify(users.get("ann@example.com").password_hash, PASSWORD, cheap=True)


def test_disabling_a_user_ends_its_sessions_and_tokens(browser):
    admin, ann = browser(), browser()
    sign_in(admin)
    user = sign_in(ann, "ann@example.com", "analyst")
    secret = tokens.create(user, "read")[0]
    admin.post(f"/admin/users/{user.id}/disabled", {"csrf_token": csrf_of(admin), "disabled": "1"})
    assert "/login" in ann.get("/", status=302).location
    assert ann.get("/api/v1/sessions", headers={"Authorization": f"Bearer {secret}"}, status=401)
    form = ann.get("/login").forms[0]
    form["email"], form["password"] = "ann@example.com", PASSWORD
    assert "Email or password is wrong" in form.submit(status=401).text


def test_disabling_takes_exactly_what_the_form_sends_and_roles_and_scopes_their_exact_names(browser):
    # disabled=yes enabled the user: anything but "1" meant enable.
    admin, ann_browser = browser(), browser()
    sign_in(admin)
    ann = sign_in(ann_browser, "ann@example.com", "analyst")
    token = csrf_of(admin, "/admin/users")
    toggle = f"/admin/users/{ann.id}/disabled"
    for value in ("1", "0"):
        for wrong in ("yes", "no", "true", "", " 1", "01"):
            page = admin.post(toggle, {"csrf_token": token, "disabled": wrong}, status=400)
            assert (f"disabled must be 1 (disable) or 0 (enable); got {wrong!r}. ann@example.com was not changed."
                    in html.unescape(page.text))
        admin.post(toggle, {"csrf_token": token}, status=400)
        assert users.get("ann@example.com").disabled is (value == "0")  # as the last good value left it
        form = next(f for f in admin.get("/admin/users").forms.values() if f.action == toggle)
        assert form["disabled"].value == value
        assert f"ann@example.com is {'disabled' if value == '1' else 'enabled'}." in form.submit().text
    for wrong in ("Admin", "superuser", "", "viewer "):
        page = admin.post(f"/admin/users/{ann.id}/role", {"csrf_token": token, "role": wrong}, status=400)
        assert f"Unknown role {wrong!r}: use one of admin, analyst, viewer." in html.unescape(page.text)
        admin.post("/admin/users", {"csrf_token": token, "email": "new@example.com", "password": PASSWORD,
                                    **({"role": wrong} if wrong else {})}, status=400)
    assert (users.get("ann@example.com").role, users.User.select().count()) == ("analyst", 2)
    sign_in(ann_browser, "ann@example.com", "analyst")  # disabling her ended her session
    for wrong in ("Read", "write", ""):
        page = ann_browser.post("/account/tokens", {"csrf_token": csrf_of(ann_browser), "scope": wrong}, status=400)
        assert f"Unknown scope {wrong!r}: use read or ingest." in html.unescape(page.text)
    assert ApiToken.select().count() == 0


# --- throttling ----------------------------------------------------------------------------------------------

def attempt(client, email, password, status, address="10.0.0.1"):
    form = client.get("/login").forms[0]
    form["email"], form["password"] = email, password
    return form.submit(status=status, extra_environ={"REMOTE_ADDR": address})


def test_an_account_is_throttled_after_five_failures_even_for_the_right_password(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    client = browser()
    for _ in range(5):
        attempt(client, "ann@example.com", "wrong password 12", 401)
    response = attempt(client, "ann@example.com", PASSWORD, 429, address="10.9.9.9")
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.text
    assert 880 <= int(response.headers["Retry-After"]) <= 900
    for row in LoginAttempt.select():
        row.attempted_at -= dt.timedelta(minutes=16)
        row.save()
    attempt(client, "ann@example.com", PASSWORD, 303)


def test_a_crowded_address_gets_one_guess_per_account_and_never_locks_out_a_correct_password(browser):
    client = browser()
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    users.create("bob@example.com", PASSWORD, "admin", cheap=True)
    for i in range(20):
        attempt(client, f"guess{i}@example.com", "wrong password 12", 401)
    attempt(client, "guess3@example.com", "wrong password 12", 429)
    attempt(client, "bob@example.com", PASSWORD, 303)
    attempt(browser(), "ann@example.com", "wrong password 12", 401)
    assert "Too many failed sign-ins" in attempt(browser(), "ann@example.com", PASSWORD, 429).text
    attempt(browser(), "ann@example.com", PASSWORD, 303, address="10.0.0.2")


def test_a_crowd_of_sign_ins_gets_told_to_retry_instead_of_taking_every_thread(browser, monkeypatch):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    monkeypatch.setattr(users, "SIGNING_IN", threading.BoundedSemaphore(1))
    users.SIGNING_IN.acquire()  # one sign-in checking its password
    response = attempt(browser(), "ann@example.com", PASSWORD, 429)
    assert "Many people are signing in right now. Try again in 5 seconds." in response.text
    assert response.headers["Retry-After"] == "5"
    users.SIGNING_IN.release()
    attempt(browser(), "ann@example.com", PASSWORD, 303)
    assert LoginAttempt.select().count() == 1  # the refused one was no attempt at the password


def test_one_address_cannot_hold_the_places_of_everyone_elses_sign_ins(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    with contextlib.ExitStack() as held:
        for _ in range(users.SIGN_INS_PER_ADDRESS):  # slow sign-ins from one address, under way
            held.enter_context(users.signing_in("10.6.6.6"))
        response = attempt(browser(), "someone@example.com", "wrong password 12", 429, address="10.6.6.6")
        assert "Many people are signing in right now" in response.text
        attempt(browser(), "ann@example.com", PASSWORD, 303, address="10.0.0.7")
    assert users.UNDER_WAY == {}
    attempt(browser(), "someone@example.com", "wrong password 12", 401, address="10.6.6.6")


def test_a_success_resets_the_account_count(browser):
    users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    client = browser()
    for _ in range(4):
        attempt(client, "ann@example.com", "wrong password 12", 401)
    attempt(client, "ann@example.com", PASSWORD, 303)
    for _ in range(4):
        attempt(browser(), "ann@example.com", "wrong password 12", 401)
    attempt(browser(), "ann@example.com", PASSWORD, 303)


# --- first run ----------------------------------------------------------------------------------------------

def setup_form(client, email="root@example.com", password=PASSWORD, again=PASSWORD, token=None):
    form = client.get("/setup").forms[0]
    form["email"], form["password"], form["password2"] = email, password, again
    if token is not None:
        form["setup_token"] = token
    return form


def test_first_run_setup_creates_the_admin_and_then_disappears(browser):
    client = browser()
    assert client.get("/", status=302).location.endswith("/setup")
    assert "Create the first admin" in client.get("/setup").text
    assert "The two passwords differ." in setup_form(client, again="something else 1").submit(status=400).text
    setup_form(client).submit(status=303)
    assert "root@example.com (admin)" in client.get("/").text
    client.get("/setup", status=404)
    browser().post("/setup", {"email": "late@example.com"}, status=404)
    assert [u.email for u in users.list_users()] == ["root@example.com"]


def test_setup_in_production_needs_the_logged_token_the_same_on_every_replica(make_app, settings, caplog):
    production = Settings(app_env="production", database_url=settings.database_url, secret_key="p")
    client = make_app(production)()
    logged = [r.getMessage() for r in caplog.records if "setup token" in r.getMessage()]
    token = logged[-1].rsplit(": ", 1)[1]
    assert 'name="setup_token"' in client.get("/setup").text
    response = setup_form(client, token="guess").submit(status=403)
    assert "The setup token is wrong" in response.text and not users.exists()
    replica = make_app(production)()  # another replica or a restart: the same token
    make_app(Settings(app_env="production", database_url=settings.database_url, secret_key="q"))
    tokens = [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records if "setup token" in r.getMessage()]
    assert tokens[-3:-1] == [token, token] and tokens[-1] != token
    setup_form(replica, token=token).submit(status=303)
    assert users.get("root@example.com").role == "admin"


def test_no_setup_token_is_logged_once_a_user_exists(make_app, settings, caplog):
    users.create("ann@example.com", PASSWORD, "admin", cheap=True)
    make_app(Settings(app_env="production", database_url=settings.database_url, secret_key="p"))
    assert not [r for r in caplog.records if "setup token" in r.getMessage()]


# --- users and tokens in the UI ------------------------------------------------------------------------------

def test_an_admin_manages_users_and_keeps_the_last_admin(browser):
    admin = browser()
    me = sign_in(admin)
    token = csrf_of(admin)
    page = admin.post("/admin/users", {"csrf_token": token, "email": "Bob@Example.com", "password": PASSWORD,
                                       "role": "analyst"})
    assert "User bob@example.com created as analyst." in page.text
    bob = users.get("bob@example.com")
    admin.post(f"/admin/users/{bob.id}/role", {"csrf_token": token, "role": "viewer"})
    assert users.get("bob@example.com").role == "viewer"
    page = admin.post(f"/admin/users/{me.id}/role", {"csrf_token": token, "role": "viewer"}, status=400)
    assert "is the last enabled admin" in page.text
    page = admin.post("/admin/users", {"csrf_token": token, "email": "bob@example.com", "password": PASSWORD,
                                       "role": "viewer"}, status=400)
    assert "A user bob@example.com already exists." in page.text


def test_tokens_are_shown_once_listed_with_last_use_and_revocable(browser):
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    form = {"csrf_token": csrf_of(client), "name": "nightly", "scope": "ingest"}
    redirect = client.post("/account/tokens", form, status=303)
    assert redirect.headers["Location"].endswith("/account") and "csa_" not in redirect.text
    page = redirect.follow()
    secret = page.html.select_one("pre.token").text
    assert secret.startswith("csa_") and ApiToken.get().token_hash != secret and secret not in ApiToken.get().prefix
    assert "Token 'nightly' created" in page.html.get_text()
    assert secret not in client.get("/account").text and "never" in client.get("/account").text
    client.post("/api/v1/sessions", "[]", headers={"Authorization": f"Bearer {secret}"}, status=400)
    assert ApiToken.get().last_used_at is not None
    client.post(f"/account/tokens/{ApiToken.get().id}/revoke", {"csrf_token": csrf_of(client)})
    client.post("/api/v1/sessions", "[]", headers={"Authorization": f"Bearer {secret}"}, status=401)


def test_reloading_the_page_after_creating_a_token_creates_no_second_one(browser):
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    client.post("/account/tokens", {"csrf_token": csrf_of(client), "name": "nightly", "scope": "read"}).follow()
    for _ in range(2):  # what a reload of the page shows: the GET it was redirected to
        page = client.get("/account")
        assert page.html.select_one("pre.token") is None
    assert ApiToken.select().count() == 1
    other = browser()  # another browser that replays the cookie of a token it does not own sees nothing
    sign_in(other, "bob@example.com", "analyst")
    secret = token_for("analyst", "read")
    other.set_cookie("new_token", secret)
    assert other.get("/account").html.select_one("pre.token") is None


def test_a_viewer_cannot_hold_an_ingest_token_nor_revoke_someone_elses(browser):
    client = browser()
    sign_in(client, "vic@example.com", "viewer")
    page = client.post("/account/tokens", {"csrf_token": csrf_of(client), "scope": "ingest"}, status=400)
    assert "A viewer cannot hold an ingest token" in page.text
    other = token_for("analyst", "read")
    token_id = ApiToken.get(ApiToken.prefix == other[:12]).id
    client.post(f"/account/tokens/{token_id}/revoke", {"csrf_token": csrf_of(client)}, status=404)
    assert ApiToken.get_by_id(token_id).revoked_at is None


def test_a_demoted_user_loses_the_scope_of_its_token(browser):
    secret = token_for("analyst", "ingest")
    users.set_role(users.get("analyst-api@example.com"), "viewer")
    response = browser().post("/api/v1/sessions", "[]", headers={"Authorization": f"Bearer {secret}"}, status=403)
    # The token has the scope; its user's role no longer allows it, and the message says which.
    assert response.json == {"error": "This token's user is now a viewer: the ingest scope needs the analyst role "
                                      "or more."}
    read = token_for("viewer", "read")
    response = browser().post("/api/v1/sessions", "[]", headers={"Authorization": f"Bearer {read}"}, status=403)
    assert response.json == {"error": "This token does not have the ingest scope."}


# --- the API ------------------------------------------------------------------------------------------------

SESSIONS = [{"session_id": f"s{i}", "user_id": f"c{i}", "started_at": f"2026-03-0{1 + i % 3}T10:00:0{i}Z",
             "utm_source": "google", "utm_medium": "cpc", "pageviews": 2} for i in range(5)]


def test_api_reads_sessions_newest_first_with_keyset_pages(browser):
    client = browser()
    ingest = {"Authorization": f"Bearer {token_for('analyst', 'ingest')}"}
    read = {"Authorization": f"Bearer {token_for('viewer', 'read')}"}
    created = client.post("/api/v1/sessions", json.dumps(SESSIONS), headers=ingest, status=201).json
    assert (created["sessions_created"], created["rows_identical"]) == (5, 0)
    first = client.get("/api/v1/sessions?limit=2", headers=read).json
    assert [s["session_key"] for s in first["sessions"]] == ["s2", "s4"]
    assert first["sessions"][0]["started_at"] == "2026-03-03T10:00:02Z" and first["sessions"][0]["revenue"] == "0.00"
    second = client.get("/api/v1/sessions", params={"limit": 2, "after": first["next"]}, headers=read).json
    assert [s["session_key"] for s in second["sessions"]] == ["s1", "s3"]
    assert client.get("/api/v1/sessions?limit=x", headers=read, status=400).json["error"].startswith("limit")


def test_api_takes_ndjson_events_and_sessionizes_them(browser):
    body = "\n".join(json.dumps({"user_id": "u1", "timestamp": f"2026-03-01T10:{m:02d}:00Z", "event": "page_view",
                                 "page": f"/p{m}"}) for m in (0, 10, 50))
    headers = {"Authorization": f"Bearer {token_for('analyst', 'ingest')}", "Content-Type": "application/x-ndjson"}
    created = browser().post("/api/v1/events", body, headers=headers, status=201).json
    assert (created["sessions_created"], created["events_added"]) == (2, 3)
    assert Import.get().created_by == "analyst-api@example.com"


def test_api_answers_the_notes_on_how_rows_were_read(browser):
    body = [{"session_id": "n1", "started_at": "2026-03-29 02:30:00", "revenue": "TRUE"},
            {"session_id": "n2", "started_at": "2026-03-29 12:00:00", "revenue": "19.90"}]
    headers = {"Authorization": f"Bearer {token_for('analyst', 'ingest')}"}
    answer = browser().post("/api/v1/sessions?timezone=Europe/Berlin", json.dumps(body), headers=headers,
                            status=201).json
    assert [n.split(" (")[0] for n in answer["time_notes"]] == [
        "1 row(s) have a local time that does not exist in Europe/Berlin"]
    assert answer["notes"] == answer["time_notes"] + [
        "1 row(s) have TRUE or FALSE in the revenue column 'revenue': each was read as converted or not, with no amount"]


def test_api_rejects_a_bad_record_and_writes_nothing(browser):
    bad = SESSIONS + [{"session_id": "x", "started_at": "yesterday-ish"}]
    headers = {"Authorization": f"Bearer {token_for('analyst', 'ingest')}"}
    response = browser().post("/api/v1/sessions", json.dumps(bad), headers=headers, status=422).json
    assert response["errors"] == [{"line": 6, "column": "started_at", "value": "yesterday-ish",
                                   "reason": "not a date and time (expected ISO 8601, YYYY-MM-DD HH:MM:SS or epoch "
                                             "seconds)"}]
    assert CustomerSession.select().count() == 0
    ndjson = json.dumps(SESSIONS[0]) + "\n{not json\n"
    errors = browser().post("/api/v1/sessions", ndjson, headers=headers, status=422).json["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(2, "(whole line)")]
    assert "none of the first records" in browser().post("/api/v1/sessions", "{no", headers=headers, status=400).json["error"]
    assert browser().post("/api/v1/sessions", "[1, 2", headers=headers, status=400).json["error"] == (
        "The JSON array ends after element 2 without its closing ].")
    assert browser().post("/api/v1/sessions", "", headers=headers, status=400).json["error"].startswith("The body is empty")
    assert browser().post("/api/v1/sessions", " [ ] ", headers=headers, status=400).json["error"] == (
        "the request body holds no records (an empty JSON array or file): there is nothing to import; nothing was "
        "written.")
    assert CustomerSession.select().count() == 0


def test_api_body_over_the_limit_is_413(browser):
    headers = {"Authorization": f"Bearer {token_for('analyst', 'ingest')}"}
    big = json.dumps([dict(SESSIONS[0], session_id=f"s{i}", pad="x" * 100) for i in range(600)])
    response = browser().post("/api/v1/sessions", big, headers=headers, status=413).json
    assert response["error"] == "The body is over the limit of 0.05 MB (MAX_BODY_MB)."
    assert CustomerSession.select().count() == 0


# --- escaping and injection ----------------------------------------------------------------------------------

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE customer_sessions; --"


def test_user_supplied_values_come_back_escaped_everywhere(browser):
    client = browser()
    sign_in(client)
    CustomerSession.create(session_key=XSS, customer_id=XSS, started_at=dt.datetime(2026, 3, 1), channel="direct",
                           source=XSS, medium=SQL, campaign=XSS, device="mobile", landing_page=XSS)
    Import.create(file_name=XSS, checksum="c", kind="sessions", file_format="csv", started_at=dt.datetime(2026, 3, 1),
                  created_by=XSS)
    token = csrf_of(client)
    client.post("/account/tokens", {"csrf_token": token, "name": XSS, "scope": "read"})
    client.post("/admin/users", {"csrf_token": token, "email": "x@example.com", "password": PASSWORD, "role": "viewer"})
    for path in ("/", "/sessions", "/imports", "/account", "/admin/users", f"/sessions?after={XSS}", f"/login?next={XSS}"):
        text = client.get(path, expect_errors=True).text
        assert "<script>" not in text and "<img src=x" not in text, path
    assert "&lt;script&gt;" in client.get("/sessions").text
    page = client.get("/login", params={"next": XSS}, status=302)
    assert "<script>" not in page.text


def test_sql_injection_in_query_parameters_and_forms_is_harmless(browser):
    client = browser()
    sign_in(client)
    for params in ({"after": SQL}, {"after": "20260101T000000.000000_1 OR 1=1"}):
        assert "not a cursor" in client.get("/sessions", params=params, status=400).text
    read = {"Authorization": f"Bearer {token_for('viewer', 'read')}"}
    client.get("/api/v1/sessions", params={"after": SQL, "limit": "1; DROP TABLE users"}, headers=read, status=400)
    attempt(browser(), SQL, SQL, 401)
    assert CustomerSession.select().count() == 0 and users.User.select().count() == 2


@pytest.mark.parametrize("raw,shown", [("..", ".."), ("é" * 300 + ".csv", "é" * 200), ("a\tb\x7f.csv", "ab.csv"),
                                       ("C:\\Users\\ann\\march.csv.gz", "march.csv.gz")])
def test_an_uploaded_file_name_never_becomes_a_path_on_disk(browser, raw, shown):
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    body = "session_id,started_at\ns1,2026-03-01T10:00:00Z\n".encode()
    if raw.endswith(".gz"):
        body = gzip.compress(body)
    page = client.post("/imports", {"csrf_token": csrf_of(client, "/imports")}, upload_files=[("file", raw, body)],
                       status=303).follow()
    assert "Imported" in page.text
    assert Import.get().file_name == shown and CustomerSession.select().count() == 1


def test_an_upload_whose_name_has_a_line_break_is_a_clear_400(browser):
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    page = client.post("/imports", {"csrf_token": csrf_of(client, "/imports")},
                       upload_files=[("file", "a\nb.csv", b"session_id,started_at\n")], status=400)
    assert "rename the file (no line breaks)" in page.text and Import.select().count() == 0


def test_an_uploaded_file_name_is_escaped_and_the_export_is_formula_safe(browser):
    client = browser()
    sign_in(client, "ann@example.com", "analyst")
    body = "session_id,started_at,utm_campaign\ns1,2026-03-01T10:00:00Z,=HYPERLINK(\"http://x\")\n"
    page = client.post("/imports", {"csrf_token": csrf_of(client, "/imports")},
                       upload_files=[("file", f"{XSS}.csv", body.encode())], status=303).follow()
    assert "Imported" in page.text and "<script>" not in page.text and "&lt;script&gt;" in page.text
    export = client.get("/export.csv")
    assert export.content_type == "text/csv" and "'=HYPERLINK" in export.text
