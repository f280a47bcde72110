"""run, rollback, status, list and history on hand-written migrations, on SQLite and PostgreSQL."""

import peewee as pw
import pytest

from analyzer.config import Settings
from analyzer.db import is_sqlite, open_database
from analyzer.errors import AppError
from analyzer.migrate import commands, history
from analyzer.migrate import files as mfiles
from tests.conftest import CREATE_ITEMS, Console, write_migration

CREATE_PARENT = '''
@migrator.create_model
class Parent(pw.Model):
    name = pw.CharField(max_length=50)

    class Meta:
        table_name = "parent"
'''


def three_migrations(directory):
    """Write 001 (table parent), 002 (column parent.note) and 003 (table child)."""
    write_migration(directory, "001_parent", CREATE_PARENT, 'migrator.remove_model("parent")')
    write_migration(directory, "002_parent_note",
                    'migrator.add_fields("parent", note=pw.CharField(max_length=20, null=True))',
                    'migrator.remove_fields("parent", "note")')
    write_migration(directory, "003_child", '''
@migrator.create_model
class Child(pw.Model):
    parent = pw.ForeignKeyField(migrator.orm["parent"], on_delete="CASCADE")

    class Meta:
        table_name = "child"
''', 'migrator.remove_model("child")')


def columns(db, table):
    return [c.name for c in db.get_columns(table)]


def applied_names(db):
    return [row.name for row in history.applied(db)]


def test_run_applies_every_pending_migration_in_order(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    ctx = make_ctx()
    assert commands.run(ctx) == 0
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]
    assert columns(db, "parent") == ["id", "name", "note"]
    assert "Applied 003_child in" in ctx.out.text
    assert "Database is now at 003_child." in ctx.out.text


def test_a_ctrl_c_inside_a_migration_names_it_and_changes_nothing(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.run(make_ctx())
    write_migration(migrations_dir, "002_stopped",
                    'migrator.add_fields("items", note=pw.TextField(null=True))\nmigrator.apply()\n'
                    'raise KeyboardInterrupt', "pass")
    with pytest.raises(KeyboardInterrupt) as stopped:
        commands.run(make_ctx())
    assert str(stopped.value) == "Nothing of 002_stopped was changed and it is still pending: run the command again " \
                                 "when you are ready."
    assert applied_names(db) == ["001_items"] and "note" not in columns(db, "items")


def test_run_with_nothing_pending_says_so(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    ctx = make_ctx()
    assert commands.run(ctx) == 0
    assert ctx.out.text == "Nothing to migrate: the database is at 003_child."


def test_run_to_name_applies_up_to_and_including_it(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    assert commands.run(make_ctx(), to="002_parent_note") == 0
    assert applied_names(db) == ["001_parent", "002_parent_note"]
    assert not db.table_exists("child")


def test_run_to_number_is_accepted(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    assert commands.run(make_ctx(), to="1") == 0
    assert applied_names(db) == ["001_parent"]


def test_run_to_unknown_name_applies_nothing_and_lists_names(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    with pytest.raises(AppError) as failure:
        commands.run(make_ctx(), to="004_nope")
    message = str(failure.value)
    assert "No migration named '004_nope'; nothing was applied." in message
    assert "001_parent, 002_parent_note, 003_child" in message
    assert not db.table_exists("parent")
    assert applied_names(db) == []


def test_run_fake_records_without_running(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    ctx = make_ctx()
    assert commands.run(ctx, to="001_parent", fake=True) == 0
    assert applied_names(db) == ["001_parent"]
    assert not db.table_exists("parent")
    assert "Recorded 001_parent" in ctx.out.text


def test_fake_then_real_run_builds_on_the_faked_state(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    db.execute_sql('CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)')
    commands.run(make_ctx(), to="001_parent", fake=True)
    assert commands.run(make_ctx()) == 0
    assert columns(db, "parent") == ["id", "name", "note"]
    assert db.table_exists("child")


def test_rollback_reverts_the_last_migration(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    ctx = make_ctx()
    assert commands.rollback(ctx) == 0
    assert applied_names(db) == ["001_parent", "002_parent_note"]
    assert not db.table_exists("child")
    assert "Database is now at 002_parent_note." in ctx.out.text


def test_rollback_steps_reverts_the_last_n(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.rollback(make_ctx(), steps=2) == 0
    assert applied_names(db) == ["001_parent"]
    assert columns(db, "parent") == ["id", "name"]


def test_rollback_to_named_migration_reverts_later_ones(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.rollback(make_ctx(), to="001_parent") == 0
    assert applied_names(db) == ["001_parent"]
    assert not db.table_exists("child")


def test_rollback_to_zero_reverts_everything(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.rollback(make_ctx(), to="zero") == 0
    assert applied_names(db) == []
    assert not db.table_exists("parent")


def test_rollback_to_unknown_name_reverts_nothing(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    with pytest.raises(AppError, match="No applied migration named '009_x'; nothing was reverted"):
        commands.rollback(make_ctx(), to="009_x")
    with pytest.raises(AppError, match=r"No applied migration named '01' \(01 is refused: with a leading 0 and fewer "
                                       r"than three digits .* such as 001 or 010; write all three digits\)"):
        commands.rollback(make_ctx(), to="01")
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]


def test_rollback_more_steps_than_applied_reverts_nothing(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    with pytest.raises(AppError, match="Cannot revert 4 migrations: only 3 applied; nothing was reverted"):
        commands.rollback(make_ctx(), steps=4)
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]


def test_rollback_with_nothing_applied_says_so(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    ctx = make_ctx()
    assert commands.rollback(ctx) == 0
    assert ctx.out.text == "Nothing to roll back: no migration is applied."


def test_run_rollback_run_round_trip_keeps_schema(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    before = {t: columns(db, t) for t in ("parent", "child")}
    commands.rollback(make_ctx(), to="zero")
    commands.run(make_ctx())
    assert {t: columns(db, t) for t in ("parent", "child")} == before


def test_failed_migration_leaves_database_as_after_the_previous_one(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    db.execute_sql("INSERT INTO parent (name, note) VALUES ('kept', 'n')")
    write_migration(migrations_dir, "004_broken", '''
migrator.add_fields("parent", extra=pw.IntegerField(null=True))
migrator.sql("UPDATE parent SET extra = 1")
migrator.sql("UPDATE no_such_table SET x = 1")
''')
    with pytest.raises(AppError) as failure:
        commands.run(make_ctx())
    message = str(failure.value)
    assert message.startswith("migrations/004_broken.py line 9 failed at: UPDATE no_such_table SET x = 1")
    assert "Nothing of 004_broken was changed" in message
    assert 'run "python manage.py migrate run" again' in message
    assert columns(db, "parent") == ["id", "name", "note"]
    assert db.execute_sql("SELECT name, note FROM parent").fetchall() == [("kept", "n")]
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]


def test_a_migration_that_would_leave_broken_references_fails_naming_its_file(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    write_migration(migrations_dir, "004_orphan", 'migrator.sql("INSERT INTO child (parent_id) VALUES (999)")')
    with pytest.raises(AppError) as failure:
        commands.run(make_ctx())
    message = str(failure.value)
    assert message.startswith("migrations/004_orphan.py") and "Nothing of 004_orphan was changed" in message
    if is_sqlite(db):  # foreign keys are off while SQLite migrates: the check after the migration finds it
        assert "IntegrityError: it would leave 1 rows pointing at missing rows (child -> parent)" in message
    assert db.execute_sql("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]


def test_failure_stops_the_run_after_the_last_good_migration(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    write_migration(migrations_dir, "004_broken", 'migrator.sql("SELECT * FROM missing_table")')
    write_migration(migrations_dir, "005_after", 'migrator.sql("CREATE TABLE after_broken (id INTEGER)")')
    with pytest.raises(AppError, match="004_broken"):
        commands.run(make_ctx())
    assert applied_names(db) == ["001_parent", "002_parent_note", "003_child"]
    assert not db.table_exists("after_broken")


def test_python_error_in_migration_names_file_and_line(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_typo", 'migrator.add_fields("nowhere", x=pw.IntegerField(null=True))')
    with pytest.raises(AppError) as failure:
        commands.run(make_ctx())
    assert str(failure.value).startswith("migrations/001_typo.py line 7 failed — ValueError: Model nowhere not found")
    assert applied_names(db) == []


def test_file_that_does_not_load_is_named(make_ctx, migrations_dir):
    (migrations_dir / "001_syntax.py").write_text("def migrate(:\n")
    with pytest.raises(AppError, match="migrations/001_syntax.py cannot be loaded: SyntaxError"):
        commands.run(make_ctx())


def test_status_exit_codes_follow_the_state(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    pending = make_ctx()
    assert commands.status(pending) == 1
    assert "Pending:  3" in pending.out.text and "  003_child" in pending.out.text
    commands.run(make_ctx())
    current = make_ctx()
    assert commands.status(current) == 0
    assert "Current:  003_child" in current.out.text
    assert "Up to date." in current.out.text


def test_status_masks_the_password(pg_url, migrations_dir):
    from analyzer.config import Settings
    from tests.conftest import Console

    with_password = pg_url.replace("postgres@", "postgres:s3cret@")
    ctx = commands.Context(settings=Settings(database_url=with_password), directory=migrations_dir, out=Console())
    assert commands.status(ctx) == 0
    ctx.close()
    assert ctx.out.lines[0] == "Database: " + pg_url.replace("postgres@", "postgres:***@")
    assert "s3cret" not in ctx.out.text


def test_status_cannot_connect_exits_2(migrations_dir):
    from analyzer.config import Settings
    from tests.conftest import Console

    ctx = commands.Context(settings=Settings(database_url="postgresql://u:secret@127.0.0.1:1/nope"),
                           directory=migrations_dir, out=Console())
    assert commands.status(ctx) == 2
    assert "Cannot connect to the database postgresql://u:***@127.0.0.1:1/nope" in ctx.out.text
    assert "secret" not in ctx.out.text


def test_history_row_without_file_is_a_clear_problem(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    (migrations_dir / "002_parent_note.py").unlink()
    status = make_ctx()
    assert commands.status(status) == 2
    assert ("history lists 002_parent_note but migrations/002_parent_note.py is missing: restore the file "
            "from version control") in status.out.text
    listing = make_ctx()
    assert commands.list_(listing) == 0
    assert "002_parent_note  [FILE MISSING]" in listing.out.text
    with pytest.raises(AppError, match="Cannot migrate: history lists 002_parent_note"):
        commands.run(make_ctx())
    with pytest.raises(AppError, match="Cannot migrate: history lists 002_parent_note"):
        commands.rollback(make_ctx())


def test_a_newer_versions_migrations_leave_this_version_nothing_to_run(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    (migrations_dir / "003_child.py").unlink()  # the database was migrated by the next version; this one lacks 003
    ctx = make_ctx()
    assert commands.run(ctx) == 0
    assert "Nothing to migrate: the database is at 003_child." in ctx.out.text
    assert "1 migration(s) newer than this code (003_child), applied by a newer version" in ctx.out.text
    assert commands.run(make_ctx(), dry_run=True) == 0
    for dry_run in (False, True):
        with pytest.raises(AppError, match="Cannot migrate: history lists 003_child"):
            commands.rollback(make_ctx(), dry_run=dry_run)
    write_migration(migrations_dir, "004_other", "pass")  # with a file pending, the order is unknown: refused
    with pytest.raises(AppError, match="Cannot migrate: history lists 003_child"):
        commands.run(make_ctx())


def test_files_sharing_a_number_are_flagged_and_block_runs(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    write_migration(migrations_dir, "003_other", "pass")
    listing = make_ctx()
    commands.list_(listing)
    assert "003_child  [DUPLICATE NUMBER]" in listing.out.text
    assert "003_other  [DUPLICATE NUMBER]" in listing.out.text
    assert commands.status(make_ctx()) == 2
    with pytest.raises(AppError, match=r"migration number 003 is used by 2 files \(003_child, 003_other\)"):
        commands.run(make_ctx())
    assert applied_names(db) == []


def test_list_shows_applied_with_time_and_pending(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    commands.run(make_ctx(), to="001_parent")
    ctx = make_ctx()
    assert commands.list_(ctx) == 0
    lines = ctx.out.lines
    assert lines[1].strip().startswith("applied 20") and lines[1].endswith("001_parent")
    assert lines[2].split() == ["pending", "002_parent_note"]
    assert lines[-1] == "1 applied, 2 pending."


def test_list_flags_a_file_edited_after_it_was_applied(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    path = migrations_dir / "001_parent.py"
    path.write_text(path.read_text() + "\n# edited\n")
    ctx = make_ctx()
    commands.list_(ctx)
    assert "001_parent  [EDITED AFTER IT WAS APPLIED]" in ctx.out.text


def test_history_lists_applied_oldest_first(make_ctx, migrations_dir):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    ctx = make_ctx()
    assert commands.history(ctx) == 0
    names = [line.split()[3] for line in ctx.out.lines[1:]]
    assert names == ["001_parent", "002_parent_note", "003_child"]
    assert all(" UTC " in line for line in ctx.out.lines[1:])


def test_history_table_records_checksum_and_duration(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    rows = history.applied(db)
    files = {f.name: f for f in mfiles.scan(migrations_dir)}
    assert [(r.name, r.checksum) for r in rows] == [(name, files[name].checksum) for name in files]
    assert all(r.duration_ms >= 0 for r in rows)


def test_concurrent_index_with_other_options_is_refused_with_the_way_out(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_parent", CREATE_PARENT, 'migrator.remove_model("parent")')
    write_migration(migrations_dir, "002_partial",
                    'migrator.add_index("parent", "name", concurrently=True, where=pw.SQL("name IS NOT NULL"))',
                    'migrator.drop_index("parent", "name")', header="TRANSACTION = False")
    ctx = make_ctx()
    with pytest.raises(AppError) as failure:
        commands.run(ctx)
    assert "add_index with concurrently=True takes no where: write that index with migrator.sql(" in str(failure.value)
    assert [r.name for r in history.applied(db)] == ["001_parent"]


def test_a_type_change_of_a_not_null_column_keeps_one_not_null_and_its_rollback_the_first_schema(
        make_ctx, migrations_dir, db):
    # SQLite's rebuild wrote "name" VARCHAR(80) NOT NULL NOT NULL (a type change, then NOT NULL asked again).
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    assert commands.run(make_ctx()) == 0
    before = [(c.name, c.data_type, c.null) for c in db.get_columns("items")]
    write_migration(migrations_dir, "002_wider", 'migrator.change_fields("items", name=pw.CharField(max_length=80))',
                    'migrator.change_fields("items", name=pw.CharField(max_length=50))')
    write_migration(migrations_dir, "003_price", 'migrator.add_not_null("items", "price")',
                    'migrator.drop_not_null("items", "price")')
    assert commands.run(make_ctx()) == 0
    if is_sqlite(db):
        schema = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()[0]
        assert "NOT NULL NOT NULL" not in schema and '"name" VARCHAR(80) NOT NULL' in schema
    assert commands.rollback(make_ctx(), steps=2) == 0
    assert [(c.name, c.data_type, c.null) for c in db.get_columns("items")] == before


def test_rollback_refuses_a_migration_edited_after_it_was_applied(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    db.execute_sql("INSERT INTO parent (name, note) VALUES ('kept', 'n')")
    path = migrations_dir / "002_parent_note.py"
    path.write_text(path.read_text().replace('migrator.remove_fields("parent", "note")',
                                             'migrator.remove_fields("parent", "name")'))
    for dry_run in (True, False):  # its rollback() now drops another migration's column
        with pytest.raises(AppError) as refused:
            commands.rollback(make_ctx(), steps=2, dry_run=dry_run)
        assert str(refused.value).startswith("Cannot roll back: 002_parent_note was edited after it was applied")
        assert "git log -p -- migrations/002_parent_note.py" in str(refused.value)
    assert commands.rollback(make_ctx()) == 0  # 003 alone was not edited
    assert db.execute_sql("SELECT name, note FROM parent").fetchall() == [("kept", "n")]
    ctx = make_ctx()
    assert commands.rollback(ctx, allow_edited=True) == 0
    # It said "its changes will not run" and then ran the edited rollback(), as the flag asks.
    assert ("Note: 002_parent_note was edited after it was applied; --allow-edited rolls it back with the "
            "rollback() the file has now.") in ctx.out.text
    assert "Warning: 002_parent_note" not in ctx.out.text
    assert columns(db, "parent") == ["id", "note"]


@pytest.mark.parametrize("recorded", [False, True])
def test_run_refuses_to_take_over_tables_it_did_not_make(make_ctx, migrations_dir, db, recorded):
    three_migrations(migrations_dir)
    if recorded:  # two migrations are applied; the third creates a table someone made by hand
        commands.run(make_ctx(), to="002_parent_note")
    table = "child" if recorded else "parent"
    db.execute_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT)")
    db.execute_sql(f"INSERT INTO {table} (id, email) VALUES (1, 'a@b.c')")
    with pytest.raises(AppError) as refused:
        commands.run(make_ctx())
    if recorded:
        assert str(refused.value) == (
            "003_child creates the table child, which the database has already, so something else made it: check "
            "DATABASE_URL. If this database does hold the schema of these migrations, record them without running "
            "them: python manage.py migrate run --fake; otherwise rename or drop that table. Nothing of 003_child was "
            "changed.")
    else:  # before any migration runs
        assert str(refused.value).startswith("Cannot migrate: no migration is recorded in ")
        assert "yet it has the table(s) parent that these migrations create" in str(refused.value)
        assert db.get_tables() == ["parent"]
    assert applied_names(db) == (["001_parent", "002_parent_note"] if recorded else [])
    assert db.execute_sql(f"SELECT email FROM {table}").fetchall() == [("a@b.c",)]


@pytest.mark.parametrize("direction", ["migrate", "rollback"])
def test_a_read_only_database_is_named_as_the_cause_not_the_file(make_ctx, migrations_dir, db, direction):
    three_migrations(migrations_dir)
    commands.run(make_ctx(), to="002_parent_note")
    ctx = make_ctx()
    read_only = "PRAGMA query_only = 1" if is_sqlite(ctx.db) else "SET default_transaction_read_only = on"
    ctx.db.execute_sql(read_only)  # as a file without write permission, or a read-only replica, refuses
    with pytest.raises(AppError) as failure:
        commands.run(ctx) if direction == "migrate" else commands.rollback(ctx)
    name = "003_child" if direction == "migrate" else "002_parent_note"
    verb = "run" if direction == "migrate" else "rollback"
    assert f"Nothing of {name} was changed; the file is not at fault: the database cannot be written" in str(
        failure.value)
    assert str(failure.value).endswith(f'check its permissions and DATABASE_URL, then run "python manage.py migrate '
                                       f'{verb}" again.')
    assert "fix the file" not in str(failure.value) and "fix its rollback()" not in str(failure.value)
    assert applied_names(db) == ["001_parent", "002_parent_note"]


def test_a_sqlite_write_lock_held_too_long_is_named_as_the_cause(migrations_dir, sqlite_url):
    three_migrations(migrations_dir)
    writer = open_database(sqlite_url)
    ctx = commands.Context(settings=Settings(database_url=sqlite_url), directory=migrations_dir, out=Console())
    commands.run(ctx, to="002_parent_note")
    ctx.db.execute_sql("PRAGMA busy_timeout = 50")
    writer.execute_sql("BEGIN IMMEDIATE")  # the app or an import writing
    with pytest.raises(AppError) as failure:
        commands.run(ctx)
    writer.execute_sql("ROLLBACK")
    writer.close()
    assert "database is locked. Nothing of 003_child was changed; the file is not at fault: another connection held " \
           "SQLite's write lock" in str(failure.value)
    assert str(failure.value).endswith('run "python manage.py migrate run" again when it is done.')
    assert commands.run(ctx) == 0
    ctx.close()


def test_dry_run_names_a_table_it_did_not_make_as_run_does(make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx(), to="002_parent_note")
    db.execute_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, email TEXT)")
    with pytest.raises(AppError) as refused:
        commands.run(make_ctx(), dry_run=True)
    # Not wrapped as a failure of the file ("line 7 failed — AppError: …; fix the file"): the file is fine.
    assert str(refused.value).startswith("003_child creates the table child, which the database has already")
    assert str(refused.value).endswith("otherwise rename or drop that table. Nothing of 003_child was changed.")
    assert applied_names(db) == ["001_parent", "002_parent_note"]


def test_dropping_a_table_after_creating_its_successor_of_the_same_class_keeps_the_successor(migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    goods = CREATE_ITEMS.replace('"items"', '"goods"')
    write_migration(migrations_dir, "002_goods", goods + '\nmigrator.remove_model("items")\n')
    from analyzer.migrate import runner
    # the order migrate create wrote before it put drops first: the replay lost goods, and check saw drift
    assert [m._meta.table_name for m in runner.replay(db, mfiles.scan(migrations_dir)).orm] == ["goods"]


def test_changing_the_type_of_a_column_added_with_a_default_keeps_the_default(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_score", 'migrator.add_fields("items", score=pw.IntegerField(default=5))',
                    'migrator.remove_fields("items", "score")')
    write_migration(migrations_dir, "003_wider", 'migrator.change_fields("items", score=pw.BigIntegerField(default=5))',
                    'migrator.change_fields("items", score=pw.IntegerField(default=5))')
    commands.run(make_ctx())
    # SQLite's rebuild wrote the column from the field alone: NOT NULL without its DEFAULT 5
    db.execute_sql("INSERT INTO items (name) VALUES ('a')")
    commands.rollback(make_ctx())
    db.execute_sql("INSERT INTO items (name) VALUES ('b')")
    assert db.execute_sql("SELECT name, score FROM items ORDER BY id").fetchall() == [("a", 5), ("b", 5)]


def test_a_migration_outside_a_transaction_that_stops_partway_is_named_until_it_runs_through(
        make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    half = ('migrator.sql("CREATE TABLE half_one (id INTEGER)")\n'
            'migrator.sql("CREATE TABLE half_two (id INTEGER, nonsense")')
    write_migration(migrations_dir, "004_half", half, header="TRANSACTION = False")
    with pytest.raises(AppError):
        commands.run(make_ctx())
    ctx = make_ctx()
    assert commands.status(ctx) == 1
    # Before, status listed it as pending like any other, with nothing to say that half_one was there.
    assert ("Warning: 004_half stopped partway at " in ctx.out.text
            and "(TRANSACTION = False) and it is still pending; 1 statement(s) of it stayed applied: CREATE TABLE "
                "half_one (id INTEGER). Make them idempotent (IF NOT EXISTS) or undo them by hand" in ctx.out.text)
    with pytest.raises(AppError) as again:
        commands.run(make_ctx())
    assert ("0 earlier statement(s) stayed applied; an earlier run that stopped partway had left 1 applied (CREATE "
            "TABLE half_one (id INTEGER))") in str(again.value)
    write_migration(migrations_dir, "004_half", half.replace("TABLE half_one", "TABLE IF NOT EXISTS half_one")
                    .replace("nonsense", "note TEXT)"), header="TRANSACTION = False")
    assert commands.run(make_ctx()) == 0
    ctx = make_ctx()
    assert commands.status(ctx) == 0
    assert "Warning" not in ctx.out.text
    assert history.halfway(db) == {}


def t1_applied(make_ctx, migrations_dir, then, header="TRANSACTION = False"):
    """Apply 001-003 and 004_tables, outside a transaction: it makes t1; its rollback drops t1, then runs THEN."""
    three_migrations(migrations_dir)
    write_migration(migrations_dir, "004_tables", 'migrator.sql("CREATE TABLE t1 (id INTEGER)")',
                    'migrator.sql("DROP TABLE t1")\n' + then, header=header)
    commands.run(make_ctx())


def test_a_rollback_outside_a_transaction_that_stops_partway_is_named_and_a_failure_in_a_transaction_is_not(
        make_ctx, migrations_dir, db):
    t1_applied(make_ctx, migrations_dir, 'migrator.sql("DROP TABLE no_such_table")')
    with pytest.raises(AppError) as failure:
        commands.rollback(make_ctx())
    assert "It is still recorded as applied" in str(failure.value)
    ctx = make_ctx()
    assert commands.status(ctx) == 0
    assert ("Warning: The rollback of 004_tables stopped partway at " in ctx.out.text
            and "and it is still applied; 1 statement(s) of it stayed applied: DROP TABLE t1." in ctx.out.text)
    write_migration(migrations_dir, "005_broken", 'migrator.sql("CREATE TABLE t2 (id INTEGER)")\n'
                                                 'migrator.sql("UPDATE no_such_table SET x = 1")')
    with pytest.raises(AppError):
        commands.run(make_ctx())
    assert list(history.halfway(db)) == ["004_tables"]


def test_a_ctrl_c_in_a_rollback_outside_a_transaction_says_it_is_still_applied_and_status_names_what_ran(
        make_ctx, migrations_dir, db):
    t1_applied(make_ctx, migrations_dir, "migrator.run(signal.raise_signal, signal.SIGINT)",
               "TRANSACTION = False\nimport signal")
    with pytest.raises(KeyboardInterrupt) as stopped:
        commands.rollback(make_ctx())
    assert "stay applied (migrate status lists them) and it is still recorded as applied" in str(stopped.value)
    ctx = make_ctx()
    commands.status(ctx)
    assert "1 statement(s) of it stayed applied: DROP TABLE t1." in ctx.out.text


def test_the_note_of_what_stayed_applied_is_written_even_when_a_ctrl_c_cancel_lands_on_its_first_try(
        make_ctx, migrations_dir, db, monkeypatch):
    t1_applied(make_ctx, migrations_dir, "migrator.run(signal.raise_signal, signal.SIGINT)",
               "TRANSACTION = False\nimport signal")
    note, calls = history.note_halfway, []

    def cancelled_twice(*args):
        calls.append(args)
        if len(calls) <= 2:  # the note as the statement ran, then the first after the stop: the late cancel's answer
            raise pw.OperationalError("canceling statement due to user request")
        note(*args)

    monkeypatch.setattr(history, "note_halfway", cancelled_twice)
    with pytest.raises(KeyboardInterrupt):
        commands.rollback(make_ctx())
    assert len(calls) == 3
    assert [(row.direction, row.statements) for row in history.halfway(db).values()] == [("rollback", "DROP TABLE t1")]


def test_a_type_change_that_would_rewrite_stored_values_is_refused_on_both_databases(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.run(make_ctx())
    db.execute_sql("INSERT INTO items (name, price) VALUES ('007', 1), ('12.50', 2), ('12', 3)")
    write_migration(migrations_dir, "002_name_to_int", 'migrator.change_fields("items", name=pw.IntegerField())',
                    'migrator.change_fields("items", name=pw.CharField(max_length=50))')
    with pytest.raises(AppError) as refused:
        commands.run(make_ctx())
    if is_sqlite(db):  # it stored 7 and 12.5, said "Applied", and the rollback gave back '7' and '12.5'
        assert ("changing items.name to INTEGER would rewrite 2 stored value(s) (SQLite converts them as it copies "
                "the table: '007', for one, would not stay as it is)") in str(refused.value)
    assert "Nothing of 002_name_to_int was changed" in str(refused.value)
    assert db.execute_sql("SELECT name FROM items ORDER BY id").fetchall() == [("007",), ("12.50",), ("12",)]
    if not is_sqlite(db):
        return  # PostgreSQL refuses text to integer whatever the values ("You might need to specify USING")
    db.execute_sql("UPDATE items SET name = '7' WHERE name = '007'")
    db.execute_sql("UPDATE items SET name = '13' WHERE name = '12.50'")
    assert commands.run(make_ctx()) == 0
    assert db.execute_sql("SELECT name FROM items ORDER BY id").fetchall() == [(7,), (13,), (12,)]


def test_a_migration_outside_a_transaction_killed_partway_is_named_by_status_and_the_next_run(
        make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    # SystemExit, like a kill -9, runs none of the runner's handlers: only what was noted as it went is left.
    write_migration(migrations_dir, "004_slow", 'migrator.sql("CREATE TABLE slow_one (id INTEGER)")\n'
                    'migrator.run(sys.exit, 9)\nmigrator.sql("CREATE TABLE slow_two (id INTEGER)")',
                    header="TRANSACTION = False\nimport sys")
    with pytest.raises(SystemExit):
        commands.run(make_ctx())
    ctx = make_ctx()
    commands.status(ctx)
    # Before, status listed it as pending like any other, and the next run said "0 earlier statement(s)".
    assert "Warning: 004_slow stopped partway at " in ctx.out.text
    assert "1 statement(s) of it stayed applied: CREATE TABLE slow_one (id INTEGER)." in ctx.out.text
    with pytest.raises(AppError) as again:
        commands.run(make_ctx())
    assert ("0 earlier statement(s) stayed applied; an earlier run that stopped partway had left 1 applied "
            "(CREATE TABLE slow_one (id INTEGER))") in str(again.value)


def test_a_type_change_and_its_rollback_leave_a_column_without_a_database_default_without_one(
        make_ctx, migrations_dir, db):
    with_score = CREATE_ITEMS.replace("    price = ", "    score = pw.IntegerField(default=0)\n    price = ")
    write_migration(migrations_dir, "001_items", with_score, 'migrator.remove_model("items")')
    commands.run(make_ctx())

    def score_default():
        return next(c.default for c in db.get_columns("items") if c.name == "score")

    assert score_default() is None  # create_model writes no database default
    write_migration(migrations_dir, "002_wider", 'migrator.change_fields("items", score=pw.BigIntegerField(default=0))',
                    'migrator.change_fields("items", score=pw.IntegerField(default=0))')
    commands.run(make_ctx())
    assert score_default() is None  # PostgreSQL had "DEFAULT 0" here, and after the rollback too
    commands.rollback(make_ctx())
    assert score_default() is None


def test_a_note_of_a_stop_partway_goes_when_the_migration_is_recorded_by_fake_or_renumbered(
        make_ctx, migrations_dir, db):
    three_migrations(migrations_dir)
    commands.run(make_ctx())
    write_migration(migrations_dir, "004_half", 'migrator.sql("CREATE TABLE half_one (id INTEGER)")\n'
                    'migrator.sql("CREATE TABLE half_two (id INTEGER, nonsense")', header="TRANSACTION = False")
    with pytest.raises(AppError):
        commands.run(make_ctx())
    (migrations_dir / "004_half.py").rename(migrations_dir / "005_half.py")  # renumbered before it reached main
    ctx = make_ctx()
    commands.status(ctx)
    assert "Warning" not in ctx.out.text  # the note names a file that is gone
    db.execute_sql("CREATE TABLE half_two (id INTEGER)")  # finished by hand, then recorded without running
    assert commands.run(make_ctx(), fake=True) == 0
    ctx = make_ctx()
    commands.status(ctx)
    # It said "Warning: 004_half stopped partway … and it is still pending" on every status and run after.
    assert "Warning" not in ctx.out.text


def test_the_statements_of_a_table_rebuild_that_was_rolled_back_are_not_listed_as_applied(
        make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.run(make_ctx())
    db.execute_sql("INSERT INTO items (name, price) VALUES ('a', NULL)")
    write_migration(migrations_dir, "002_required", 'migrator.sql("CREATE TABLE t1 (id INTEGER)")\n'
                    'migrator.add_not_null("items", "price")', header="TRANSACTION = False")
    with pytest.raises(AppError) as failure:
        commands.run(make_ctx())
    # On SQLite the rebuild's CREATE TABLE "items__tmp__" … were listed as staying applied, though rolled back.
    assert "1 earlier statement(s) stayed applied (CREATE TABLE t1 (id INTEGER))" in str(failure.value)
    assert [row.statements for row in history.halfway(db).values()] == ["CREATE TABLE t1 (id INTEGER)"]
    assert "items__tmp__" not in db.get_tables()  # SQLite's rebuild, stopped at its copy, left it behind
