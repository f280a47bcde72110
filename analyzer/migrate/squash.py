"""Squash the first migrations into one baseline for new databases; databases that applied them skip it."""

import datetime as dt
import re
import shutil

from peewee_migrate.router import compile_migrations

from analyzer.errors import AppError
from analyzer.migrate import files as mfiles
from analyzer.migrate import autogen, integrity
from analyzer.migrate.migrator import Migrator
from analyzer.migrate.runner import replay, replay_rollback

BASELINE_RE = mfiles.BASELINE_RE

ARCHIVE_DIR = "squashed"
MARKER_RE = re.compile(r"#\s*squash:\s*schema-only\b")
MADE_INDEX_RE = re.compile(r'^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"?\w+"?\s+ON\s+"?(\w+)"?\s*'
                           r'\(([\w\s",]+)\)\s*$', re.I)
CONCURRENTLY_RE = re.compile(r"\b((?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\s+\w+)\s+)CONCURRENTLY\s+", re.I)

TEMPLATE = '''"""Baseline for new databases: {first} through {last}, squashed.

Created {created} by "python manage.py migrate squash --to {last}".
A database that applied the replaced files skips this file; a new database applies it instead of them.
The replaced files are kept in migrations/{archive}/ so that "migrate check" can verify this baseline.
"""

{imports}import peewee as pw
from peewee_migrate import Migrator

REPLACES = {{
{replaces}}}


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Create the schema that the replaced migrations build."""{migrate}


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop what the baseline created."""{rollback}
'''


def squash(db, directory, to, schema_only=()):
    """Write the baseline replacing the first migrations through TO, move them to squashed/; return (file, names)."""
    on_disk = mfiles.scan(directory)
    target = mfiles.resolve(on_disk, to)
    if target is None:
        raise AppError(f"No migration named {to!r}; nothing was squashed. "
                       f"Known migrations: {', '.join(f.name for f in on_disk)}.")
    replaced = [f for f in on_disk if (f.number, f.name) <= (target.number, target.name)]
    if len(replaced) < 2:
        raise AppError(f"Squashing needs at least two migrations through {target.name}; nothing was squashed.")
    if any(BASELINE_RE.match(f.name) for f in replaced):
        raise AppError("The range holds an earlier baseline: squash again only past it; nothing was squashed.")
    carried, undo, origins = _walk(db, replaced, {_named(replaced, name) for name in schema_only})
    state = replay(db, replaced)
    added_later = _take_added_indexes(state.orm, origins)
    recorded = [_take_recorded_index(state.orm, statement) for statement in carried]
    forward, backward, imports = autogen.code_for(Migrator(db), list(state.orm))
    forward += "".join(f"\n    {line}" for line in added_later)
    forward += "".join(f"\n    migrator.sql({statement!r})" + (f"\n    {line}" if line else "")
                       for statement, line in zip(carried, recorded))
    # A carried statement may change a table the baseline does not create (migratehistory): undo it as its file did.
    # What a rollback does to the baseline's own tables goes with them (an index rebuilt just before its table is
    # dropped would only cost time).
    created = {model._meta.table_name for model in state.orm}
    undo = [statement for statement in undo if not any(_names(statement, table) for table in created)]
    backward = "".join(f"\n    migrator.sql({statement!r})" for statement in undo) + backward
    text = TEMPLATE.format(
        first=replaced[0].name, last=target.name, archive=ARCHIVE_DIR,
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        replaces="".join(f"    {f.name!r}: {f.checksum!r},\n" for f in replaced),
        imports="".join(f"{line}\n" for line in sorted(imports)),
        migrate=forward or "\n    pass", rollback=backward or "\n    pass")
    archive = directory / ARCHIVE_DIR
    archive.mkdir(exist_ok=True)
    for f in replaced:
        if (archive / f.path.name).exists():
            raise AppError(f"{ARCHIVE_DIR}/{f.path.name} already exists; nothing was squashed.")
    path = directory / f"{target.number:03d}_squashed_{replaced[0].number:03d}_to_{target.number:03d}.py"
    for f in replaced:
        shutil.move(f.path, archive / f.path.name)
    path.write_text(text, encoding="utf-8")
    integrity.write(directory, mfiles.scan(directory))
    return mfiles.MigrationFile(target.number, path.stem, path), [f.name for f in replaced]


def verify(db, directory, migration_files):
    """Return one problem line per baseline that does not build what the files it replaces build."""
    problems = []
    by_name = {f.name: f for f in migration_files}
    for name, replaced in mfiles.baselines(migration_files).items():
        kept = mfiles.scan(directory / ARCHIVE_DIR)
        archived = {f.name: f for f in kept}
        absent = [n for n in replaced if n not in archived]
        if absent:
            problems.append(f"{name} replaces {', '.join(absent[:3])}{' …' if len(absent) > 3 else ''}, missing from "
                            f"migrations/{ARCHIVE_DIR}/: restore them from version control")
            continue
        changed = [n for n, digest in replaced.items() if archived[n].checksum != digest]
        if changed:
            problems.append(f"migrations/{ARCHIVE_DIR}/{changed[0]}.py changed after {name} replaced it")
            continue
        old = replay(db, [archived[n] for n in replaced])
        new = replay(db, [by_name[name]])
        drift = compile_migrations(new, list(old.orm)) or compile_migrations(old, list(new.orm))
        if drift:
            problems.append(f"{name} does not build the schema of the migrations it replaces: "
                            + " ".join(drift.split())[:200])
    return problems


def _named(replaced, name):
    """Return the full name of the migration that NAME means (a number works, as in rollback --to), or refuse."""
    found = mfiles.resolve(replaced, name)
    if found is None:
        raise AppError(f"--schema-only {name}: no migration of the squashed range has this name or number; nothing "
                       f"was squashed. The range: {', '.join(f.name for f in replaced)}.")
    return found.name


def _walk(db, replaced, schema_only):
    """Return the SQL statements to carry over, those that undo them, and which indexes were named after their table."""
    carried, undo, origins = [], [], {}
    migrator = Migrator(db)
    for position, f in enumerate(replaced):
        migrator.calls = []
        replay(db, [f], migrator)
        lines = f.path.read_text(encoding="utf-8").splitlines()
        for call in migrator.calls:
            if call.op in ("sql", "run"):
                carried.append(_carry(f, call, lines, schema_only))
            else:
                origins.update(_index_origins(call))
            if call.op == "drop_index":
                # An index that SQL made and drop_index removed: the baseline, whose SQL runs after its models are
                # made, would keep it (008's short-lived one).
                gone = (call.table, _columns(migrator, call.table, call.args))
                carried = [statement for statement in carried if _index_made(statement)[:2] != gone]
        if any(call.op in ("sql", "run") for call in migrator.calls):
            undo[:0] = _undo(db, replaced[:position + 1], f)
    return carried, undo, origins


def _index_made(statement):
    """Return (table, columns, unique) of a plain CREATE INDEX statement, else (None, None, None)."""
    found = MADE_INDEX_RE.match(statement)
    if found is None:
        return None, None, None
    return found.group(2), tuple(c.strip().strip('"') for c in found.group(3).split(",")), bool(found.group(1))


def _columns(migrator, table, names):
    """Return the column names of a table's fields NAMES (a foreign key's column is session_id, its field session)."""
    model = migrator.orm[table] if table in migrator.orm else None
    fields = model._meta.fields if model is not None else {}
    return tuple(fields[n].column_name if n in fields else n for n in names)


def _take_recorded_index(models, statement):
    """Take out of the models an index that carried SQL makes; return the line that records it, or None."""
    # 009 built (customer_id, started_at) with SQL and recorded it in the model: the baseline would build it twice.
    table, columns, unique = _index_made(statement)
    model = next((m for m in models if m._meta.table_name == table), None)
    if model is None:
        return None
    meta = model._meta
    for entry in meta.indexes:
        names = tuple(entry[0]) if isinstance(entry, tuple) else ()
        if tuple(meta.fields[n].column_name if n in meta.fields else n for n in names) == columns and \
                bool(entry[1]) == unique:
            meta.indexes.remove(entry)
            return (f"migrator.orm[{table!r}]._meta.indexes.append(({names!r}, {unique!r}))  "
                    "# made by the SQL above, under its own name")
    return None


def _undo(db, files, migration):
    """Return the SQL statements of MIGRATION's rollback(), the last of FILES; refuse a data step there."""
    migrator = replay(db, files)
    migrator.calls = []
    replay_rollback(db, migrator, migration)
    steps = [call for call in migrator.calls if call.op in ("sql", "run")]
    for call in steps:
        if call.op == "run":
            raise AppError(f"{migration.display} line {call.line}: its rollback() has a data step "
                           f"({call.describe()}), which the baseline's rollback() cannot replay; nothing was squashed. "
                           "Squash only up to the migration before it.")
    return [_in_transaction(str(call.args[0])) for call in steps]


def _names(statement, table):
    """Tell whether SQL STATEMENT names TABLE (quoted or not)."""
    return re.search(rf'(?<![\w$"]){re.escape(table)}(?![\w$])|"{re.escape(table)}"', statement) is not None


def _carry(migration, call, lines, schema_only):
    marked = migration.name in schema_only or any(
        MARKER_RE.search(lines[n - 1]) for n in (call.line, call.line - 1) if 0 < n <= len(lines))
    if call.op == "run" or not marked:
        raise AppError(
            f"{migration.display} line {call.line} is a data step ({call.describe()}), which a baseline for new "
            "databases cannot replay; nothing was squashed. Squash only up to the migration before it"
            + ("" if call.op == "run" else
               ", or, if the statement only changes the schema, mark it with \"# squash: schema-only\" "
               f"(or pass --schema-only {migration.name})") + ".")
    return _in_transaction(str(call.args[0]))


def _in_transaction(statement):
    """Return STATEMENT without CONCURRENTLY: the baseline runs in a transaction, on a new database's empty tables."""
    return CONCURRENTLY_RE.sub(r"\1", statement)


def _index_origins(call):
    """Yield ((table, columns), origin): "model" indexes are named after the model, "table" ones after the table."""
    if call.op == "create_model":
        meta = call.args[0]._meta
        for field in meta.sorted_fields:
            if field.index or field.unique:
                yield (call.table, (field.name,)), "model"
        for columns, _ in meta.indexes:
            yield (call.table, tuple(columns)), "model"
    elif call.op == "add_index":
        yield (call.table, tuple(call.args)), "table"
    elif call.op == "add_fields":
        for name, field in call.kwargs.items():
            if getattr(field, "index", False) or getattr(field, "unique", False):
                yield (call.table, (name,)), "table"


def _take_added_indexes(models, origins):
    """Move the indexes that history added with add_index out of the models; return the add_index lines."""
    lines = []
    for model in models:
        meta = model._meta
        for (table, columns), origin in origins.items():
            if table != meta.table_name or origin != "table":
                continue
            entry = next((e for e in meta.indexes if tuple(e[0]) == columns), None)
            field = meta.fields.get(columns[0]) if len(columns) == 1 else None
            if entry is None and not (field is not None and (field.index or field.unique)):
                continue
            unique = entry[1] if entry is not None else bool(field.unique)
            if entry is not None:
                meta.indexes.remove(entry)
            if field is not None:
                field.index = field.unique = False
            lines.append(f"migrator.add_index({table!r}, {', '.join(map(repr, columns))}"
                         + (", unique=True)" if unique else ")"))
    return lines
