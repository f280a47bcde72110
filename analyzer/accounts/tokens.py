"""API tokens: created for a user with one scope, shown once, stored as a hash, listed, revoked."""

import secrets

from analyzer.accounts import now, users
from analyzer.accounts.logins import digest
from analyzer.db import database, write_if_free
from analyzer.errors import AppError
from analyzer.models import ApiToken, User

SCOPES = {"read": "viewer", "ingest": "analyst"}  # scope: the least role that may hold it
PREFIX = "csa_"


class TokenRefused(Exception):
    """A token that does not authorize this request: status 401 or 403, with the reason."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def create(user, scope, name=None):
    """Create a token; return (the secret, shown only now, and the ApiToken)."""
    if scope not in SCOPES:
        raise AppError(f"Unknown scope {scope!r}: use read or ingest.")
    if not users.allows(user.role, SCOPES[scope]):
        raise AppError(f"A {user.role} cannot hold an {scope} token (it needs the {SCOPES[scope]} role or more).")
    name = (name or f"{scope} token").strip()[:100] or f"{scope} token"
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.create(user=user, name=name, scope=scope, token_hash=digest(secret), prefix=secret[:12],
                            created_at=now())
    return secret, token


def own_secret(user, secret):
    """Return USER's live token whose secret is SECRET, or None."""
    if not secret or len(secret) > 128:
        return None
    return ApiToken.get_or_none(ApiToken.user == user, ApiToken.token_hash == digest(secret),
                                ApiToken.revoked_at.is_null())


def list_tokens(user=None):
    """Return the tokens (of one user, or all), newest first."""
    query = ApiToken.select(ApiToken, User).join(User).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    return list(query.where(ApiToken.user == user) if user is not None else query)


def revoke(token_id, user=None):
    """Revoke a token (only USER's own when given); return it."""
    query = ApiToken.select().where(ApiToken.id == token_id)
    if user is not None:
        query = query.where(ApiToken.user == user)
    token = query.first()
    if token is None:
        raise AppError(f"There is no token {token_id}; see python manage.py token list.")
    if token.revoked_at is None:
        token.revoked_at = now()
        token.save()
    return token


def authorize(header, scope):
    """Return the user of an 'Authorization: Bearer …' header holding SCOPE, or raise TokenRefused."""
    kind, _, secret = (header or "").partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        raise TokenRefused(401, "Send an API token: Authorization: Bearer <token>.")
    token = (ApiToken.select(ApiToken, User).join(User)
             .where(ApiToken.token_hash == digest(secret)).first()) if len(secret) <= 128 else None
    if token is None or token.revoked_at is not None or token.user.disabled:
        raise TokenRefused(401, "The API token is wrong, revoked, or its user is disabled.")
    if token.scope != scope:
        raise TokenRefused(403, f"This token does not have the {scope} scope.")
    if not users.allows(token.user.role, SCOPES[scope]):
        raise TokenRefused(403, f"This token's user is now a {token.user.role}: the {scope} scope needs the "
                                f"{SCOPES[scope]} role or more.")
    stamp = now()
    if token.last_used_at is None or (stamp - token.last_used_at).total_seconds() >= 60:
        write_if_free(database, ApiToken.update(last_used_at=stamp).where(ApiToken.id == token.id).execute)
    return token.user
