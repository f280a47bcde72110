"""The one database handle and how it is opened."""

import contextlib
import select
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee as pw
import psycopg2
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase

from analyzer import localtime
from analyzer.config import mask_url
from analyzer.errors import AppError

database = pw.DatabaseProxy()
# What a failing database raises: Peewee wraps the driver's errors, but bulk loads use the drivers directly.
DATABASE_ERRORS = (pw.DatabaseError, pw.InterfaceError, sqlite3.Error, psycopg2.Error)

# A 64 MB page cache (the default is 2 MB): publishing an import updates customer_sessions' eight indexes while it
# holds the write lock, and took twice as long with the default.
SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "synchronous": "normal",
                  "cache_size": -65536}
# The server's connections, kept between requests (up to one per thread at once), keep SQLite's default page cache
# of 2 MB: 32 of 64 MB would stay in memory. A write transaction and a large read take the large one for their length.
SERVER_SQLITE_PRAGMAS = {**SQLITE_PRAGMAS, "cache_size": -2000}
PUBLISH_WAIT_MS = 60000  # a sign-in's wait for SQLite's write lock: the publish of 500,000 sessions holds it 36 s
POOL_STALE_S = 300  # a pooled connection older than this is closed instead of reused
# A pooled connection waiting on a server that vanished without a word (a network partition) fails after about a
# minute instead of when the kernel gives up (15 minutes and more).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class CheckedPool(PooledPostgresqlDatabase):
    """PostgreSQL connections kept between requests; one that the server ended is dropped when taken."""

    SCHEME = "postgresql+checked-pool"

    def _is_closed(self, conn):
        # A connection the server ended (a restart, a failover, pg_terminate_backend) has its last message or its
        # end waiting to be read; a live idle one has nothing. Unlike a SELECT 1, this never waits on a server
        # that stopped answering, while the pool's lock is held.
        if conn.closed or conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN:
            return True
        return bool(select.select([conn.fileno()], [], [], 0)[0])


register_database(CheckedPool, CheckedPool.SCHEME)


class CheckedSqlitePool(PooledSqliteDatabase):
    """SQLite connections kept between requests; one given back with other pragmas than it was given is closed."""

    SCHEME = "sqlite+checked-pool"

    def _can_reuse(self, conn):
        # An export whose download was given up gives its connection back before it can set its cache back.
        changed = any(conn.execute(f"PRAGMA {name}").fetchone()[0] != SERVER_SQLITE_PRAGMAS[name]
                      for name in ("cache_size", "busy_timeout"))
        return not changed and super()._can_reuse(conn)


register_database(CheckedSqlitePool, CheckedSqlitePool.SCHEME)


def open_database(url, pooled=False):
    """Create a Peewee database for a URL (sqlite:///file, postgres:// or postgresql://); POOLED keeps connections."""
    if url.startswith("sqlite:"):
        # Peewee keeps one connection per thread; the importer's writer thread shares its caller's on purpose.
        if not pooled:
            return connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        # Opening the file and setting its pragmas took 0.5 ms of a 3 ms request, which then began with no cache.
        return connect(url.replace("sqlite:", CheckedSqlitePool.SCHEME + ":", 1), pragmas=SERVER_SQLITE_PRAGMAS,
                       check_same_thread=False, max_connections=None, stale_timeout=POOL_STALE_S)
    pool = {}
    if pooled:
        # A new PostgreSQL connection cost the server a process and each request 2-3 ms before its first query. A
        # pooled one is rolled back when given back; the server threads bound how many there are.
        url = urlunsplit(urlsplit(url)._replace(scheme=CheckedPool.SCHEME))
        pool = {"max_connections": None, "stale_timeout": POOL_STALE_S, **KEEPALIVES}
    # UTF-8 whatever the server's or the role's default: the CSV export sends COPY's bytes as they come.
    return connect(url, unquote_password=True, unquote_user=True, connect_timeout=10, client_encoding="UTF8", **pool)


def init_database(settings, pooled=False):
    """Point the shared handle at the database of these settings, use their reporting time zone; return it."""
    localtime.configure(settings.report_timezone)
    db = open_database(settings.database_url, pooled)
    database.initialize(db)
    return db


def discard_connection(db):
    """Forget the calling thread's connection without reusing it: it is in a transaction, or its server ended it."""
    conn = db._state.conn
    db._state.reset()
    if isinstance(db, PooledDatabase) and conn is not None:
        db._close(conn, close_conn=True)  # out of the pool's connections in use, and closed


def check_connection(db, url):
    """Connect once, turning a failure into a message that names the database."""
    try:
        db.connect(reuse_if_open=True)
    except pw.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if is_sqlite(db):
            folder = Path(db.database).parent
            check = ("check DATABASE_URL and that the file and its folder can be written" if folder.is_dir() else
                     f"{folder} is a file, not a folder: check DATABASE_URL" if folder.exists() else
                     f"the folder {folder} does not exist: create it, or check DATABASE_URL")
        else:
            check = "check DATABASE_URL and that the server is running"
        raise AppError(f"Cannot connect to the database {mask_url(url)}: {reason}. {check[:1].upper()}{check[1:]}.",
                       exit_code=2) from None


def is_sqlite(db):
    """Tell whether a database is SQLite."""
    return isinstance(getattr(db, "obj", db), pw.SqliteDatabase)


def byte_order(db):
    """Return the COLLATE clause that makes PostgreSQL sort, group or count texts byte by byte, as SQLite does."""
    # Faster too: through the C.UTF-8 collation, 200,000 sessions' distinct customer ids took 440 ms; by bytes 310.
    return "" if is_sqlite(db) else ' COLLATE "C"'


@contextlib.contextmanager
def write_transaction(db):
    """Open a transaction that takes SQLite's write lock at its start, with the large page cache; PostgreSQL's plain."""
    if not is_sqlite(db):
        with db.atomic() as transaction:
            yield transaction
        return
    # A deferred one that read first would fail at once (SQLITE_BUSY_SNAPSHOT) if another connection wrote
    # before its own first write; BEGIN IMMEDIATE waits its turn (busy_timeout) and reads the latest data.
    with sqlite_pragma(db, "cache_size", SQLITE_PRAGMAS["cache_size"]), db.atomic(lock_type="IMMEDIATE") as transaction:
        yield transaction


@contextlib.contextmanager
def waiting_out_imports(db):
    """Let SQLite writes inside wait up to a minute for the write lock (an import's publish), not the usual 10 s."""
    # For a sign-in: its writes are few, and its user would rather wait than be told to retry.
    if not is_sqlite(db):
        yield
        return
    with sqlite_pragma(db, "busy_timeout", PUBLISH_WAIT_MS):
        yield


def write_if_free(db, write):
    """Run WRITE, or skip it when another connection holds SQLite's write lock; return whether it ran.

    For bookkeeping that can wait (when a session or token was last used): a read request never waits
    on a long import for it.
    """
    if not is_sqlite(db):
        write()
        return True
    with sqlite_pragma(db, "busy_timeout", 0):
        try:
            write()
            return True
        except pw.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False


@contextlib.contextmanager
def sqlite_pragma(db, name, value):
    """Set SQLite's PRAGMA NAME to VALUE inside, then back to what it was (unless the connection closed meanwhile)."""
    before = db.execute_sql(f"PRAGMA {name}").fetchone()[0]
    db.execute_sql(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        if not db.is_closed():
            db.execute_sql(f"PRAGMA {name} = {int(before)}")



# The default 4 MB of work_mem spills such sorts and hashes to disk. JIT compiling took 1.1 s of a 7 s cohort
# query for nothing. And the default random_page_cost of 4, which prices a disk seek, made a 30-day funnel hash
# all 5M events instead of looking up its 80,000 sessions' few: the tables of a server with SSDs (or in RAM) are
# read at random nearly as fast as in order.
LARGE_READ_SETTINGS = ("SET LOCAL work_mem = '128MB'", "SET LOCAL jit = off", "SET LOCAL random_page_cost = 1.1")


def fetch_large(db, sql, params):
    """Return the rows of a read that groups or sorts millions of rows: LARGE_READ_SETTINGS, or SQLite's large cache."""
    if is_sqlite(db):
        with sqlite_pragma(db, "cache_size", SQLITE_PRAGMAS["cache_size"]), db.atomic():
            return db.execute_sql(sql, params).fetchall()
    with db.atomic():
        for setting in LARGE_READ_SETTINGS:
            db.execute_sql(setting)
        return db.execute_sql(sql, params).fetchall()
