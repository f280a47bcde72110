"""peewee-migrate's Migrator, made to record what each migration asks for and to drop columns safely."""

import re
import sqlite3
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field

import peewee as pw
from peewee_migrate import migrator as pm
from playhouse.migrate import SQL, make_index_name, operation

from analyzer.db import is_sqlite
from analyzer.errors import AppError
from analyzer.migrate import archive, online

OPERATIONS = (
    "create_model", "remove_model", "add_fields", "change_fields", "remove_fields", "rename_field",
    "rename_table", "add_index", "drop_index", "add_not_null", "drop_not_null", "add_default",
    "add_constraint", "drop_constraints", "sql", "run", "backfill", "set_not_null",
)
NOT_NULL = re.compile(r"\bNOT\s+NULL\b", re.I)
DEFAULT = re.compile(r"\bDEFAULT\b", re.I)


@dataclass
class Call:
    """One operation a migration file asked for, with the line that asked."""

    op: str
    table: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    line: int = 0
    before: dict = field(default_factory=dict)

    def describe(self):
        """Say in a few words what the operation does."""
        t, a, kw = self.table, self.args, self.kwargs
        fields = [k for k in kw if k != "allow_not_null"]
        text = {
            "create_model": lambda: f"create table {t} ({len(a[0]._meta.sorted_fields)} columns)",
            "remove_model": lambda: f"drop table {t}",
            "add_fields": lambda: "add column " + ", ".join(f"{t}.{f}" for f in fields),
            "change_fields": lambda: "change column " + ", ".join(f"{t}.{f}" for f in fields),
            "remove_fields": lambda: "drop column " + ", ".join(f"{t}.{f}" for f in a),
            "rename_field": lambda: f"rename column {t}.{a[0]} to {a[1]}",
            "rename_table": lambda: f"rename table {t} to {a[0]}",
            "add_index": lambda: f"add {'unique ' if kw.get('unique') else ''}index on {t} ({', '.join(a)})",
            "drop_index": lambda: f"drop index on {t} ({', '.join(a)})",
            "add_not_null": lambda: "set NOT NULL on " + ", ".join(f"{t}.{f}" for f in a),
            "drop_not_null": lambda: "drop NOT NULL on " + ", ".join(f"{t}.{f}" for f in a),
            "add_default": lambda: f"set default of {t}.{a[0]}",
            "add_constraint": lambda: f"add constraint {a[0]} on {t}",
            "drop_constraints": lambda: f"drop constraint {', '.join(a)} on {t}",
            "sql": lambda: "run SQL: " + " ".join(str(a[0]).split())[:70],
            "run": lambda: f"run Python function {getattr(a[0], '__name__', a[0])}",
            "backfill": lambda: f"fill {t}.{a[0]} where NULL with {a[1]} in batches",
            "set_not_null": lambda: f"set NOT NULL on {t}.{a[0]} through a validated check",
        }[self.op]
        return text()


def _literal(db, field, value):
    """Write a constant default as SQL: DDL cannot take bound parameters."""
    value = field.db_value(value)
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if isinstance(db, pw.PostgresqlDatabase) else str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if hasattr(value, "is_finite"):
        return str(value)
    text = value.isoformat(" ") if hasattr(value, "isoformat") and not isinstance(value, str) else str(value)
    return "'" + text.replace("'", "''") + "'"


@operation
def add_column_with_default(migrator, table, column_name, field):
    """Add a column with a constant default in one statement (metadata-only on PostgreSQL 11+)."""
    ctx = migrator.make_context()
    migrator._alter_table(ctx, table).literal(" ADD COLUMN ").sql(field.ddl(ctx))
    ctx.literal(" DEFAULT " + _literal(migrator.database, field, field.default))
    steps = [ctx]
    if field.index or field.unique:
        steps.append(migrator.add_index(table, (column_name,), field.unique))
    return steps


class SqliteMigrator(pm.SqliteMigrator):
    """SQLite schema changes that also work on indexed and unique columns."""

    @operation
    def drop_column(self, table, column_name, cascade=True, legacy=False):
        """Drop the column's indexes first; rebuild the table when SQLite cannot drop it in place."""
        indexes = [i for i in self.database.get_indexes(table) if column_name in i.columns]
        steps = [SQL(f'DROP INDEX IF EXISTS "{i.name}"') for i in indexes if i.sql]
        in_place = not legacy and not any(not i.sql for i in indexes) and not any(
            fk.column == column_name for fk in self.database.get_foreign_keys(table)
        )
        return steps + [pm.SqliteMigrator.drop_column(self, table, column_name, cascade, legacy=not in_place)]


    def alter_change_column(self, table, column, field):
        """Change a column's definition, keeping a database default it had (add_fields writes constant ones)."""
        def changed(column_name, column_def):
            ctx = self.make_context()
            ctx.sql(field.ddl(ctx))
            new_def = ctx.query()[0]
            # A rebuild from the field's DDL alone dropped the DEFAULT: an insert that left the column out failed.
            if DEFAULT.search(column_def) and field.default is not None and not callable(field.default):
                new_def += " DEFAULT " + _literal(self.database, field, field.default)
            return new_def

        return [self.keep_values(table, column, field), self._update_column(table, column, changed)]

    @operation
    def keep_values(self, table, column, field):
        """Refuse a type change that would rewrite stored values: SQLite turns '007' into 7 in an INTEGER column."""
        ctx = self.make_context()
        kind = ctx.sql(field.ddl_datatype(ctx)).query()[0]
        if any(c.name == column and c.data_type.upper() == kind.upper() for c in self.database.get_columns(table)):
            return []  # the type stays (a change of NULL or default): every value stays too, no need to copy them
        # Straight on the connection: a temporary probe is no statement of the migration (nor one that stays).
        run, probe, col = self.database.connection().execute, '"_type_probe"', archive._q(column)
        # Numbers compare as numbers (10 is 10.0 in a REAL column); anything else by its text ('007' is not 7).
        numbers = f"typeof(p.v) IN ('integer', 'real') AND typeof(t.{col}) IN ('integer', 'real')"
        try:
            run(f"DROP TABLE IF EXISTS temp.{probe}")
            run(f"CREATE TEMP TABLE {probe} (v {kind})")
            run(f"INSERT INTO {probe} (rowid, v) SELECT rowid, {col} FROM {archive._q(table)}")
            changed = run(
                f"SELECT COUNT(*), MIN(t.{col}) FROM {archive._q(table)} AS t JOIN {probe} AS p ON p.rowid = t.rowid "
                f"WHERE CASE WHEN {numbers} THEN p.v + 0 <> t.{col} + 0 "
                f"ELSE CAST(p.v AS TEXT) IS NOT CAST(t.{col} AS TEXT) END").fetchone()
            run(f"DROP TABLE {probe}")
        except sqlite3.OperationalError:  # a table WITHOUT ROWID: its rebuild copies as it always did
            return []
        if changed[0]:
            raise pw.IntegrityError(
                f"changing {table}.{column} to {kind} would rewrite {changed[0]:,} stored value(s) (SQLite converts "
                f"them as it copies the table: {changed[1]!r}, for one, would not stay as it is), and a rollback "
                "would not bring them back; PostgreSQL refuses such a change. Make the values fit the new type first "
                "(a migrator.sql UPDATE), or keep the type")
        return []

    @operation
    def add_not_null(self, table, column, legacy=False):
        """Make COLUMN NOT NULL, once: a type change rebuilds it NOT NULL already and then asked for it again."""
        def once(column_name, column_def):
            return column_def if NOT_NULL.search(column_def) else column_def + " NOT NULL"

        return self._update_column(table, column, once)


class PostgresqlMigrator(pm.PostgresqlMigrator):
    """PostgreSQL schema changes that leave a column's database default as they found it."""

    def alter_change_column(self, table, column, field):
        """Change a column's type; set the field's default in the database only where the column had one."""
        # peewee-migrate set any Python default: a column made by create_model (no database default) got one, and
        # the generated rollback of a type change left "DEFAULT 0" behind, which rehearse rightly flagged.
        steps = super().alter_change_column(table, column, field)
        had_default = self.database.execute_sql(
            "SELECT column_default IS NOT NULL FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s", (table, column)
        ).fetchone()
        return steps if had_default and had_default[0] else steps[:1]


def schema_migrator(db):
    """Return the schema migrator for a database."""
    if isinstance(db, pw.SqliteDatabase):
        return SqliteMigrator(db)
    if isinstance(db, pw.PostgresqlDatabase):
        return PostgresqlMigrator(db)
    return pm.SchemaMigrator.from_database(db)


class Migrator(pm.Migrator):
    """A Migrator that remembers each call and runs its operations inside the caller's transaction."""

    def __init__(self, database):
        super().__init__(database)
        self.__migrator__ = schema_migrator(self.__database__)
        self.calls = []
        self.source = None
        self.current = None
        self.migration_name = "000_unknown"
        self.archiving = True
        self.previewing = False
        self.report = None
        self.restored = []  # notes of the archives a rollback's add_not_null brought back
        self._queued_by = []
        self._removed = set()  # (table, field) removed by the queued operations

    def apply(self):
        """Run the queued operations in order, then forget them."""
        ops, callers = self.__ops__, self._queued_by
        self.discard()
        db = self.__database__
        for op, caller in zip(ops, callers + [None] * (len(ops) - len(callers))):
            self.current = caller
            if isinstance(op, pm.Operation):
                # Outside the migration's transaction, a SQLite table rebuild (a copy, a drop, a rename) runs whole:
                # stopped at its copy, it left the half-made "items__tmp__" behind.
                with db.atomic() if is_sqlite(db) and not db.in_transaction() else nullcontext():
                    op.run()
            else:
                op()
        self.current = None

    def discard(self):
        """Forget the queued operations without running them."""
        self.__ops__ = []
        self._queued_by = []
        self._removed = set()

    def create_model(self, model):
        """Create the table with the indexes the model has now, not those a later call of the migration adds."""
        model = super().create_model(model)
        meta = model._meta
        flags = {name: (field.index, field.unique) for name, field in meta.fields.items()}
        indexes = list(meta.indexes)

        def create_table():
            later = {name: (field.index, field.unique) for name, field in meta.fields.items()}, list(meta.indexes)
            for name, (index, unique) in flags.items():
                if name in meta.fields:
                    meta.fields[name].index, meta.fields[name].unique = index, unique
            meta.indexes = indexes
            self._refuse_existing(meta.table_name)
            try:
                model.create_table()
            finally:
                for name, (index, unique) in later[0].items():
                    meta.fields[name].index, meta.fields[name].unique = index, unique
                meta.indexes = later[1]

        self.__ops__[-1] = create_table
        return model

    def add_fields(self, model, *, allow_not_null=False, **fields):
        """Add columns; a constant default goes into the ADD COLUMN itself instead of an UPDATE of every row."""
        model = self.__get_model__(model)
        meta = model._meta
        others = {}
        for name, field in fields.items():
            if field.default is None or callable(field.default) or isinstance(field, pw.ForeignKeyField):
                others[name] = field
                continue
            meta.add_field(name, field)
            self.__ops__.append(add_column_with_default(self.__migrator__, meta.table_name, field.column_name, field))
        if others:
            super().add_fields(model, allow_not_null=allow_not_null, **others)
        return model

    def remove_fields(self, model, *names, cascade=False, **params):
        """Archive each column's values, then drop the columns (a view or key that depends on one stops it)."""
        meta = self.__get_model__(model)._meta
        keys = _key_columns(meta)
        for name in names:
            field = meta.fields.get(name)
            if self.archiving and field is not None and keys and field.column_name not in keys:
                self.__ops__.append(self._archiving(archive.archive_column, meta.table_name, field.column_name, keys))
        return super().remove_fields(model, *names, cascade=cascade, **params)

    def add_not_null(self, model, *names):
        """Make columns NOT NULL; in a rollback, the values the migration archived of them come back first."""
        meta = self.__get_model__(model)._meta
        for name in names:
            # A copy to change: an add_fields queued before holds this field and must still add the column nullable.
            meta.add_field(name, meta.fields[name].clone())
            if not self.archiving:
                self.__ops__.append(self._restoring(meta.table_name, meta.fields[name].column_name))
        return super().add_not_null(model, *names)

    def rename_field(self, model, old_name, new_name):
        """Rename a column; the indexes add_index recorded on it follow it."""
        meta = self.__get_model__(model)._meta
        indexes = [(tuple(new_name if c == old_name else c for c in entry[0]), entry[1]) if _recorded_index(entry)
                   else entry for entry in meta.indexes]
        model = super().rename_field(model, old_name, new_name)
        model._meta.indexes = indexes
        return model

    def __del_field__(self, model, field):
        """Forget a column and the indexes add_index recorded on it: the database drops them with the column."""
        super().__del_field__(model, field)
        meta = model._meta
        self._removed.add((meta.table_name, field.name))
        meta.indexes = [entry for entry in meta.indexes if not (_recorded_index(entry) and field.name in entry[0])]

    def remove_model(self, model, *, cascade=False):
        """Archive the table's rows, then drop the table (a view or foreign key that depends on it stops it)."""
        model = self.__get_model__(model)
        meta, keys = model._meta, _key_columns(model._meta)
        if self.archiving and keys:
            self.__ops__.append(self._archiving(archive.archive_table, meta.table_name, keys))
        # peewee-migrate keys its models by class name too: removing the old table of a model renamed without
        # --rename (same class, new table created first) forgot the new one.
        namesake = self.orm.__models__.get(model.__name__)
        super().remove_model(model, cascade=cascade)
        if namesake is not None and namesake is not model:
            self.orm.__models__[model.__name__] = namesake
        if is_sqlite(self.__database__):  # PostgreSQL refuses such a drop itself; SQLite leaves the view broken
            self.__ops__.append(lambda: _refuse_broken_views(self.__database__, meta.table_name))

    def add_index(self, model, *columns, unique=False, concurrently=False, name=None, **index_params):
        """Create an index (named NAME, else after the table); CONCURRENTLY on PostgreSQL, so writes go on."""
        if (concurrently or name) and index_params:
            given = "concurrently=True" if concurrently else "name="
            raise ValueError(f"add_index with {given} takes no {', '.join(sorted(index_params))}: write that index "
                             "with migrator.sql('CREATE INDEX CONCURRENTLY IF NOT EXISTS …')")
        model = super().add_index(model, *columns, unique=unique, **index_params)
        if concurrently or name:
            meta = model._meta
            names = _column_names(meta, columns)
            db, name = self.__database__, name or make_index_name(meta.table_name, names)

            def add_index_step():
                if concurrently:
                    _outside_a_transaction(db, "add_index", meta.table_name, columns, self.previewing)
                how = "CONCURRENTLY " if concurrently and not is_sqlite(db) else ""
                db.execute_sql(f"CREATE {'UNIQUE ' if unique else ''}INDEX {how}IF NOT EXISTS {online._q(name)} "
                               f"ON {online._q(meta.table_name)} ({', '.join(map(online._q, names))})")

            self.__ops__[-1] = add_index_step
        return model

    def drop_index(self, model, *columns, concurrently=False):
        """Drop the index on COLUMNS by the name the database knows it by (001's are named after the model)."""
        model = super().drop_index(model, *columns)
        meta = model._meta
        names = _column_names(meta, columns)
        db, schema = self.__database__, self.__migrator__
        if any((meta.table_name, c) in self._removed and c not in meta.fields for c in columns):
            # A column of the index was removed earlier in this migration: the database dropped the index with it.
            self.__ops__[-1] = lambda: None
            return model

        def drop_index_step():
            name = _index_name(db, meta.table_name, names, make_index_name(meta.table_name, names))
            if not concurrently:
                schema.drop_index(meta.table_name, name).run()
                return
            _outside_a_transaction(db, "drop_index", meta.table_name, columns, self.previewing)
            db.execute_sql(f"DROP INDEX {'' if is_sqlite(db) else 'CONCURRENTLY '}IF EXISTS {online._q(name)}")

        self.__ops__[-1] = drop_index_step
        return model

    def backfill(self, model, column, value, where=None, batch_size=10_000):
        """Set COLUMN to the SQL expression VALUE where it is NULL (and WHERE), in committed batches by primary key."""
        meta = self.__get_model__(model)._meta
        keys = _key_columns(meta)
        field = meta.fields.get(column)
        name = field.column_name if field is not None else column
        if field is None:
            raise ValueError(f"{meta.table_name} has no column {column} at this point of the migrations")

        def backfill_step():
            online.backfill(self.__database__, online.Backfill(meta.table_name, name, value, where, batch_size, keys),
                            report=self.report, preview=self.previewing)

        self.__ops__.append(backfill_step)
        return meta.model

    def set_not_null(self, model, column):
        """Make COLUMN NOT NULL; on PostgreSQL through a NOT VALID check that is validated first."""
        meta = self.__get_model__(model)._meta
        if isinstance(self.__database__, pw.SqliteDatabase):
            queued = len(self.__ops__)
            pm.Migrator.add_not_null(self, model, column)
            rebuild = self.__ops__[queued:]
            del self.__ops__[queued:]
            self.__ops__.append(lambda: _in_one_transaction(self.__database__, rebuild))
            return meta.model
        field = meta.fields[column]
        field.null = False
        self.__ops__.append(lambda: online.set_not_null(self.__database__, meta.table_name, field.column_name,
                                                        preview=self.previewing))
        return meta.model

    def _refuse_existing(self, table):
        """Stop before creating TABLE when the database has it: something else made it."""
        # peewee creates tables IF NOT EXISTS: a wrong DATABASE_URL's table was taken over, and a rollback to zero
        # then dropped it with its rows.
        if self.__database__.table_exists(table):
            raise AppError(f"{self.migration_name} creates the table {table}, which the database has already, so "
                           "something else made it: check DATABASE_URL. If this database does hold the schema of "
                           "these migrations, record them without running them: python manage.py migrate run --fake; "
                           f"otherwise rename or drop that table. Nothing of {self.migration_name} was changed.",
                           exit_code=2)

    def _restoring(self, table, column):
        def restore_step():
            self.restored += archive.restore_not_null(self.__database__, self.migration_name, table, column)

        return restore_step

    def _archiving(self, function, *args):
        def archive_step():
            function(self.__database__, self.migration_name, *args)

        archive_step.__name__ = function.__name__
        return archive_step


def _refuse_broken_views(db, table):
    """Stop the migration when a view no longer reads after TABLE was dropped."""
    for (view,) in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").fetchall():
        try:
            db.execute_sql(f'SELECT * FROM "{view}" LIMIT 0')
        except pw.OperationalError as exc:
            raise pw.OperationalError(f"cannot drop table {table} because view {view} depends on it ({exc}): drop "
                                      "or change the view first") from None


def _in_one_transaction(db, operations):
    """Run operations atomically: a table rebuild must never stop half-way, even with TRANSACTION = False."""
    with db.atomic():
        for op in operations:
            op.run()


def _outside_a_transaction(db, op, table, columns, previewing):
    """Refuse a concurrent index step that PostgreSQL would refuse inside the migration's transaction."""
    if not is_sqlite(db) and db.in_transaction() and not previewing:
        raise online.OnlineStepError(
            f"{op} of {table} ({', '.join(columns)}) with concurrently=True runs outside a transaction: put "
            "TRANSACTION = False at the top of the file (and keep other changes in their own migration)")


def _recorded_index(entry):
    """Tell whether a Meta.indexes entry is a (column names, unique) pair, as add_index records them."""
    return isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], (tuple, list))


def _column_names(meta, columns):
    """Return the column names of the fields COLUMNS names (a name that is no field stays as it is)."""
    return [meta.fields[c].column_name if c in meta.fields else c for c in columns]


def _index_name(db, table, columns, expected):
    """Return the name of TABLE's index on exactly COLUMNS (EXPECTED when it is one of them, or when none is)."""
    found = sorted(i.name for i in db.get_indexes(table) if list(i.columns) == list(columns))
    return expected if expected in found or not found else found[0]


def _key_columns(meta):
    """Return the primary key's column names, or [] when the table has none."""
    pk = meta.primary_key
    if pk is False or pk is None:
        return []
    if isinstance(pk, pw.CompositeKey):
        return [meta.fields[name].column_name for name in pk.field_names]
    return [pk.column_name]


def _table_name(migrator, model):
    if isinstance(model, str):
        try:
            return migrator.__get_model__(model)._meta.table_name
        except (ValueError, KeyError):
            return model
    meta = getattr(model, "_meta", None)
    return meta.table_name if meta else str(model)


def _fields_before(migrator, name, args, kwargs):
    """Return copies of the fields a change_fields or remove_fields call is about to replace or drop."""
    if name not in ("change_fields", "remove_fields"):
        return {}
    try:
        meta = migrator.__get_model__(args[0])._meta
    except (ValueError, KeyError):
        return {}
    names = kwargs if name == "change_fields" else args[1:]
    return {key: meta.fields[key].clone() for key in names if key in meta.fields}


def _recorded(name):
    method = Migrator.__dict__.get(name) or getattr(pm.Migrator, name)

    def wrapper(self, *args, **kwargs):
        caller = sys._getframe(1)
        line = caller.f_lineno if caller.f_code.co_filename == self.source else 0
        if name in ("sql", "run"):
            table, rest = "", args
        elif name == "create_model":
            table, rest = _table_name(self, args[0]), args
        else:
            table, rest = _table_name(self, args[0]), args[1:]
        call = Call(name, table, rest, dict(kwargs), line, _fields_before(self, name, args, kwargs))
        self.calls.append(call)
        queued = len(self.__ops__)
        result = method(self, *args, **kwargs)
        self._queued_by.extend([call] * (len(self.__ops__) - queued))
        return result

    wrapper.__name__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


for _name in OPERATIONS:
    setattr(Migrator, _name, _recorded(_name))
