"""The verbs of "python manage.py user" and "token": each prints what it did and returns an exit code."""

import getpass

from analyzer.accounts import tokens, users
from analyzer.errors import AppError


def create_user(ctx, email, role, password_stdin=False):
    """Create a user with a password typed twice (or read from standard input)."""
    users.check_role(role)
    email = users.normal_email(email)
    password = _new_password(ctx, password_stdin)
    user = users.create(email, password, role, cheap=_cheap(ctx))
    ctx.out(f"Created {user.role} {user.email}.")
    return 0


def list_users(ctx):
    """List every user with role and status."""
    found = users.list_users()
    if not found:
        ctx.out("No users yet: python manage.py user create EMAIL --role admin (or open the app's /setup page).")
        return 0
    for u in found:
        ctx.out(f"{u.email:<40} {u.role:<8} {'disabled' if u.disabled else 'active':<9} created {u.created_at:%Y-%m-%d}")
    return 0


def set_role(ctx, email, role):
    """Change a user's role."""
    user = users.set_role(users.get(email), role)
    ctx.out(f"{user.email} is now {user.role}.")
    return 0


def set_password(ctx, email, password_stdin=False):
    """Change a user's password; the user's sessions end."""
    user = users.get(email)
    users.set_password(user, _new_password(ctx, password_stdin), cheap=_cheap(ctx))
    ctx.out(f"Password of {user.email} changed; the user's sessions are signed out.")
    return 0


def set_disabled(ctx, email, disabled):
    """Disable or enable a user."""
    user = users.set_disabled(users.get(email), disabled)
    ctx.out(f"{user.email} is {'disabled: its sessions ended and its tokens stop working' if disabled else 'enabled'}.")
    return 0


def create_token(ctx, email, scope, name=None):
    """Create an API token; the token alone is the last line of the output."""
    user = users.get(email)
    secret, token = tokens.create(user, scope, name)
    ctx.out(f"Created token {token.id} {token.name!r} ({token.scope}) for {user.email}. "
            "It is shown only now: store it in a secret manager.")
    ctx.out(secret)
    return 0


def list_tokens(ctx, email=None):
    """List the tokens with their last use."""
    found = tokens.list_tokens(users.get(email) if email else None)
    if not found:
        ctx.out("No tokens yet: python manage.py token create --user EMAIL --scope read|ingest.")
        return 0
    for t in found:
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        ctx.out(f"{t.id:>4}  {t.prefix}…  {t.scope:<6} {t.user.email:<32} {t.name!r}  {used}, {state}")
    return 0


def revoke_token(ctx, token_id):
    """Revoke a token."""
    token = tokens.revoke(token_id)
    ctx.out(f"Token {token.id} {token.name!r} of {token.user.email} is revoked.")
    return 0


def _new_password(ctx, from_stdin):
    if from_stdin:
        password = ctx.stdin.readline().rstrip("\r\n")
        if not password:
            raise AppError("--password-stdin read an empty line: pipe the password in, e.g. printf %s \"$PW\" | …")
        return password
    if not ctx.interactive:
        raise AppError("No terminal to type the password on: pass --password-stdin and pipe it in.")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise AppError("The two passwords differ; nothing was changed.")
    return first


def _cheap(ctx):
    return ctx.settings.app_env == "test"
