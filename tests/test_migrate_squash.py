"""migrate squash: one baseline for new databases; databases that applied the files skip it. SQLite and PostgreSQL."""

import shutil

import pytest

from analyzer.errors import AppError
from analyzer.migrate import commands, history, integrity, review, snapshot
from analyzer.migrate import files as mfiles
from tests.conftest import CREATE_ITEMS, ROOT, write_migration

CREATE_TAGS = '''
@migrator.create_model
class Tag(pw.Model):
    item = pw.ForeignKeyField(migrator.orm["items"], on_delete="CASCADE")
    label = pw.CharField(max_length=20, index=True)

    class Meta:
        table_name = "tags"
'''
BASELINE = "004_squashed_001_to_004"


def five_migrations(directory, extra_002=""):
    write_migration(directory, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(directory, "002_note", 'migrator.add_fields("items", note=pw.TextField(null=True))' + extra_002,
                    'migrator.remove_fields("items", "note")')
    write_migration(directory, "003_note_index", 'migrator.add_index("items", "note")',
                    'migrator.drop_index("items", "note")')
    write_migration(directory, "004_tags", CREATE_TAGS, 'migrator.remove_model("tags")')
    write_migration(directory, "005_stock", 'migrator.add_fields("items", stock=pw.IntegerField(default=0))',
                    'migrator.remove_fields("items", "stock")')
    integrity.write(directory, mfiles.scan(directory))


def names(db):
    return [r.name for r in history.applied(db)]


def test_a_new_database_applies_the_baseline_and_gets_the_same_schema(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir)
    assert commands.run(make_ctx()) == 0
    original = snapshot.schema(db)
    assert commands.rollback(make_ctx(), to="zero") == 0
    ctx = make_ctx()
    assert commands.squash(ctx, "004") == 0
    assert ctx.out.lines[0] == (f"Created migrations/{BASELINE}.py: a baseline for new databases that replaces 4 "
                                "migrations (001_items … 004_tags).")
    assert [f.name for f in mfiles.scan(migrations_dir)] == [BASELINE, "005_stock"]
    assert sorted(p.name for p in (migrations_dir / "squashed").iterdir()) == [
        "001_items.py", "002_note.py", "003_note_index.py", "004_tags.py"]
    assert commands.run(make_ctx()) == 0
    assert names(db) == [BASELINE, "005_stock"]
    assert snapshot.schema(db) == original
    assert commands.rollback(make_ctx(), to="zero") == 0
    assert sorted(db.get_tables()) == ["migratehistory"]


def test_a_database_that_applied_the_files_keeps_its_history_and_skips_the_baseline(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir)
    assert commands.run(make_ctx()) == 0
    before = names(db)
    assert commands.squash(make_ctx(), "004") == 0
    status = make_ctx()
    assert commands.status(status) == 0
    assert "Up to date." in status.out.lines
    listing = make_ctx()
    commands.list_(listing)
    assert any(line.split()[:2] == ["skipped", "(replaced)"] and line.endswith(BASELINE) for line in listing.out.lines)
    assert listing.out.lines[-1] == "5 applied, 0 pending."
    write_migration(migrations_dir, "006_price_index", 'migrator.add_index("items", "price")',
                    'migrator.drop_index("items", "price")')
    assert commands.run(make_ctx()) == 0
    assert names(db) == before + ["006_price_index"]
    assert commands.rollback(make_ctx(), steps=2) == 0
    assert names(db) == before[:-1]
    with pytest.raises(AppError, match=f"Cannot roll back 004_tags: {BASELINE} replaced its file"):
        commands.rollback(make_ctx(), steps=1)
    # By number, too: it said "No applied migration named '2'" while listing 002 as applied.
    with pytest.raises(AppError, match=f"Cannot roll back 004_tags: {BASELINE} replaced its file"):
        commands.rollback(make_ctx(), to="2")


@pytest.mark.parametrize("to", ["4", BASELINE])
def test_rollback_to_the_baseline_keeps_what_it_replaced_on_a_database_that_skipped_it(
        to, make_ctx, migrations_dir, db):
    five_migrations(migrations_dir)
    assert commands.run(make_ctx()) == 0
    assert commands.squash(make_ctx(), "004") == 0
    # It said "No applied migration named '4'" while listing 004_tags as applied.
    assert commands.rollback(make_ctx(), to=to) == 0
    assert names(db) == ["001_items", "002_note", "003_note_index", "004_tags"]


def test_check_verifies_the_baseline_against_the_replaced_files(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir)
    assert commands.squash(make_ctx(), "004") == 0
    ctx = make_ctx(models_module="tests.models_items")
    review.check(ctx)
    assert not any(BASELINE in line for line in ctx.out.lines)
    path = migrations_dir / f"{BASELINE}.py"
    text = path.read_text()
    assert "max_length=20" in text
    path.write_text(text.replace("max_length=20", "max_length=40"))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert any(line.startswith(f"FAIL {BASELINE} does not build the schema of the migrations it replaces")
               for line in ctx.out.lines)


def test_a_data_step_in_the_range_is_refused_and_nothing_moves(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir, extra_002='\nmigrator.sql("UPDATE items SET note = name")')
    with pytest.raises(AppError, match=r"migrations/002_note.py line \d+ is a data step \(run SQL: UPDATE items SET "
                                       r"note = name\).*--schema-only 002_note"):
        commands.squash(make_ctx(), "004")
    assert len(mfiles.scan(migrations_dir)) == 5
    assert not (migrations_dir / "squashed").exists() or not any((migrations_dir / "squashed").iterdir())


def test_sql_marked_schema_only_is_carried_into_the_baseline(make_ctx, migrations_dir, db):
    marked = '\nmigrator.sql(\'CREATE INDEX "items_name_lower" ON "items" (lower(name))\')  # squash: schema-only'
    five_migrations(migrations_dir, extra_002=marked)
    assert commands.squash(make_ctx(), "004") == 0
    text = (migrations_dir / f"{BASELINE}.py").read_text()
    assert "migrator.sql('CREATE INDEX \"items_name_lower\" ON \"items\" (lower(name))')" in text
    assert commands.run(make_ctx()) == 0
    assert "items_name_lower" in {i.name for i in db.get_indexes("items")}


def test_the_baseline_rollback_undoes_carried_statements_on_tables_it_does_not_create(make_ctx, migrations_dir, db):
    # As migration 004 adds columns to migratehistory: dropping the baseline's tables does not undo that.
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_audit", 'migrator.sql("CREATE TABLE audit (id INTEGER PRIMARY KEY)")',
                    'migrator.sql("DROP TABLE audit")')
    # A rollback that rebuilds an index of a table the baseline creates is not carried: the table goes anyway.
    write_migration(migrations_dir, "003_unindex", 'migrator.sql(\'DROP INDEX IF EXISTS "items_gone"\')',
                    'migrator.sql(\'CREATE INDEX "items_gone" ON "items" ("name")\')')
    integrity.write(migrations_dir, mfiles.scan(migrations_dir))
    assert commands.squash(make_ctx(), "003", schema_only=["002_audit", "003_unindex"]) == 0
    baseline = (migrations_dir / "003_squashed_001_to_003.py").read_text()
    assert "migrator.sql('DROP TABLE audit')" in baseline and 'CREATE INDEX "items_gone"' not in baseline
    assert commands.run(make_ctx()) == 0
    assert commands.rollback(make_ctx(), to="zero") == 0
    assert sorted(db.get_tables()) == ["migratehistory"]
    assert commands.run(make_ctx()) == 0  # it failed: the table audit already exists
    assert sorted(db.get_tables()) == ["audit", "items", "migratehistory"]


def test_an_index_built_concurrently_is_carried_as_a_plain_statement_the_baseline_transaction_runs(
        make_ctx, migrations_dir, db):
    # Squashed on PostgreSQL, 009's CREATE INDEX CONCURRENTLY went into a baseline that runs in a transaction,
    # which PostgreSQL refuses. A baseline builds a new database's empty tables: nothing to build concurrently.
    how = '"CONCURRENTLY " if isinstance(database, pw.PostgresqlDatabase) else ""'
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_name_index",
                    f'how = {how}\n'
                    f'migrator.sql(f\'CREATE INDEX {{how}}IF NOT EXISTS "items_by_name" ON "items" ("name")\')',
                    f'how = {how}\nmigrator.sql(f\'DROP INDEX {{how}}IF EXISTS "items_by_name"\')',
                    header="\nTRANSACTION = False")
    integrity.write(migrations_dir, mfiles.scan(migrations_dir))
    assert commands.squash(make_ctx(), "002", schema_only=["002_name_index"]) == 0
    baseline = (migrations_dir / "002_squashed_001_to_002.py").read_text()
    assert "CONCURRENTLY" not in baseline
    assert commands.run(make_ctx()) == 0
    assert "items_by_name" in {i.name for i in db.get_indexes("items")}
    assert commands.rollback(make_ctx(), to="zero") == 0
    assert sorted(db.get_tables()) == ["migratehistory"]


def test_a_foreign_key_whose_index_was_dropped_stays_unindexed_in_the_baseline(make_ctx, migrations_dir, db):
    # As 012 drops session_events' index on session_id: the baseline wrote the foreign key without index=False,
    # so peewee indexed it again and migrate check found the baseline building another schema.
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_tags", CREATE_TAGS, 'migrator.remove_model("tags")')
    write_migration(migrations_dir, "003_unindex", 'migrator.drop_index("tags", "item")',
                    'migrator.add_index("tags", "item")')
    integrity.write(migrations_dir, mfiles.scan(migrations_dir))
    assert commands.run(make_ctx()) == 0
    original = snapshot.schema(db)
    assert commands.rollback(make_ctx(), to="zero") == 0
    assert commands.squash(make_ctx(), "003") == 0
    assert "index=False" in (migrations_dir / "003_squashed_001_to_003.py").read_text()
    assert commands.run(make_ctx()) == 0
    assert snapshot.schema(db) == original
    ctx = make_ctx(models_module="tests.models_items")
    review.check(ctx)
    assert not any("003_squashed_001_to_003" in line for line in ctx.out.lines)


def test_this_repositorys_migrations_squash_into_a_baseline_that_builds_the_same_schema(make_ctx, migrations_dir, db):
    for path in sorted((ROOT / "migrations").glob("[0-9]*.py")) + [ROOT / "migrations" / "migrations.sum"]:
        shutil.copy(path, migrations_dir / path.name)
    assert commands.run(make_ctx()) == 0
    indexes = {item for item in snapshot.schema(db) if item[0] == "index"}
    assert commands.rollback(make_ctx(), to="zero") == 0
    files = [f.name for f in mfiles.scan(migrations_dir)]
    assert commands.squash(make_ctx(), files[-1][:3], schema_only=files) == 0
    assert commands.run(make_ctx()) == 0  # the baseline failed on PostgreSQL: CONCURRENTLY in a transaction
    # It built 012's dropped index on session_events' session_id, 008's short-lived one and 009's twice. (Columns that
    # later files added with a default still lack their DEFAULT 0 in the database: see the README.)
    assert {item for item in snapshot.schema(db) if item[0] == "index"} == indexes
    ctx = make_ctx()
    assert review.check(ctx) == 0, ctx.out.lines
    assert commands.rollback(make_ctx(), to="zero") == 0 and commands.run(make_ctx()) == 0


def test_schema_only_option_names_files_that_cannot_be_edited(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir, extra_002='\nmigrator.sql(\'CREATE INDEX "items_name_lower" ON "items" (lower(name))\')')
    assert commands.squash(make_ctx(), "004", schema_only=["002_note"]) == 0
    assert commands.run(make_ctx()) == 0
    assert "items_name_lower" in {i.name for i in db.get_indexes("items")}


def test_schema_only_takes_a_number_as_the_other_verbs_do_and_refuses_a_name_outside_the_range(
        make_ctx, migrations_dir, db):
    index = '\nmigrator.sql(\'CREATE INDEX "items_name_lower" ON "items" (lower(name))\')'
    five_migrations(migrations_dir, extra_002=index)
    with pytest.raises(AppError, match=r"--schema-only 009: no migration of the squashed range has this name"):
        commands.squash(make_ctx(), "004", schema_only=["009"])
    # "002" was ignored without a word, and the squash then stopped on 002's data step.
    assert commands.squash(make_ctx(), "004", schema_only=["002"]) == 0


def test_a_database_half_way_through_the_squashed_range_is_a_clear_problem(make_ctx, migrations_dir, db):
    five_migrations(migrations_dir)
    assert commands.run(make_ctx(), to="002") == 0
    assert commands.squash(make_ctx(), "004") == 0
    with pytest.raises(AppError, match=f"{BASELINE} replaces 4 migrations but this database applied only 2 of them"):
        commands.run(make_ctx())
