"""A user's own account (password, API tokens) and the admin's user management."""

import bottle

from analyzer.accounts import passwords, tokens, users
from analyzer.errors import AppError
from analyzer.models import User
from analyzer.web import auth
from analyzer.web.routes import render

NEW_TOKEN_COOKIE = "new_token"


def register(app, settings):
    """Attach the account and user-management routes to APP."""
    cheap = settings.app_env == "test"

    @app.get("/account", access="viewer")
    def account():
        # A token just created is shown by this page, once: the form redirects here, so a reload makes no second one.
        secret = bottle.request.get_cookie(NEW_TOKEN_COOKIE)
        if secret is None:
            return _account_page()
        bottle.response.delete_cookie(NEW_TOKEN_COOKIE, path="/account")
        token = tokens.own_secret(auth.current_user(), secret)
        if token is None:
            return _account_page()
        return _account_page(new_token=secret, notice=f"Token {token.name!r} created. Copy it now: it is shown only once.")

    @app.post("/account/password", access="viewer")
    def change_password():
        form = bottle.request.forms
        login = auth.current_login(settings)
        user = login.user
        # Through the sign-in check, so that a stolen session cannot guess the password unthrottled.
        try:
            confirmed = users.authenticate(user.email, form.getunicode("current", ""), auth.client_address(), cheap)
        except users.Throttled as throttled:
            bottle.response.set_header("Retry-After", str(throttled.seconds))
            minutes, window = max(1, -(-throttled.seconds // 60)), int(users.WINDOW.total_seconds() // 60)
            return _account_page(error=f"This account had too many wrong passwords in the last {window} minutes "
                                       "(sign-ins elsewhere count too), so the current password cannot be checked "
                                       f"now. Try again in {minutes} minute{'s' if minutes > 1 else ''}.", status=429)
        if confirmed is None:
            return _account_page(error="The current password is wrong.", status=400)
        if form.getunicode("password", "") != form.getunicode("password2", ""):
            return _account_page(error="The two new passwords differ.", status=400)
        if form.getunicode("password", "") == form.getunicode("current", ""):
            return _account_page(error="The new password is the current one: choose another.", status=400)
        try:
            users.set_password(user, form.getunicode("password", ""), keep_session=login, cheap=cheap)
        except AppError as exc:
            return _account_page(error=str(exc), status=400)
        return _account_page(notice="Password changed. Your other sessions are signed out.")

    @app.post("/account/tokens", access="viewer")
    def create_token():
        form = bottle.request.forms
        try:
            secret, token = tokens.create(auth.current_user(), form.getunicode("scope", ""), form.getunicode("name", ""))
        except AppError as exc:
            return _account_page(error=str(exc), status=400)
        bottle.response.set_cookie(NEW_TOKEN_COOKIE, secret, path="/account", httponly=True, samesite="strict",
                                   secure=settings.is_production, max_age=300)
        return bottle.redirect("/account", 303)

    @app.post("/account/tokens/<token_id:int>/revoke", access="viewer")
    def revoke_own_token(token_id):
        try:
            token = tokens.revoke(token_id, user=auth.current_user())
        except AppError:
            bottle.abort(404, "There is no such token of yours.")
        return _account_page(notice=f"Token {token.name!r} revoked.")

    @app.get("/admin/users", access="admin")
    def user_list():
        return _users_page()

    @app.post("/admin/users", access="admin")
    def add_user():
        form = bottle.request.forms
        try:
            user = users.create(form.getunicode("email", ""), form.getunicode("password", ""),
                                form.getunicode("role", ""), cheap)
        except AppError as exc:
            return _users_page(error=str(exc), status=400)
        return _users_page(notice=f"User {user.email} created as {user.role}.")

    @app.post("/admin/users/<user_id:int>/role", access="admin")
    def change_role(user_id):
        user = _user(user_id)
        try:
            users.set_role(user, bottle.request.forms.getunicode("role", ""))
        except AppError as exc:
            return _users_page(error=str(exc), status=400)
        return _users_page(notice=f"{user.email} is now {user.role}.")

    @app.post("/admin/users/<user_id:int>/disabled", access="admin")
    def change_disabled(user_id):
        user = _user(user_id)
        choice = bottle.request.forms.get("disabled", "")
        if choice not in ("0", "1"):
            return _users_page(error=f"disabled must be 1 (disable) or 0 (enable); got {choice!r}. {user.email} was "
                                     "not changed.", status=400)
        disabled = choice == "1"
        try:
            users.set_disabled(user, disabled)
        except AppError as exc:
            return _users_page(error=str(exc), status=400)
        return _users_page(notice=f"{user.email} is {'disabled' if disabled else 'enabled'}.")

    @app.post("/admin/tokens/<token_id:int>/revoke", access="admin")
    def revoke_any_token(token_id):
        try:
            token = tokens.revoke(token_id)
        except AppError:
            bottle.abort(404, "There is no such token.")
        return _users_page(notice=f"Token {token.name!r} of {token.user.email} revoked.")


def _account_page(error=None, notice=None, new_token=None, status=200):
    bottle.response.status = status
    user = auth.current_user()
    scopes = [s for s, role in tokens.SCOPES.items() if users.allows(user.role, role)]
    return render("account", title="Your account", error=error, notice=notice, new_token=new_token,
                  tokens=tokens.list_tokens(user), scopes=scopes, min_length=passwords.MIN_LENGTH)


def _users_page(error=None, notice=None, status=200):
    bottle.response.status = status
    return render("users", error=error, notice=notice, people=users.list_users(), tokens=tokens.list_tokens(),
                  roles=users.ROLES, min_length=passwords.MIN_LENGTH)


def _user(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        bottle.abort(404, "There is no such user.")
    return user
