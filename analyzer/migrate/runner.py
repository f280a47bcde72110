"""Apply and revert migration files, each in its own transaction, and report exactly what failed."""

import time
import traceback
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass

import peewee as pw

from analyzer.db import is_sqlite
from analyzer.errors import AppError
from analyzer.migrate import archive
from analyzer.migrate import files as mfiles
from analyzer.migrate import history, plan
from analyzer.migrate.migrator import Migrator
from analyzer.migrate.snapshot import BOOKKEEPING_WRITE_RE

RERUN_HINT = 'fix the file and run "python manage.py migrate run" again'


class MigrationError(AppError):
    """A migration that failed and was rolled back."""


def replay(db, migration_files, migrator=None):
    """Build the model state that these files describe without touching the database."""
    migrator = migrator or Migrator(db)
    with no_queries(db):
        for f in migration_files:
            try:
                _call(migrator, f, mfiles.load(f), "migrate", fake=True)
            except AppError:
                raise
            except Exception as exc:  # a typo in an operation's name or arguments: say which file and line
                line = line_in(exc, str(f.path))
                raise AppError(f"{f.display}{f' line {line}' if line else ''} cannot be read: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}. Fix the file and try again.") from None
            migrator.discard()
    return migrator


@dataclass(frozen=True)
class Timeouts:
    """PostgreSQL limits for each migration: how long to wait for a lock, how long a statement may run."""

    lock: str = "5s"
    statement: str = "15min"


def apply(db, migrator, migration, *, fake=False, timeouts=Timeouts()):
    """Apply one migration in its own transaction and record it; return seconds taken."""
    return _step(db, migrator, migration, "migrate", fake, timeouts)


def revert(db, migrator, migration, *, timeouts=Timeouts()):
    """Revert one applied migration in its own transaction and drop its record; return (seconds, notes)."""
    return _step(db, migrator, migration, "rollback", False, timeouts)


def replay_rollback(db, migrator, migration):
    """Record MIGRATION's rollback() operations on MIGRATOR (at the state after it) without touching the database."""
    with no_queries(db):
        _call(migrator, migration, mfiles.load(migration), "rollback", fake=True)
        migrator.discard()


def preview(db, migrator, migrations, direction, timeouts=Timeouts()):
    """Return [(file, transactional, statements)] that applying or reverting would run; change nothing."""
    results = []
    with _foreign_keys_off(db), db.atomic() as transaction:
        _set_timeouts(db, timeouts, True)
        history.ensure(db)
        for migration in migrations:
            namespace = mfiles.load(migration)
            transactional = is_transactional(namespace)
            migrator.migration_name = migration.name
            migrator.archiving = direction == "migrate"
            migrator.previewing = True
            recorder = _Recorder(db, dry=not transactional)
            migrator.report = recorder.note
            with recorder:
                try:
                    _call(migrator, migration, namespace, direction, fake=False)
                    migrator.apply()
                    if direction == "rollback":
                        archive.restore(db, migration.name)
                except Exception as exc:
                    transaction.rollback()
                    if isinstance(exc, AppError):  # it names the migration and the next step already, as in run
                        raise
                    raise _failure(db, migration, direction, recorder, exc, migrator.current, True) from exc
                finally:
                    migrator.previewing = False
                    migrator.report = None
            results.append((migration, transactional, [s for s in recorder.statements if not is_read(s)]))
        transaction.rollback()
    return results


def sketch(db, migrator, migration):
    """Return (transactional, statements) that applying MIGRATION would run: reads run, no write does."""
    namespace = mfiles.load(migration)
    migrator.migration_name = migration.name
    migrator.previewing = True
    recorder = _Recorder(db, dry=True)
    try:
        with recorder:
            _call(migrator, migration, namespace, "migrate", fake=False)
            migrator.apply()
    finally:
        migrator.previewing = False
        migrator.discard()
    return is_transactional(namespace), [s for s in recorder.statements if not is_read(s)]


def is_transactional(namespace):
    """Tell whether a loaded migration runs inside a transaction (TRANSACTION = False opts out)."""
    return namespace.get("TRANSACTION", True) is not False


def _step(db, migrator, migration, direction, fake, timeouts):
    model = history.ensure(db)
    namespace = mfiles.load(migration)
    transactional = is_transactional(namespace)
    started = time.perf_counter()
    recorder = _Recorder(db)
    if not transactional and not fake:
        # Each statement that ran is noted as it commits: a kill -9 leaves the note too, for status and the next run.
        history.ensure_halfway(db)
        recorder.prior = _left_before(db, migration, direction)
        recorder.applied = _Noter(db, migration.name, direction)
    migrator.migration_name = migration.name
    migrator.archiving = direction == "migrate"
    migrator.restored = []
    notes = []
    try:
        _run_step(db, model, migrator, migration, namespace, direction, fake, timeouts, recorder, notes)
    except (AppError, KeyboardInterrupt):
        if not transactional:
            _note_halfway(db, migration, direction, recorder)
        raise
    history.clear_halfway(db, migration.name)  # run through, or recorded by --fake once finished by hand
    elapsed = time.perf_counter() - started
    return (elapsed, notes) if direction == "rollback" else elapsed


def _run_step(db, model, migrator, migration, namespace, direction, fake, timeouts, recorder, notes):
    transactional = is_transactional(namespace)
    started = time.perf_counter()
    with _foreign_keys_off(db), recorder:
        try:
            with db.atomic() if transactional else nullcontext():
                _set_timeouts(db, timeouts, transactional)
                if fake:
                    with no_queries(db):
                        _call(migrator, migration, namespace, direction, fake=True)
                        migrator.discard()
                else:
                    _call(migrator, migration, namespace, direction, fake=False)
                    migrator.apply()
                    if direction == "rollback":
                        notes += migrator.restored + archive.restore(db, migration.name)
                    _check_foreign_keys(db)
                elapsed = time.perf_counter() - started
                if direction == "migrate":
                    history.record(db, migration.name, migration.checksum, round(elapsed * 1000))
                else:
                    model.delete().where(model.name == migration.name).execute()
        except AppError:
            raise
        except Exception as exc:
            raise _failure(db, migration, direction, recorder, exc, migrator.current, transactional) from exc
        except KeyboardInterrupt as exc:
            raise KeyboardInterrupt(_stopped(migration, direction, transactional)) from exc
        finally:
            if not transactional:
                _reset_timeouts(db)


def _left_before(db, migration, direction):
    """Return the statements that earlier runs of MIGRATION in DIRECTION left applied when they stopped partway."""
    with suppress(pw.DatabaseError):  # read at the start of a run: its own statements are noted as they go
        found = history.halfway(db).get(migration.name)
        if found is not None and found.direction == direction:
            return found.statements.split("\n")
    return []


class _Noter:
    """Note each statement of a migration outside a transaction as it commits, up to history.MAX_NOTED of them."""

    def __init__(self, db, name, direction):
        self.db, self.name, self.direction, self.noted, self.pending = db, name, direction, 0, []

    def __call__(self, statement):
        if BOOKKEEPING_WRITE_RE.match(statement):
            return
        self.pending.append(statement)
        if not self.db.in_transaction():  # one inside a transaction (a table rebuild) is there once it commits
            self.flush()

    def flush(self):
        """Note the statements held back: their transaction committed."""
        done, self.pending = self.pending[:history.MAX_NOTED - self.noted], []
        if done:
            self.noted += len(done)
            with suppress(pw.DatabaseError):  # a Ctrl-C's cancel may land here: the note after the stop tries again
                history.note_halfway(self.db, self.name, self.direction, done)


def shown(statements, most=5):
    """Return up to MOST statements joined with '; ', and how many more there are."""
    more = len(statements) - most
    return "; ".join(statements[:most]) + (f"; … and {more:,} more" if more > 0 else "")


def _note_halfway(db, migration, direction, recorder):
    """Remember the statements a migration outside a transaction left applied, for status and the next run."""
    done = _applied(recorder)
    if done:
        # Twice: a Ctrl-C's cancel, sent from another thread, may land on the first try; then the database may be gone.
        for attempt in (1, 2):
            try:
                history.note_halfway(db, migration.name, direction, done)
                return
            except pw.DatabaseError:
                if attempt == 2:
                    return  # the error message listed the statements: it said it all


def _applied(recorder):
    """Return the statements that stayed applied: not those of a transaction that never committed."""
    return [s for n, (s, inside) in enumerate(zip(recorder.statements, recorder.inside))
            if not (inside and n >= recorder.committed) and not is_read(s) and s != recorder.failed
            and not BOOKKEEPING_WRITE_RE.match(s)]


def _call(migrator, migration, namespace, direction, fake):
    function = namespace.get(direction)
    if function is None:
        raise AppError(f"{migration.display} has no {direction}() function; add one and try again.")
    migrator.source = str(migration.path)
    function(migrator, migrator.__database__, fake=fake)


def line_in(exc, filename):
    """Return the line of FILENAME where EXC was raised, or passed through last; None when it never ran there."""
    return next((t.lineno for t in reversed(traceback.extract_tb(exc.__traceback__)) if t.filename == filename), None)


def _set_timeouts(db, timeouts, transactional):
    if is_sqlite(db) or timeouts is None:
        return
    scope = "LOCAL " if transactional else ""
    db.execute_sql(f"SET {scope}lock_timeout = %s", (timeouts.lock,))
    db.execute_sql(f"SET {scope}statement_timeout = %s", (timeouts.statement,))


def _reset_timeouts(db):
    if not is_sqlite(db):
        db.execute_sql("RESET lock_timeout")
        db.execute_sql("RESET statement_timeout")


def _check_foreign_keys(db):
    if not is_sqlite(db):
        return
    broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({f"{row[0]} -> {row[2]}" for row in broken})
        raise pw.IntegrityError(f"it would leave {len(broken)} rows pointing at missing rows ({', '.join(tables)})")


def _failure(db, migration, direction, recorder, exc, call, transactional):
    reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    line = line_in(exc, str(migration.path)) or (call.line if call else None)
    where = f"{migration.display}" + (f" line {line}" if line else "")
    verb = "failed" if direction == "migrate" else "failed to roll back"
    at = f" at: {recorder.failed}" if recorder.failed else ""
    hint = RERUN_HINT if direction == "migrate" else 'fix its rollback() and run "python manage.py migrate rollback" again'
    code = _pgcode(exc)
    if code in ("55P03", "57014") and transactional:
        what = "waiting for a lock" if code == "55P03" else "running"
        return MigrationError(
            f"{where} timed out {what}{at} (another session holds a lock on the table, or the statement is "
            f"too slow). Nothing of {migration.name} was changed and it is safe to retry: run the command "
            "again at a quieter moment, or raise MIGRATE_PG_LOCK_TIMEOUT / MIGRATE_PG_STATEMENT_TIMEOUT."
        )
    if not transactional:
        done = _applied(recorder)
        invalid = plan.invalid_indexes(db)
        recorded = "not recorded as applied" if direction == "migrate" else "still recorded as applied"
        prior = recorder.prior
        return MigrationError(
            f"{where} {verb}{at} — {type(exc).__name__}: {reason}. It runs outside a transaction (TRANSACTION = False): "
            f"{len(done)} earlier statement(s) stayed applied"
            + (f" ({shown(done)})" if done else "")
            + (f"; an earlier run that stopped partway had left {len(prior)} applied ({shown(prior)})"
               if prior else "")
            + (f"; invalid index(es) left behind: {', '.join(invalid)} — drop them with DROP INDEX CONCURRENTLY" if invalid else "")
            + f". It is {recorded}; make its statements idempotent (IF NOT EXISTS), then {hint}."
        )
    cause = _database_at_fault(exc)
    if cause:
        rerun = f'"python manage.py migrate {"run" if direction == "migrate" else "rollback"}"'
        hint = f"the file is not at fault: {cause.format(rerun=rerun)}"
    return MigrationError(
        f"{where} {verb}{at} — {type(exc).__name__}: {reason}. "
        f"Nothing of {migration.name} was changed; {hint}."
    )


def _database_at_fault(exc):
    """Say why the database refused a statement whatever the migration said (read-only, busy, full), or None."""
    name = next((getattr(e, "sqlite_errorname", "") for e in (exc, exc.__cause__, exc.__context__)
                 if getattr(e, "sqlite_errorname", "")), "")
    code = _pgcode(exc) or ""
    if name.startswith("SQLITE_READONLY") or code == "25006":
        return ("the database cannot be written (a SQLite file or folder without write permission, a read-only "
                "PostgreSQL server or replica): check its permissions and DATABASE_URL, then run {rerun} again")
    if name.startswith("SQLITE_BUSY"):
        return ("another connection held SQLite's write lock for longer than the busy timeout (the app or an "
                "import writing): run {rerun} again when it is done")
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")) or code.startswith(("53", "08", "57P")):
        return "the disk, the server or the connection failed: fix that and run {rerun} again"
    return None


def _stopped(migration, direction, transactional):
    """Say what a Ctrl-C in the middle of MIGRATION left, and what to do."""
    if not transactional:
        recorded = "it is not recorded as applied" if direction == "migrate" else "it is still recorded as applied"
        return (f"{migration.name} runs outside a transaction (TRANSACTION = False): the statements it finished stay "
                f"applied (migrate status lists them) and {recorded}; make them idempotent (IF NOT EXISTS), then run "
                "the command again.")
    state = "still pending" if direction == "migrate" else "still applied"
    return f"Nothing of {migration.name} was changed and it is {state}: run the command again when you are ready."


def _pgcode(exc):
    for candidate in (exc, *exc.args[:1], exc.__cause__, exc.__context__):
        code = getattr(candidate, "pgcode", None)
        if code:
            return code
    return None


def is_read(statement):
    """Tell whether a statement only reads (SELECT, PRAGMA without =, SET, RESET)."""
    head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return head == "SELECT" or (head == "PRAGMA" and "=" not in statement) or head in ("SET", "RESET")


class _FakeCursor:
    description = ()
    rowcount = 0
    lastrowid = None

    def fetchone(self):
        return None

    def fetchall(self):
        return []

    def __iter__(self):
        return iter(())


@contextmanager
def patched_execute(db, execute_sql):
    """Route a database's statements through EXECUTE_SQL for the duration of the block."""
    saved = db.__dict__.get("execute_sql")
    db.execute_sql = execute_sql
    try:
        yield
    finally:
        if saved is None:
            del db.execute_sql
        else:
            db.execute_sql = saved


def no_queries(db):
    """Answer every statement with an empty result instead of running it."""
    return patched_execute(db, lambda sql, params=None: _FakeCursor())


class _Recorder:
    """Remember the statements a database runs, to name the one that fails."""

    def __init__(self, db, dry=False):
        self.db = db
        self.dry = dry
        self.statements = []
        self.failed = None
        self.prior = []  # what earlier runs left applied, outside a transaction
        self.applied = None  # called with each statement that wrote, as it is done
        self.inside = []  # whether each statement ran inside a transaction
        self.committed = 0  # the statements before this one are there, a transaction's included
        self._patch = None
        self._quiet = False

    def note(self, text):
        """Add a comment line (starting with --) among the statements."""
        self.statements.append(text)
        self.inside.append(False)

    def __enter__(self):
        original = self.db.execute_sql

        def execute_sql(sql, params=None):
            if self._quiet:
                return original(sql, params)
            text = inline_sql(self.db, sql, params)
            self.statements.append(text)
            self.inside.append(self.db.in_transaction())
            if self.dry and not is_read(text):
                return _FakeCursor()
            try:
                cursor = original(sql, params)
            except Exception:
                self.failed = text
                raise
            if self.applied and not is_read(text):
                self._quiet = True
                try:
                    self.applied(text)
                finally:
                    self._quiet = False
            return cursor

        original_commit = self.db.commit

        def commit(*args, **kwargs):
            done = original_commit(*args, **kwargs)
            self.committed = len(self.statements)  # what ran in the transaction is there now
            if self.applied:
                self._quiet = True
                try:
                    self.applied.flush()
                finally:
                    self._quiet = False
            return done

        self._patch = patched_execute(self.db, execute_sql)
        self._patch.__enter__()
        self._saved_commit = self.db.__dict__.get("commit")
        self.db.commit = commit
        return self

    def __exit__(self, *exc):
        if self._saved_commit is None:
            del self.db.commit
        else:
            self.db.commit = self._saved_commit
        self._patch.__exit__(*exc)


def inline_sql(db, sql, params):
    """Return SQL with its parameters written in, for people to read (never executed)."""
    text = " ".join(str(sql).split())
    if not params:
        return text
    marker = db.param
    for value in params:
        literal = "NULL" if value is None else str(value) if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'"
        text = text.replace(marker, literal, 1)
    return text


@contextmanager
def _foreign_keys_off(db):
    """Turn SQLite's foreign keys off around a migration: a table rebuild must not cascade."""
    if not is_sqlite(db):
        yield
        return
    db.pragma("foreign_keys", 0)
    try:
        yield
    finally:
        db.pragma("foreign_keys", 1)
