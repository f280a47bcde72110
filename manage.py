"""Command line: python manage.py migrate …  (run with --help for the list)."""

import argparse
import difflib
import gc
import os
import re
import sys
from importlib import import_module

from analyzer.config import load_settings
from analyzer.db import DATABASE_ERRORS
from analyzer.errors import AppError, shown
from analyzer.migrate import commands as migrate_commands
from analyzer.migrate import history
from analyzer import guard

DEBUG_VARIABLE = "ANALYZER_DEBUG"
CREATING_VERBS = ("run", "stamp")  # the migrate verbs that may make a new SQLite file; others never do


class Parser(argparse.ArgumentParser):
    """An argument parser that leaves, as args.parser_, the parser of the command given (the innermost)."""

    def parse_known_args(self, args=None, namespace=None):
        """Parse as argparse does, noting this parser unless a command's parser inside it was noted."""
        parsed, extras = super().parse_known_args(args, namespace)
        parsed.__dict__.setdefault("parser_", self)
        return parsed, extras

    def error(self, message):
        """Exit 2 with MESSAGE and the usage, a long value of the user's cut to 80 characters."""
        super().error(re.sub(r"'([^']{81,})'", lambda found: repr(shown(found.group(1))), message))

    def refuse_extras(self, extras):
        """Exit 2 naming arguments the command does not take, with this command's usage and a likely option."""
        options = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        hints = [close[0] for extra in extras if extra.startswith("--") and extra != "--"
                 for close in [difflib.get_close_matches(extra.split("=")[0], options, n=1, cutoff=0.75)]
                 if close and close[0] != extra.split("=")[0]]  # an option given before its verb is no typo
        self.error(f"unrecognized arguments: {' '.join(extras)}"
                   + (f" (did you mean {', '.join(hints)}?)" if hints else f" (see {self.prog} --help)"))


def build_parser():
    """Describe every command and flag."""
    parser = Parser(prog="python manage.py", description="Customer Session Analyzer")
    areas = parser.add_subparsers(dest="area", required=True, metavar="COMMAND")

    migrate = areas.add_parser("migrate", help="create, inspect, apply and roll back schema migrations")
    verbs = migrate.add_subparsers(dest="verb", required=True, metavar="VERB")

    create = verbs.add_parser("create", help="write the next migration from the model changes")
    create.add_argument("name", help='what the migration does, e.g. "add referrer to sessions"')
    create.add_argument("--empty", action="store_true", help="write a hand-editable template instead")
    create.add_argument("--rename", action="append", default=[], metavar="TABLE.OLD=NEW",
                        help="a column (or, as OLD=NEW, a table) you renamed: written as a rename instead of add "
                             "plus drop; repeatable (on a terminal, create asks)")

    verbs.add_parser("list", help="every migration, applied or pending")
    verbs.add_parser("status", help="exit 0 up to date, 1 pending, 2 problem")
    verbs.add_parser("history", help="applied migrations: when, how long, who ran them (deploy, commit)")

    run = verbs.add_parser("run", help="apply pending migrations")
    run.add_argument("--to", metavar="NAME", help="stop after this migration (name or number)")
    run.add_argument("--fake", action="store_true", help="record as applied without running")
    run.add_argument("--dry-run", action="store_true", help="print the SQL it would run; change nothing")
    run.add_argument("--allow-destructive", action="store_true", help="let production drop or rewrite data")
    run.add_argument("--backup", action="store_true", help="back up the database first")
    _guarded(run)

    rollback = verbs.add_parser("rollback", help="revert applied migrations")
    which = rollback.add_mutually_exclusive_group()
    which.add_argument("--steps", type=int, metavar="N", help="revert the last N (default 1)")
    which.add_argument("--to", metavar="NAME", help='revert every migration after NAME ("zero": all)')
    rollback.add_argument("--dry-run", action="store_true", help="print the SQL it would run; change nothing")
    rollback.add_argument("--allow-edited", action="store_true",
                          help="revert a migration whose file was edited after it was applied")
    _guarded(rollback)

    sql = verbs.add_parser("sql", help="print the SQL of pending migrations (or NAME); change nothing")
    sql.add_argument("name", nargs="?", help="a migration name or number")
    sql.add_argument("--rollback", action="store_true", help="the SQL of reverting it instead")

    rehearse = verbs.add_parser("rehearse", help="run pending migrations up, down, up on a scratch copy; "
                                "report time, locks, problems (exit 0 clean, 1 problem, 2 could not run)")
    rehearse.add_argument("--rows", type=int, metavar="N", help="copy at most N rows per table (default: every row)")
    rehearse.add_argument("--max-lock-ms", type=int, default=1000, metavar="MS",
                          help="flag a lock that blocks reads or writes for longer (default 1000)")
    rehearse.add_argument("--json", action="store_true", help="print JSON for CI instead of Markdown")

    lint = verbs.add_parser("lint", help="report dangerous operations (default: pending migrations)")
    lint.add_argument("names", nargs="*", metavar="NAME")
    verbs.add_parser("check", help="CI gate: drift, numbering, integrity, lint; exit 1 on a problem")

    stamp = verbs.add_parser("stamp", help="mark the database as at NAME without running anything")
    stamp.add_argument("name", nargs="?", help='a migration name or number, or "zero"')
    stamp.add_argument("--prune-missing", action="store_true", help="remove history rows whose file is gone")
    _guarded(stamp)

    verbs.add_parser("archives", help="list the archives of dropped columns and tables")
    purge = verbs.add_parser("purge-archives", help="drop archives of dropped data for good")
    purge.add_argument("--older-than", type=int, metavar="DAYS", help="only archives older than DAYS")
    _guarded(purge)
    verbs.add_parser("sum", help="rewrite migrations/migrations.sum from the files")
    squash = verbs.add_parser("squash", help="replace the first migrations through NAME with one baseline "
                              "for new databases")
    squash.add_argument("--to", required=True, metavar="NAME", help="the last migration to replace")
    squash.add_argument("--schema-only", action="append", default=[], metavar="NAME",
                        help="carry this file's migrator.sql statements into the baseline (they change only "
                             "the schema); repeatable")

    load = areas.add_parser("import", help="load a session or event export (CSV or NDJSON, gzip too)")
    load.add_argument("file", nargs="*", metavar="FILE",
                      help="one or more files, imported one after another, each as its own import")
    load.add_argument("--format", choices=["csv", "ndjson", "json"], help="default: from the name and content")
    load.add_argument("--kind", choices=["sessions", "events"], help="default: from the columns")
    load.add_argument("--timezone", default="UTC", metavar="TZ", help="zone of times without an offset (IANA name)")
    load.add_argument("--gap-minutes", type=int, default=30, metavar="N", help="inactivity that ends a session")
    load.add_argument("--year", help="for files that have a month but no date")  # read as the API reads it
    load.add_argument("--split-by-gap", action="store_true", help="ignore the file's session ids; split by inactivity")
    load.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                      help="read FIELD from COLUMN instead of the detected one (repeatable; FIELD= leaves it out)")
    load.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")
    load.add_argument("--undo", type=int, metavar="ID", help="remove exactly what import ID wrote")
    load.add_argument("--list", action="store_true", help="list the imports")
    load.add_argument("--yes", action="store_true", help="confirm without a prompt (production)")

    dump = areas.add_parser("export", help="write every session as CSV (imports back exactly)")
    dump.add_argument("--out", required=True, metavar="FILE")

    sample = areas.add_parser("demo", help="load realistic, reproducible demo sessions and events")
    sample.add_argument("--sessions", type=whole(1, 100_000_000), default=5000, metavar="N")
    sample.add_argument("--days", type=whole(1, 3650), default=90, metavar="D", help="1 to 3650 (ten years)")
    sample.add_argument("--seed", type=int, default=7, metavar="S")
    sample.add_argument("--yes", action="store_true", help="confirm without a prompt (production)")

    rollup = areas.add_parser("rollups", help="recompute the dashboard's rollups from the sessions")
    rollup_verbs = rollup.add_subparsers(dest="verb", required=True, metavar="VERB")
    rollup_verbs.add_parser("rebuild", help="recompute every rollup (after changing REPORT_TIMEZONE, or to repair)")

    person = areas.add_parser("user", help="create and manage the users who sign in")
    person_verbs = person.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = person_verbs.add_parser("create", help="create a user (password typed twice, or --password-stdin)")
    add.add_argument("email")
    add.add_argument("--role", choices=["admin", "analyst", "viewer"], default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    person_verbs.add_parser("list", help="every user with role and status")
    role = person_verbs.add_parser("set-role", help="change a user's role")
    role.add_argument("email")
    role.add_argument("role", choices=["admin", "analyst", "viewer"])
    password = person_verbs.add_parser("set-password", help="change a user's password (ends the user's sessions)")
    password.add_argument("email")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    disable = person_verbs.add_parser("disable", help="stop a user from signing in; its tokens stop working")
    disable.add_argument("email")
    enable = person_verbs.add_parser("enable", help="let a disabled user sign in again")
    enable.add_argument("email")

    token = areas.add_parser("token", help="create, list and revoke API tokens")
    token_verbs = token.add_subparsers(dest="verb", required=True, metavar="VERB")
    new = token_verbs.add_parser("create", help="create a token; it is the last line of the output")
    new.add_argument("--user", required=True, metavar="EMAIL")
    new.add_argument("--scope", required=True, choices=["read", "ingest"])
    new.add_argument("--name", help="what the token is for")
    listing = token_verbs.add_parser("list", help="tokens with their last use")
    listing.add_argument("--user", metavar="EMAIL", help="only this user's")
    revoke = token_verbs.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)

    database = areas.add_parser("db", help="back up and restore the database")
    db_verbs = database.add_subparsers(dest="verb", required=True, metavar="VERB")
    backup = db_verbs.add_parser("backup", help="write a consistent backup of the database")
    backup.add_argument("--out", metavar="PATH", help="where to write it (default backups/NAME-TIME)")
    restore = db_verbs.add_parser("restore", help="replace the database's contents with a backup")
    restore.add_argument("path", metavar="PATH")
    restore.add_argument("--yes", action="store_true", help="confirm without a prompt")
    return parser


def whole(least, most):
    """Return an argparse type that reads a whole number from LEAST to MOST."""
    def read(text):
        value = int(text) if text.isascii() and text.strip().isdigit() else None
        if value is None or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {least:,} to {most:,}")
        return value
    return read


def _guarded(parser):
    parser.add_argument("--yes", action="store_true", help="confirm without a prompt (production)")
    parser.add_argument("--lock-timeout", type=float, metavar="SECONDS",
                        help="how long to wait for another migration command (default MIGRATE_LOCK_TIMEOUT or 60)")


def dispatch(args, settings, stdin, out):
    """Run the chosen command and return its exit code."""
    creates = args.area == "migrate" and args.verb in CREATING_VERBS and not getattr(args, "dry_run", False)
    ctx = migrate_commands.Context(settings=settings, yes=getattr(args, "yes", False),
                                   lock_timeout=getattr(args, "lock_timeout", None), stdin=stdin, out=out,
                                   must_exist=not creates)
    try:
        if args.area == "db":
            return database_command(ctx, args)
        if args.area in ("import", "demo", "export", "rollups", "user", "token"):
            migrate_commands.require_current(ctx)  # this also opens the database that their models use
        if args.area in ("import", "demo", "export", "rollups"):
            return ingest_command(ctx, args)
        if args.area in ("user", "token"):
            return account_command(ctx, args)
        return migrate_command(ctx, args)
    finally:
        ctx.close()


def migrate_command(ctx, args):
    """Run one "migrate" verb."""
    verb = args.verb
    if verb in ("sql", "lint", "check"):
        review = import_module("analyzer.migrate.review")
        return {"sql": lambda: review.sql(ctx, args.name, rollback=args.rollback),
                "lint": lambda: review.lint_files(ctx, args.names),
                "check": lambda: review.check(ctx)}[verb]()
    if verb == "rehearse":
        rehearsal = import_module("analyzer.migrate.rehearse")
        options = rehearsal.RehearseOptions(rows=args.rows, max_lock_ms=args.max_lock_ms, as_json=args.json)
        return rehearsal.rehearse(ctx, options)
    if verb == "create":
        return migrate_commands.create(ctx, args.name, empty=args.empty, rename=args.rename)
    if verb == "run":
        return migrate_commands.run(ctx, to=args.to, fake=args.fake, dry_run=args.dry_run,
                                    allow_destructive=args.allow_destructive, backup=args.backup)
    if verb == "rollback":
        return migrate_commands.rollback(ctx, steps=args.steps, to=args.to, dry_run=args.dry_run,
                                         allow_edited=args.allow_edited)
    if verb == "stamp":
        return migrate_commands.stamp(ctx, args.name, prune_missing=args.prune_missing)
    if verb == "squash":
        return migrate_commands.squash(ctx, args.to, args.schema_only)
    if verb == "purge-archives":
        return migrate_commands.purge_archives(ctx, args.older_than)
    simple = {"list": migrate_commands.list_, "status": migrate_commands.status, "history": migrate_commands.history,
              "archives": migrate_commands.archives, "sum": migrate_commands.write_sum}
    return simple[verb](ctx)


def ingest_command(ctx, args):
    """Run "import", "demo", "export" or "rollups"."""
    ingest = import_module("analyzer.ingest.commands")
    if args.area == "rollups":
        return ingest.rebuild_rollups(ctx)
    if args.area == "export":
        return ingest.export_sessions(ctx, args.out)
    if args.area == "demo":
        return ingest.load_demo(ctx, sessions=args.sessions, days=args.days, seed=args.seed)
    if (args.list or args.undo is not None) and args.file:
        raise AppError("import --list and --undo take no file: list, undo and import in separate commands.")
    if args.list:
        return ingest.list_imports(ctx)
    if args.undo is not None:
        return ingest.undo_import(ctx, args.undo)
    if not args.file:
        raise AppError("Name the file to import: python manage.py import FILE (or --list, or --undo ID).")
    options = import_module("analyzer.ingest.options")
    return ingest.run_imports(ctx, args.file, options.ImportOptions(
        kind=args.kind, file_format=args.format, timezone=args.timezone,
        gap_minutes=options.check_gap(args.gap_minutes), split_by_gap=args.split_by_gap,
        year=options.parse_year(args.year), mapping=options.parse_mapping(args.map),
        dry_run=args.dry_run, created_by=history.who()["run_by"]))  # user@host, as a migration records it


def account_command(ctx, args):
    """Run one "user" or "token" verb."""
    accounts = import_module("analyzer.accounts.commands")
    verb = args.verb
    if args.area == "token":
        if verb == "create":
            return accounts.create_token(ctx, args.user, args.scope, args.name)
        if verb == "list":
            return accounts.list_tokens(ctx, args.user)
        return accounts.revoke_token(ctx, args.id)
    if verb == "create":
        return accounts.create_user(ctx, args.email, args.role, args.password_stdin)
    if verb == "list":
        return accounts.list_users(ctx)
    if verb == "set-role":
        return accounts.set_role(ctx, args.email, args.role)
    if verb == "set-password":
        return accounts.set_password(ctx, args.email, args.password_stdin)
    return accounts.set_disabled(ctx, args.email, verb == "disable")


def database_command(ctx, args):
    """Run one "db" verb."""
    backup = import_module("analyzer.backup")
    if args.verb == "backup":
        path = backup.backup(ctx.settings.database_url, out=args.out)
        ctx.out(f"Backed up {ctx.settings.masked_database_url} to {path}")
        ctx.out(f"Restore it with: {backup.restore_command(ctx.settings.database_url, path)}")
        return 0
    backup.check_restorable(ctx.settings.database_url, args.path)
    ctx.out(f"Restoring {args.path} over {guard.describe_target(ctx.settings)}: its current contents are replaced.")
    guard.confirm(ctx, "replace the database with this backup", destructive=True)
    backup.restore(ctx.settings.database_url, args.path)
    ctx.out(f"Restored {args.path}.")
    return 0


def main(argv=None, environ=None, stdin=None, out=print):
    """Parse the arguments, run the command, and turn expected errors into one clear line."""
    environ = os.environ if environ is None else environ
    try:
        args, extras = build_parser().parse_known_args(argv)
        if extras:
            args.parser_.refuse_extras(extras)
        settings = load_settings(environ, server=False)
        return dispatch(args, settings, stdin or sys.stdin, out)
    except BrokenPipeError:
        # The reader went away (python manage.py … | head -1): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except AppError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("Interrupted." + (f" {exc}" if str(exc) else ""), file=sys.stderr)
        return 130
    except DATABASE_ERRORS as exc:  # the server went away, the disk is full or read-only, …
        while isinstance(exc.__context__, DATABASE_ERRORS):  # the first failure, not the failed rollback after it
            exc = exc.__context__
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"Error: the database failed during the command ({reason}); what it was doing was rolled back. "
              "Fix the cause and run the command again.", file=sys.stderr)
        return 1
    except Exception as exc:
        if environ.get(DEBUG_VARIABLE):
            raise
        print(f"Unexpected error: {type(exc).__name__}: {exc}. Run again with {DEBUG_VARIABLE}=1 "
              "to see the details.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    gc.freeze()  # Python's exit would walk every object once more for garbage: 20 ms of each command
    sys.exit(code)
