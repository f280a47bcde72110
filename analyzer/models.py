"""Every Peewee model: the single source of truth for the schema."""

import hashlib

import peewee as pw

from analyzer.db import database

ROLLUP_LAYOUT = 2  # rollup_zone.layout of rollups with rows under a filter on any dimension (1: on four of them)
KEY_CHARS = 500  # a longer value is keyed by its MD5 in PostgreSQL's rollups, whose index entries take 2,704 bytes


class BaseModel(pw.Model):
    """Shared settings of every model; never a table of its own."""

    class Meta:
        abstract = True
        database = database


class CustomerSession(BaseModel):
    """One visit of one customer."""

    session_key = pw.CharField(max_length=128, unique=True)
    customer_id = pw.CharField(max_length=128)
    started_at = pw.DateTimeField(index=True)
    ended_at = pw.DateTimeField(null=True)
    duration_s = pw.IntegerField(default=0)
    channel = pw.CharField(max_length=32, default="direct")
    source = pw.CharField(max_length=255, null=True)
    medium = pw.CharField(max_length=255, null=True)
    campaign = pw.CharField(max_length=255, null=True)
    device = pw.CharField(max_length=16, default="unknown", index=True)
    country = pw.CharField(max_length=2, null=True, index=True)
    landing_page = pw.TextField(null=True)
    exit_page = pw.TextField(null=True)
    page_views = pw.IntegerField(default=0)
    events = pw.IntegerField(default=0)
    converted = pw.BooleanField(default=False)
    revenue = pw.DecimalField(max_digits=14, decimal_places=2, default=0)
    import_id = pw.IntegerField(null=True, index=True)

    class Meta:
        table_name = "customer_sessions"
        # A customer's sessions in time order, from the index alone: first sessions, cohorts, the customer page.
        # Channel, country and device in one index: SQLite uses one index per table, so a pair of these filters
        # finds its sessions in the index instead of reading every session of one of them.
        indexes = ((("started_at", "channel"), False), (("customer_id", "started_at"), False),
                   (("channel", "country", "device"), False))

    @classmethod
    def span(cls):
        """Return the first and last start time stored (naive UTC), or None."""
        # Two reads: SQLite answers a lone MIN or MAX from the index, but scans it whole for both (133 ms at 1M).
        first = cls.select(pw.fn.MIN(cls.started_at)).scalar()
        last = cls.select(pw.fn.MAX(cls.started_at)).scalar()
        return (first, last) if first is not None and last is not None else None


class Import(BaseModel):
    """One imported file: what it was, what it wrote, who ran it, and whether it was undone."""

    file_name = pw.CharField(max_length=255)
    checksum = pw.CharField(max_length=64, index=True)
    kind = pw.CharField(max_length=16)
    file_format = pw.CharField(max_length=16)
    status = pw.CharField(max_length=16, default="running")
    rows_read = pw.IntegerField(default=0)
    sessions_written = pw.IntegerField(default=0)
    events_written = pw.IntegerField(default=0)
    duplicates = pw.IntegerField(default=0)  # no longer written: the three counts below replace it
    sessions_continued = pw.IntegerField(default=0)
    rows_identical = pw.IntegerField(default=0)
    extra_rows = pw.IntegerField(default=0)
    notes = pw.TextField(null=True)
    created_by = pw.CharField(max_length=255, null=True)
    started_at = pw.DateTimeField()
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "imports"


class SessionEvent(BaseModel):
    """One page view or event of a session, for funnels and the session timeline.

    It keeps what its session is computed from, so a later import can continue the session and an undo can
    recompute it from the events that remain.
    """

    session = pw.ForeignKeyField(CustomerSession, on_delete="CASCADE", backref="timeline", index=False)
    customer_id = pw.CharField(max_length=128, null=True)
    occurred_at = pw.DateTimeField()
    event_type = pw.CharField(max_length=64)
    page = pw.TextField(null=True)
    revenue = pw.DecimalField(max_digits=14, decimal_places=2, default=0)
    import_id = pw.IntegerField(null=True, index=True)
    file_session = pw.CharField(max_length=64, null=True)
    channel = pw.CharField(max_length=32, null=True)
    source = pw.CharField(max_length=255, null=True)
    medium = pw.CharField(max_length=255, null=True)
    campaign = pw.CharField(max_length=255, null=True)
    device = pw.CharField(max_length=16, null=True)
    country = pw.CharField(max_length=2, null=True)

    class Meta:
        table_name = "session_events"
        indexes = ((("session", "occurred_at"), False), (("event_type", "occurred_at"), False))


class DailyRollup(BaseModel):
    """Sessions per reporting day, channel, device and country, all and of new customers (their first session)."""

    day = pw.DateField()
    channel = pw.CharField(max_length=32)
    device = pw.CharField(max_length=16)
    country = pw.CharField(max_length=2, default="")
    sessions = pw.IntegerField(default=0)
    bounces = pw.IntegerField(default=0)
    conversions = pw.IntegerField(default=0)
    revenue = pw.DecimalField(max_digits=16, decimal_places=2, default=0)
    page_views = pw.IntegerField(default=0)
    duration_s = pw.BigIntegerField(default=0)
    new_sessions = pw.IntegerField(default=0)
    new_bounces = pw.IntegerField(default=0)
    new_conversions = pw.IntegerField(default=0)
    new_revenue = pw.DecimalField(max_digits=16, decimal_places=2, default=0)
    new_page_views = pw.IntegerField(default=0)
    new_duration_s = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "daily_rollups"
        indexes = ((("day", "channel", "device", "country"), True),)


class BreakdownRollup(BaseModel):
    """Sessions per reporting day and value of a dimension ('' for all), overall ('') or within one filter value."""

    day = pw.DateField()
    dimension = pw.CharField(max_length=16)
    value = pw.TextField()
    filter_dimension = pw.CharField(max_length=16, default="")
    filter_value = pw.CharField(max_length=32, default="")
    sessions = pw.IntegerField(default=0)
    conversions = pw.IntegerField(default=0)
    revenue = pw.DecimalField(max_digits=16, decimal_places=2, default=0)
    bounces = pw.IntegerField(default=0)
    page_views = pw.IntegerField(default=0)
    duration_s = pw.BigIntegerField(default=0)
    new_sessions = pw.IntegerField(default=0)

    class Meta:
        table_name = "breakdown_rollups"
        indexes = ((("filter_dimension", "filter_value", "dimension", "day"), False),)


class CrossRollup(BreakdownRollup):
    """Sessions per reporting day and value of a dimension ('' for all) within one value of a many-valued dimension."""

    # Not in breakdown_rollups: twice its rows there made the unfiltered dashboard's read 20 ms slower.
    filter_dimension = pw.CharField(max_length=16)
    filter_value = pw.TextField()

    class Meta:
        table_name = "cross_rollups"


class CustomerSketch(BaseModel):
    """Unique customers of one reporting day, overall ('') or within one value of a dimension: exact and as HLL."""

    day = pw.DateField()
    dimension = pw.CharField(max_length=16, default="")
    value = pw.TextField(default="")
    customers = pw.IntegerField(default=0)
    sketch = pw.BlobField()

    class Meta:
        table_name = "customer_sketches"
        indexes = ((("dimension", "value", "day"), True),)


def rollup_key(value, postgres):
    """Return how the rollups key a filter's value: itself, or on PostgreSQL its MD5 when it is long."""
    if postgres and len(value) > KEY_CHARS:
        return "md5:" + hashlib.md5(value.encode()).hexdigest()
    return value


class RollupZone(BaseModel):
    """The reporting zone whose days the rollups hold, and their layout: one row, written with the first rollups."""

    zone = pw.CharField(max_length=64)
    layout = pw.IntegerField(default=1)

    class Meta:
        table_name = "rollup_zone"


class CustomerFirst(BaseModel):
    """The first session ever of each customer: it makes the customer new on that session's day."""

    customer_id = pw.CharField(max_length=128, unique=True)
    session_id = pw.IntegerField(unique=True)
    started_at = pw.DateTimeField()

    class Meta:
        table_name = "customer_firsts"


class User(BaseModel):
    """Someone who signs in: an admin, an analyst or a viewer."""

    email = pw.CharField(max_length=254, unique=True)
    password_hash = pw.CharField(max_length=255)
    role = pw.CharField(max_length=16)
    disabled = pw.BooleanField(default=False)
    created_at = pw.DateTimeField()
    password_changed_at = pw.DateTimeField()

    class Meta:
        table_name = "users"


class LoginSession(BaseModel):
    """A signed-in browser: the hash of its cookie, its CSRF token, and when it expires."""

    token_hash = pw.CharField(max_length=64, unique=True)
    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="logins")
    csrf_token = pw.CharField(max_length=64)
    address = pw.CharField(max_length=64, null=True)
    created_at = pw.DateTimeField()
    last_seen_at = pw.DateTimeField()
    expires_at = pw.DateTimeField(index=True)

    class Meta:
        table_name = "login_sessions"


class ApiToken(BaseModel):
    """A named API token of a user, stored only as a hash, with one scope: read or ingest."""

    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="tokens")
    name = pw.CharField(max_length=100)
    scope = pw.CharField(max_length=16)
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=16)
    created_at = pw.DateTimeField()
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "api_tokens"


class LoginAttempt(BaseModel):
    """One sign-in attempt, for throttling by account and by client address."""

    email = pw.CharField(max_length=254, index=True)
    address = pw.CharField(max_length=64, index=True)
    succeeded = pw.BooleanField()
    attempted_at = pw.DateTimeField(index=True)

    class Meta:
        table_name = "login_attempts"


class SavedFunnel(BaseModel):
    """A named funnel an analyst saved: its steps in the API's notation, one per line, and what it counts."""

    name = pw.CharField(max_length=100, unique=True)
    steps = pw.TextField()
    unit = pw.CharField(max_length=16, default="session")
    created_by = pw.CharField(max_length=254, null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "saved_funnels"
