"""Creating and changing users, and checking a sign-in with throttling by account and by address."""

import contextlib
import datetime as dt
import math
import re
import threading
from dataclasses import dataclass

from analyzer.accounts import now, passwords
from analyzer.errors import AppError
from analyzer.db import database
from analyzer.models import LoginAttempt, LoginSession, User

ROLES = ("admin", "analyst", "viewer")
RANK = {"viewer": 1, "analyst": 2, "admin": 3}
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
WINDOW = dt.timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
ATTEMPTS_KEPT = dt.timedelta(days=1)  # far longer than WINDOW: every attempt prunes what is older
# Sign-ins under way at once: half the server's 32 threads (railway.toml). A sign-in waits on its thread for its
# password check and, on SQLite, for an import's write lock: without a bound, a crowd of them took every thread.
# Two per client address, so that one address cannot hold the places and keep everyone else from signing in.
SIGN_INS_AT_ONCE = 16
SIGN_INS_PER_ADDRESS = 2
SIGNING_IN = threading.BoundedSemaphore(SIGN_INS_AT_ONCE)
UNDER_WAY = {}  # client address: its sign-ins under way
UNDER_WAY_LOCK = threading.Lock()
CROWDED_RETRY_S = 5


@dataclass
class Throttled(Exception):
    """Too many failed sign-ins, or too many sign-ins at once (CROWDED): wait this many seconds."""

    seconds: int
    crowded: bool = False

    @property
    def message(self):
        """Return the sentence a user sees."""
        if self.crowded:
            return f"Many people are signing in right now. Try again in {self.seconds} seconds."
        minutes = max(1, math.ceil(self.seconds / 60))
        return f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


def allows(role, needed):
    """Tell whether ROLE has at least the rights of NEEDED."""
    return RANK.get(role, 0) >= RANK[needed]


def normal_email(email):
    """Return the email trimmed and lower-cased, or raise AppError when it is not an email address."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not EMAIL_RE.fullmatch(value):
        raise AppError(f"{email!r} is not an email address.")
    return value


def check_role(role):
    """Raise AppError unless ROLE is one of ROLES."""
    if role not in ROLES:
        raise AppError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")


def exists():
    """Tell whether any user exists (the first-run setup page is shown until one does)."""
    return User.select().exists()


def get(email):
    """Return the user with this email, or raise AppError."""
    user = User.get_or_none(User.email == normal_email(email))
    if user is None:
        raise AppError(f"There is no user {email.strip()}; see python manage.py user list.")
    return user


def create(email, password, role="viewer", cheap=False):
    """Create a user; raise AppError for a taken email, an unknown role or a rejected password."""
    email = normal_email(email)
    check_role(role)
    _check_password(password, email)
    with database.atomic():
        if User.select().where(User.email == email).exists():
            raise AppError(f"A user {email} already exists.")
        stamp = now()
        return User.create(email=email, password_hash=passwords.hash_password(password, cheap), role=role,
                           created_at=stamp, password_changed_at=stamp)


def list_users():
    """Return every user, by email."""
    return list(User.select().order_by(User.email))


def set_role(user, role):
    """Change a user's role; the last enabled admin keeps the admin role."""
    check_role(role)
    with database.atomic():
        if user.role == "admin" and role != "admin":
            _keep_an_admin(user)
        user.role = role
        user.save()
    return user


def set_password(user, password, keep_session=None, cheap=False):
    """Change a user's password and end the user's other sign-in sessions."""
    _check_password(password, user.email)
    with database.atomic():
        user.password_hash = passwords.hash_password(password, cheap)
        user.password_changed_at = now()
        user.save()
        others = LoginSession.delete().where(LoginSession.user == user)
        if keep_session is not None:
            others = others.where(LoginSession.id != keep_session.id)
        others.execute()
    return user


def set_disabled(user, disabled):
    """Disable (ending its sessions; its tokens stop working) or enable a user."""
    with database.atomic():
        if disabled and user.role == "admin":
            _keep_an_admin(user)
        user.disabled = disabled
        user.save()
        if disabled:
            LoginSession.delete().where(LoginSession.user == user).execute()
    return user


@contextlib.contextmanager
def signing_in(address):
    """Hold a place of a sign-in under way from ADDRESS; raise Throttled when it has its two, or none is free."""
    with UNDER_WAY_LOCK:
        if UNDER_WAY.get(address, 0) >= SIGN_INS_PER_ADDRESS or not SIGNING_IN.acquire(blocking=False):
            raise Throttled(CROWDED_RETRY_S, crowded=True)
        UNDER_WAY[address] = UNDER_WAY.get(address, 0) + 1
    try:
        yield
    finally:
        with UNDER_WAY_LOCK:
            UNDER_WAY[address] -= 1
            if not UNDER_WAY[address]:
                del UNDER_WAY[address]
        SIGNING_IN.release()


def authenticate(email, password, address, cheap=False):
    """Return the user for a correct email and password, None otherwise; raise Throttled after too many failures."""
    email = (email or "").strip().lower()[:254]
    address = (address or "unknown")[:64]
    _check_throttle(email, address)
    user = User.get_or_none(User.email == email)
    if user is None:
        # An unknown account takes as long as a wrong password, so timing does not tell which emails exist.
        passwords.verify(passwords.dummy_hash(cheap), password, cheap)
        ok = False
    else:
        ok = passwords.verify(user.password_hash, password, cheap) and not user.disabled
    LoginAttempt.delete().where(LoginAttempt.attempted_at < now() - ATTEMPTS_KEPT).execute()
    LoginAttempt.create(email=email, address=address, succeeded=ok, attempted_at=now())
    if not ok:
        return None
    if passwords.hasher(cheap).check_needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password, cheap)
        user.save()
    return user


def _check_password(password, email):
    try:
        passwords.check(password, email)
    except passwords.PasswordRejected as exc:
        raise AppError(str(exc)) from None


def _keep_an_admin(user):
    admins = User.select().where((User.role == "admin") & (User.disabled == False) & (User.id != user.id))  # noqa: E712
    if not admins.exists():
        raise AppError(f"{user.email} is the last enabled admin: make another user admin first.")


def _check_throttle(email, address):
    """Raise Throttled while the account, or a crowded address trying an account it already failed on, must wait.

    The account limit protects accounts. The address limit slows whoever is behind the address (many users can
    share one, as behind a proxy): past it, the address still gets one guess at each account with no failure in
    the window, so a correct password of an account that is not itself under attack always works.
    """
    since = now() - WINDOW
    last_success = (LoginAttempt.select(LoginAttempt.attempted_at)
                    .where((LoginAttempt.email == email) & LoginAttempt.succeeded)
                    .order_by(LoginAttempt.attempted_at.desc()).scalar())
    account = _failures(LoginAttempt.email == email, max(since, last_success) if last_success else since,
                        MAX_ACCOUNT_FAILURES)
    if len(account) >= MAX_ACCOUNT_FAILURES:
        _wait(account[-1])
    crowded = _failures(LoginAttempt.address == address, since, MAX_ADDRESS_FAILURES)
    if len(crowded) >= MAX_ADDRESS_FAILURES and account:
        _wait(crowded[-1])


def _failures(where, start, limit):
    """Return the times of the newest LIMIT failed attempts matching WHERE since START, newest first."""
    return [t for t, in LoginAttempt.select(LoginAttempt.attempted_at)
            .where(where & ~LoginAttempt.succeeded & (LoginAttempt.attempted_at > start))
            .order_by(LoginAttempt.attempted_at.desc()).limit(limit).tuples()]


def _wait(oldest):
    wait = (oldest + WINDOW - now()).total_seconds()
    if wait > 0:
        raise Throttled(int(math.ceil(wait)))
