"""Signed-in browser sessions: opened at sign-in, found by their cookie, sliding expiry, ended at sign-out."""

import datetime as dt
import hashlib
import secrets

from analyzer.accounts import now
from analyzer.db import database, write_if_free
from analyzer.models import LoginSession, User

MAX_AGE = dt.timedelta(days=7)  # a session ends this long after sign-in, however active
TOUCH_EVERY = dt.timedelta(minutes=1)


def digest(secret):
    """Return the SHA-256 hex digest under which a cookie or token secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def start(user, address, hours):
    """Open a session for USER; return (cookie value, LoginSession)."""
    secret = secrets.token_urlsafe(32)
    stamp = now()
    LoginSession.delete().where(LoginSession.expires_at <= stamp).execute()  # sessions whose cookie never came back
    login = LoginSession.create(token_hash=digest(secret), user=user, csrf_token=secrets.token_urlsafe(32),
                                address=(address or "")[:64] or None, created_at=stamp, last_seen_at=stamp,
                                expires_at=min(stamp + dt.timedelta(hours=hours), stamp + MAX_AGE))
    return secret, login


def find(secret, hours):
    """Return the live session of a cookie value (extending its expiry), or None."""
    if not secret or len(secret) > 128:
        return None
    login = (LoginSession.select(LoginSession, User).join(User)
             .where(LoginSession.token_hash == digest(secret)).first())
    stamp = now()
    if login is None or login.expires_at <= stamp or login.user.disabled:
        if login is not None:
            login.delete_instance()
        return None
    if stamp - login.last_seen_at >= TOUCH_EVERY:
        login.last_seen_at = stamp
        login.expires_at = min(stamp + dt.timedelta(hours=hours), login.created_at + MAX_AGE)
        write_if_free(database, login.save)  # else it slides at a later request
    return login


def end(login):
    """End one session."""
    LoginSession.delete().where(LoginSession.id == login.id).execute()

