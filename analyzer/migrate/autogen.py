"""Write a new migration from the difference between the models and the migration files."""

import datetime as dt
import importlib
import importlib.util
import re
from contextlib import contextmanager

import peewee as pw
from peewee_migrate import auto
from peewee_migrate.router import CLEAN_RE
from playhouse.migrate import make_index_name

from analyzer.errors import AppError
from analyzer.migrate import files as mfiles
from analyzer.migrate import integrity, renames
from analyzer.migrate.migrator import Migrator
from analyzer.migrate.runner import line_in, no_queries, replay

TEMPLATE = '''"""{title}

Created {created} by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

{imports}import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""{migrate}


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""{rollback}
'''

EMPTY_BODY = """
    # Write the change here, for example:
    #   migrator.add_fields("customer_sessions", referrer=pw.CharField(max_length=255, null=True))
    #   migrator.add_index("customer_sessions", "referrer")
    #   migrator.run(backfill_referrer, database)   # a data step: a function defined in this file
    #   migrator.sql("UPDATE customer_sessions SET referrer = source")
    pass"""

EMPTY_ROLLBACK = """
    # Undo exactly what migrate() does, in reverse order, for example:
    #   migrator.remove_fields("customer_sessions", "referrer")
    pass"""


def discover_models(module_name):
    """Return the concrete models a module defines, leaving out abstract bases."""
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a typo in the models: say where, as for a migration file
        origin = getattr(importlib.util.find_spec(module_name), "origin", None) or module_name
        where = (exc.filename, exc.lineno) if isinstance(exc, SyntaxError) else (origin, line_in(exc, origin))
        raise AppError(f"The models ({where[0]}{f' line {where[1]}' if where[1] else ''}) cannot be imported: "
                       f"{type(exc).__name__}: {exc}. Fix them and try again.") from None
    models = [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, pw.Model) and obj is not pw.Model
        and obj.__module__ == module.__name__
    ]
    concrete = [m for m in models if not _is_abstract(m, models)]
    for model in concrete:
        _check_indexes(model, origin=module.__file__)
    return concrete


def _check_indexes(model, origin):
    """Refuse a Meta.indexes entry that names a field the model does not have."""
    for entry in model._meta.indexes:
        if isinstance(entry, (list, tuple)) and entry and isinstance(entry[0], (list, tuple)):
            missing = [part for part in entry[0] if isinstance(part, str) and part not in model._meta.combined]
            if missing:
                raise AppError(f"The models ({origin}): {model.__name__}'s Meta.indexes names {', '.join(missing)}, "
                               f"which is not a field of {model.__name__}. Change or remove that index and try again.")


def diff(db, on_disk, models_module="analyzer.models", renames=()):
    """Return (migrate code, rollback code, imports) that take the migrations to the models; empty code when equal."""
    migrator, names = _replay_with_index_names(db, on_disk)
    models = discover_models(models_module)
    migrator.calls = []
    for rename in renames:
        rename.apply(migrator)
    _follow_indexes(names, migrator)
    migrator.discard()
    forward, backward, imports = code_for(migrator, models, names)
    forward = "".join(f"\n    {r.forward()}" for r in renames) + forward
    backward += "".join(f"\n    {r.backward()}" for r in reversed(renames))
    if not forward:
        return "", "", set()
    return forward, backward, imports | _value_imports(forward + backward)


def code_for(migrator, models, index_names=None):
    """Return (migrate code, rollback code, imports) that take MIGRATOR's model state to MODELS."""
    with _callable_defaults() as imports, _index_flags_apart(), _unindexed_foreign_keys():
        forward = _compile(migrator, models)
        with _original_index_names(index_names or {}), _not_null_after_restore():
            backward = _compile(migrator, models, reverse=True) if forward else ""
    return forward, backward, imports | _value_imports(forward + backward)


def _compile(migrator, models, reverse=False):
    """Return the code that takes MIGRATOR's model state to MODELS (or back): tables are dropped before any is made."""
    state = list(migrator.orm)
    active, source = (state, models) if reverse else (models, state)
    changes = auto.diff_many(active, source, migrator, reverse=reverse)
    # A table's indexes are named after its model class, so the new table of a renamed one wants the index names
    # that the old table holds until it is dropped (CREATE INDEX IF NOT EXISTS would skip them).
    changes.sort(key=lambda change: change.startswith("@migrator.create_model"))
    if not changes:
        return ""
    return CLEAN_RE.sub("\n", auto.NEWLINE + auto.NEWLINE.join("\n\n".join(changes).split("\n")))


def _replay_with_index_names(db, on_disk):
    """Replay the files; return the migrator and {(table, field names): name} of the indexes they made."""
    migrator, names = Migrator(db), {}
    for f in on_disk:
        migrator.calls = []
        replay(db, [f], migrator)
        _follow_indexes(names, migrator)
    return migrator, names


def _follow_indexes(names, migrator):
    """Record in NAMES the indexes that MIGRATOR's calls made, moved or dropped."""
    for call in migrator.calls:
        for key in [key for key in names if key[0] == call.table]:
            names.update(_moved(call, key, names.pop(key)))
        names.update(_made(call, migrator))


def _made(call, migrator):
    """Return the names of the indexes CALL makes: create_model's after the model class, the others' after the table."""
    table, args = call.table, call.args
    if call.op == "create_model":
        indexes = args[0]._meta.fields_to_index()
        return {(table, tuple(auto._index_fields(index))): index._name for index in indexes
                if all(isinstance(part, (pw.Field, str)) for part in index._expressions)}
    if call.op == "add_index":
        try:
            fields = migrator.orm[table]._meta.fields
        except KeyError:  # renamed or dropped later in the same file
            fields = {}
        return {(table, args): make_index_name(table, [fields[n].column_name if n in fields else n for n in args])}
    if call.op == "add_fields":
        return {(table, (name,)): make_index_name(table, [field.column_name or name])
                for name, field in call.kwargs.items() if isinstance(field, pw.Field) and (field.index or field.unique)}
    return {}


def _moved(call, key, name):
    """Return {key: name} of an index of CALL's table once CALL ran, or {} when CALL dropped it."""
    columns, args = key[1], call.args
    if call.op == "remove_model" or (call.op == "drop_index" and columns == args) or (
            call.op == "remove_fields" and set(columns) & set(args)):
        return {}
    if call.op == "rename_table":
        return {(args[0], columns): name}
    if call.op == "rename_field":
        return {(key[0], tuple(args[1] if column == args[0] else column for column in columns)): name}
    return {key: name}


def rename_candidates(db, on_disk, models_module="analyzer.models", named=()):
    """Return the probable renames between the migrations and the models, after checking the NAMED ones."""
    state = list(replay(db, on_disk).orm)
    models = discover_models(models_module)
    renames.check(named, state, models)
    return renames.candidates(state, models)


def describe(db, on_disk, text):
    """Return the Calls that a migration file's text would make, without touching the database."""
    namespace = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    migrator = replay(db, on_disk)
    migrator.calls = []
    with no_queries(db):
        namespace["migrate"](migrator, db, fake=True)
    return migrator.calls


def render(description, forward, backward, imports):
    """Return the text of a migration file."""
    return TEMPLATE.format(
        title=description.strip().rstrip(".").capitalize() + ".",
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        imports="".join(f"{line}\n" for line in sorted(imports)) + ("\n" if imports else ""),
        migrate=forward,
        rollback=backward,
    )


def create(db, directory, description, models_module="analyzer.models", empty=False, renamed=()):
    """Write the next migration file and return (file, calls), or None when nothing changed."""
    on_disk = mfiles.scan(directory)
    damage = integrity.damage(directory)
    if damage:
        raise AppError(f"Cannot create a migration: {damage}. Nothing was written.")
    duplicates = mfiles.duplicate_numbers(on_disk)
    if duplicates:
        names = "; ".join(", ".join(v) for v in duplicates.values())
        raise AppError(f"Cannot create a migration while numbers are shared ({names}): renumber the unapplied file first.")
    slug = mfiles.slugify(description)
    if empty:
        forward, backward, imports = EMPTY_BODY, EMPTY_ROLLBACK, set()
    else:
        forward, backward, imports = diff(db, on_disk, models_module, renamed)
        if not forward:
            return None
    text = render(description, forward, backward, imports)
    try:
        calls = describe(db, on_disk, text)
    except Exception as exc:
        raise AppError(
            f"The generated migration does not run ({type(exc).__name__}: {exc}); nothing was written. "
            'Write this change by hand with "python manage.py migrate create --empty".'
        ) from exc
    _refuse_not_null_without_default(calls)
    number = mfiles.next_number(on_disk)
    path = directory / f"{number:03d}_{slug}.py"
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise AppError(f"{path} already exists; nothing was written. Choose another name.") from None
    created = mfiles.MigrationFile(number, path.stem, path)
    integrity.add(directory, created)
    return created, calls


def _refuse_not_null_without_default(calls):
    """Refuse a new NOT NULL column without a default: peewee will not add it, not even to an empty table."""
    for call in calls:
        if call.op != "add_fields" or call.kwargs.get("allow_not_null"):
            continue
        bare = [(name, field) for name, field in call.kwargs.items()
                if isinstance(field, pw.Field) and not field.null and field.default is None]
        if bare:
            table, (name, field) = call.table, bare[0]
            raise AppError(
                f"The generated migration does not run ({table}.{name} is NOT NULL without a default, which no "
                "database can add: the rows a table has would get no value); nothing was written. Give the field a "
                "constant default (default=0, default=\"…\"), or take the two-step way: add it with null=True now, "
                f'then fill it with migrator.backfill("{table}", "{name}", "SQL expression") and '
                f'migrator.set_not_null("{table}", "{name}") in a second migration '
                '(README: "Adding a non-nullable field (the two-step way)").' + _rename_hint(calls, table, name, field))


def _rename_hint(calls, table, name, field):
    """Say how to name the rename when a column of the same type leaves the table in the same migration."""
    gone = [old for call in calls if call.op == "remove_fields" and call.table == table
            for old, removed in call.before.items() if type(removed) is type(field)]
    return f" If it is {table}.{gone[0]} renamed, say so: --rename {table}.{gone[0]}={name}." if gone else ""


def _is_abstract(model, models):
    own = getattr(model._meta, "abstract", False) and not any(
        getattr(getattr(base, "_meta", None), "abstract", False) for base in model.__bases__
    )
    fieldless = [f.name for f in model._meta.sorted_fields] == ["id"]
    return own or (fieldless and any(m is not model and issubclass(m, model) for m in models))


def _value_imports(code):
    imports = set()
    decimal_names = sorted(set(re.findall(r"\b(Decimal|ROUND_[A-Z_]+)\b", code)))
    if decimal_names:
        imports.add(f"from decimal import {', '.join(decimal_names)}")
    if re.search(r"\bdatetime\.(datetime|date|time|timedelta)\(", code):
        imports.add("import datetime")
    if "UUID(" in code:
        imports.add("from uuid import UUID")
    return imports


def _reference(function):
    """Return (module, dotted name) for a callable a migration file can import, else None."""
    owner = getattr(function, "__self__", None)
    if isinstance(owner, type):
        module, name = owner.__module__, f"{owner.__qualname__}.{function.__name__}"
    else:
        module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or "<" in name or module.split(".")[0] in ("analyzer", "__main__", "tests"):
        return None
    return module, name


@contextmanager
def _original_index_names(names):
    """Write a rollback's add_index with the name the index had before, where add_index would name it otherwise."""
    original = auto.add_index

    def add_index(index):
        code, meta = original(index), index._model._meta
        name = names.get((meta.table_name, tuple(auto._index_fields(index))))
        columns = [part.column_name if isinstance(part, pw.Field) else part for part in index._expressions]
        if name is None or name == make_index_name(meta.table_name, columns):
            return code
        return f"{code[:-1]}, name={name!r})"

    auto.add_index = add_index
    try:
        yield
    finally:
        auto.add_index = original


@contextmanager
def _not_null_after_restore():
    """Write a rollback's NOT NULL column without a default as nullable, then add_not_null, which restores it first."""
    # NOT NULL in the ADD COLUMN itself failed on any table with rows, before the archive could fill them.
    original = auto.create_fields

    def create_fields(model, *fields, **kwargs):
        bare = [field.name for field in fields if not field.null and field.default is None]
        code = original(model, *[_nullable(field) if field.name in bare else field for field in fields], **kwargs)
        if not bare:
            return code
        return (code + "\n# In a rollback, add_not_null first puts back the values that migrate() archived."
                f"\nmigrator.add_not_null({model._meta.table_name!r}, {', '.join(map(repr, bare))})")

    auto.create_fields = create_fields
    try:
        yield
    finally:
        auto.create_fields = original


def _nullable(field):
    """Return a copy of FIELD that allows NULL."""
    copy = field.clone()
    copy.null = True
    return copy


@contextmanager
def _index_flags_apart():
    """Leave a field's index and unique flags to add_index and drop_index, which the generator writes too."""
    # Else the flag alone became a change_fields: on SQLite two rebuilds of the whole table for one index.
    original = auto.compare_fields

    def compare_fields(field1, field2):
        diff = original(field1, field2)
        return {key: value for key, value in diff.items() if key not in ("index", "unique")}

    auto.compare_fields = compare_fields
    try:
        yield
    finally:
        auto.compare_fields = original


@contextmanager
def _unindexed_foreign_keys():
    """Write index=False on a foreign key that has no index: peewee indexes one unless told not to."""
    original = auto.FIELD_TO_PARAMS[pw.ForeignKeyField]

    def foreign_key_params(field):
        params = original(field)
        if not field.index and not field.unique:
            params["index"] = False
        return params

    auto.FIELD_TO_PARAMS[pw.ForeignKeyField] = foreign_key_params
    try:
        yield
    finally:
        auto.FIELD_TO_PARAMS[pw.ForeignKeyField] = original


@contextmanager
def _callable_defaults():
    """Keep callable defaults (datetime.datetime.now, uuid.uuid4…) in generated fields."""
    imports = set()
    adding = []
    original_params = auto.Column.get_field_parameters
    original_create_fields = auto.create_fields

    def get_field_parameters(self, *, change=False):
        params = original_params(self, change=change)
        default = self.field.default
        if change or not callable(default):
            return params
        ref = _reference(default)
        if ref is None:
            if adding and not self.field.null:
                table = self.field.model._meta.table_name
                raise AppError(
                    f"{table}.{self.field.name} is NOT NULL with a default a migration cannot import "
                    f"({getattr(default, '__qualname__', default)}); existing rows need a value. Use a "
                    "module-level function from the standard library (e.g. datetime.datetime.now), or add "
                    "the column with null=True first and fill it (README: \"Adding a non-nullable field\")."
                )
            return params
        module, name = ref
        params["default"] = name if module == "builtins" else f"{module}.{name}"
        if module != "builtins":
            imports.add(f"import {module}")
        return params

    def create_fields(*args, **kwargs):
        adding.append(True)
        try:
            return original_create_fields(*args, **kwargs)
        finally:
            adding.pop()

    auto.Column.get_field_parameters = get_field_parameters
    auto.create_fields = create_fields
    try:
        yield imports
    finally:
        auto.Column.get_field_parameters = original_params
        auto.create_fields = original_create_fields
