"""What a database looks like, to compare before and after a migration: its schema and each table's rows."""

import hashlib
import re

from analyzer.db import is_sqlite

BOOKKEEPING = ("migratehistory", "migratearchive", "migratehalfway")
BOOKKEEPING_WRITE_RE = re.compile(
    r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS)\s+"?'
    r'(migratehistory|migratearchive|migratehalfway)\b', re.I)

PG_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0
  AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p')
  AND n.nspname = current_schema()
"""

PG_INDEXES = """
SELECT tablename, indexname, indexdef
FROM pg_indexes
WHERE schemaname = current_schema()
"""

PG_CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
"""

# An order-free sum of row hashes, over the columns in name order (a rollback may re-add a column at the end).
PG_CHECKSUM = """
SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({columns})::text), 1, 15))::bit(60)::bigint), 0)
FROM {table} AS t
"""


def is_bookkeeping(table):
    """Tell whether a table belongs to the migration tool (history, archives) rather than the app."""
    return table in BOOKKEEPING or table.startswith("_archive_")


def schema(db):
    """Return the schema as a set of (kind, table, name, definition) tuples, leaving out bookkeeping tables."""
    items = _sqlite_schema(db) if is_sqlite(db) else _pg_schema(db)
    return frozenset(item for item in items if not is_bookkeeping(item[1]))


def columns(schema_items):
    """Map each table to its column names, in name order."""
    found = {}
    for kind, table, name, _ in schema_items:
        if kind == "column":
            found.setdefault(table, []).append(name)
    return {table: sorted(names) for table, names in found.items()}


def checksums(db, schema_items):
    """Return {table: (rows, checksum)} for every table of the schema."""
    return {table: _checksum(db, table, names) for table, names in sorted(columns(schema_items).items())}


def differences(before, after):
    """Describe what differs between two schemas, one line per item, e.g. '+ column items.price integer'."""
    lines = [f"- {_describe(item)}" for item in sorted(before - after)]
    lines += [f"+ {_describe(item)}" for item in sorted(after - before)]
    return lines


def _describe(item):
    kind, table, name, definition = item
    return f"{kind} {table}.{name}" + (f" {definition}" if definition else "")


def _pg_schema(db):
    for table, column, kind, not_null, default in db.execute_sql(PG_COLUMNS).fetchall():
        yield ("column", table, column, kind + (" NOT NULL" if not_null else "") + (f" DEFAULT {default}" if default else ""))
    for table, name, definition in db.execute_sql(PG_INDEXES).fetchall():
        yield ("index", table, name, definition)
    for table, name, definition in db.execute_sql(PG_CONSTRAINTS).fetchall():
        yield ("constraint", table, name, definition)


def _sqlite_schema(db):
    tables = [r[0] for r in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()]
    for table in tables:
        quoted = _q(table)
        for _, column, kind, not_null, default, pk, *_ in db.execute_sql(f"PRAGMA table_xinfo({quoted})").fetchall():
            yield ("column", table, column, f"{kind}{' NOT NULL' if not_null else ''}"
                   + (f" DEFAULT {default}" if default is not None else "") + (" PRIMARY KEY" if pk else ""))
        for _, name, unique, origin, _ in db.execute_sql(f"PRAGMA index_list({quoted})").fetchall():
            keys = [r[2] for r in db.execute_sql(f"PRAGMA index_info({_q(name)})").fetchall()]
            yield ("index", table, name, f"{'UNIQUE ' if unique else ''}({', '.join(map(str, keys))}) from {origin}")
        for row in db.execute_sql(f"PRAGMA foreign_key_list({quoted})").fetchall():
            yield ("foreign key", table, row[3], f"REFERENCES {row[2]}({row[4]}) ON DELETE {row[6]}")


def _checksum(db, table, names):
    if not is_sqlite(db):
        query = PG_CHECKSUM.format(columns=", ".join(f"t.{_q(n)}" for n in names), table=_q(table))
        count, total = db.execute_sql(query).fetchone()
        return count, str(total)
    count, total = 0, 0
    cursor = db.execute_sql(f"SELECT {', '.join(_q(n) for n in names)} FROM {_q(table)}")
    for row in cursor:
        count += 1
        total += int.from_bytes(hashlib.md5(repr(row).encode()).digest()[:8], "big")
    return count, str(total % (1 << 64))


def _q(name):
    return '"' + name.replace('"', '""') + '"'
