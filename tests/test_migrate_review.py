"""SQL preview, dry runs, stamp, integrity and the CI check, on SQLite and PostgreSQL."""

import pytest

from analyzer.errors import AppError
from analyzer.migrate import commands, history, integrity, review
from analyzer.migrate.files import scan
from tests.conftest import CREATE_ITEMS, write_migration



def two_migrations(directory):
    write_migration(directory, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(directory, "002_items_note", 'migrator.add_fields("items", note=pw.TextField(null=True))',
                    'migrator.remove_fields("items", "note")')


def snapshot(db):
    """Tables, their columns, the history and the rows: what a preview must not change."""
    tables = sorted(db.get_tables())
    return (
        tables,
        {t: [c.name for c in db.get_columns(t)] for t in tables},
        [r.name for r in history.applied(db)],
        db.execute_sql("SELECT * FROM items ORDER BY id").fetchall() if "items" in tables else None,
    )


def test_sql_shows_pending_statements_and_changes_nothing(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx(), to="001_items")
    db.execute_sql("INSERT INTO items (name) VALUES ('kept')")
    before = snapshot(db)
    ctx = make_ctx()
    assert review.sql(ctx) == 0
    assert ctx.out.lines[0] == "-- migrations/002_items_note.py: apply, in a transaction"
    assert 'ALTER TABLE "items" ADD COLUMN "note" TEXT;' in ctx.out.lines
    assert ctx.out.lines[-1].startswith("-- Preview only: nothing was changed")
    assert snapshot(db) == before


def test_sql_rollback_shows_the_revert_and_changes_nothing(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    before = snapshot(db)
    ctx = make_ctx()
    assert review.sql(ctx, "002_items_note", rollback=True) == 0
    assert ctx.out.lines[0] == "-- migrations/002_items_note.py: roll back, in a transaction"
    assert any(line.startswith('ALTER TABLE "items" DROP COLUMN "note"') for line in ctx.out.lines)
    assert any(line.startswith('CREATE TABLE "_archive_002_items__note"') for line in ctx.out.lines) is False
    assert snapshot(db) == before


def test_sql_of_a_drop_shows_the_archive_copy(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    write_migration(migrations_dir, "003_drop_note", 'migrator.remove_fields("items", "note")',
                    'migrator.add_fields("items", note=pw.TextField(null=True))')
    before = snapshot(db)
    ctx = make_ctx()
    review.sql(ctx)
    assert 'CREATE TABLE "_archive_003_items__note" AS SELECT "id", "note" FROM "items";' in ctx.out.lines
    assert snapshot(db) == before


def test_run_dry_run_applies_nothing(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    ctx = make_ctx()
    assert commands.run(ctx, dry_run=True) == 0
    assert "-- migrations/001_items.py: apply, in a transaction" in ctx.out.lines
    assert any(line.startswith('CREATE TABLE IF NOT EXISTS "items"') for line in ctx.out.lines)
    assert not db.table_exists("items")
    assert history.applied(db) == []


def test_rollback_dry_run_reverts_nothing(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    ctx = make_ctx()
    assert commands.rollback(ctx, to="zero", dry_run=True) == 0
    assert ctx.out.lines[0] == "-- migrations/002_items_note.py: roll back, in a transaction"
    assert 'DROP TABLE IF EXISTS "items";' in ctx.out.lines or 'DROP TABLE "items";' in ctx.out.lines \
        or any(line.startswith('DROP TABLE "items"') for line in ctx.out.lines)
    assert [r.name for r in history.applied(db)] == ["001_items", "002_items_note"]
    assert db.table_exists("items")


def test_sql_of_an_applied_migration_points_to_rollback(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    with pytest.raises(AppError, match="001_items is already applied; see what reverting it runs with --rollback"):
        review.sql(make_ctx(), "001_items")


def test_stamp_records_without_running(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    ctx = make_ctx()
    assert commands.stamp(ctx, "001_items") == 0
    assert [r.name for r in history.applied(db)] == ["001_items"]
    assert not db.table_exists("items")
    assert "record as applied: 001_items" in ctx.out.text


def test_stamp_back_removes_later_history_rows_only(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    assert commands.stamp(make_ctx(), "1") == 0
    assert [r.name for r in history.applied(db)] == ["001_items"]
    assert "note" in [c.name for c in db.get_columns("items")]


def test_stamp_unknown_name_records_nothing(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    with pytest.raises(AppError, match="No migration named '009'; nothing was recorded"):
        commands.stamp(make_ctx(), "009")
    assert history.applied(db) == []


def test_stamp_in_production_without_yes_refuses(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    with pytest.raises(AppError, match="Pass --yes"):
        commands.stamp(make_ctx(app_env="production"), "002")
    assert history.applied(db) == []
    assert commands.stamp(make_ctx(app_env="production", yes=True), "002") == 0


def test_prune_missing_shows_then_removes_rows_without_file(make_ctx, migrations_dir, db):
    two_migrations(migrations_dir)
    commands.run(make_ctx())
    (migrations_dir / "002_items_note.py").unlink()
    ctx = make_ctx()
    assert commands.stamp(ctx, prune_missing=True) == 0
    assert ctx.out.lines[1] == "  002_items_note"
    assert [r.name for r in history.applied(db)] == ["001_items"]
    assert commands.status(make_ctx()) == 0


def test_check_passes_on_a_clean_project(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    integrity.write(migrations_dir, scan(migrations_dir))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 0, ctx.out.text
    assert ctx.out.lines[-1].startswith("migrate check: OK (2 migrations, models match, 2 pending")


def test_check_reports_drift_between_models_and_migrations(make_ctx, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    integrity.write(migrations_dir, scan(migrations_dir))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert "FAIL the models differ from the migrations (add column items.note)" in ctx.out.text


def test_check_reports_edited_and_unlisted_files(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    integrity.write(migrations_dir, scan(migrations_dir))
    path = migrations_dir / "001_items.py"
    path.write_text(path.read_text() + "# edited\n")
    write_migration(migrations_dir, "003_extra", "pass")
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert "FAIL migrations/001_items.py does not match migrations.sum" in ctx.out.text
    assert "FAIL migrations/003_extra.py is not in migrations.sum" in ctx.out.text


def test_check_reports_pending_numbered_below_applied(make_ctx, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "003_items_note", 'migrator.add_fields("items", note=pw.TextField(null=True))')
    commands.run(make_ctx())
    write_migration(migrations_dir, "002_late", "pass")
    integrity.write(migrations_dir, scan(migrations_dir))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert "FAIL 002_late is pending but numbered below the applied 003" in ctx.out.text
    ran = make_ctx()
    assert commands.run(ran) == 0  # applied, since deploys must go on, but not in silence
    assert "Note: 002_late is numbered below the applied 003, so it runs after it here" in ran.out.text
    assert "check\" fails on this" not in ran.out.text  # it passes once the file ran here


def test_check_sees_a_pending_file_below_an_applied_one_that_was_renumbered(make_ctx, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_items_note", 'migrator.add_fields("items", note=pw.TextField(null=True))')
    commands.run(make_ctx())
    (migrations_dir / "002_items_note.py").rename(migrations_dir / "003_items_note.py")  # the applied one moved up
    write_migration(migrations_dir, "002_late", "pass")
    integrity.write(migrations_dir, scan(migrations_dir))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert "FAIL 002_late is pending but numbered below the applied 003" in ctx.out.text


def test_check_reports_duplicate_numbers(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    write_migration(migrations_dir, "002_other", "pass")
    integrity.write(migrations_dir, scan(migrations_dir))
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    # It said "renumber the newer, unapplied one": this database cannot tell which one main has.
    assert ("FAIL migration number 002 is used by 2 files (002_items_note, 002_other): renumber the one not yet on "
            "main after the newest migration (git mv), then run python manage.py migrate sum") in ctx.out.text


def test_create_records_the_new_file_in_the_sum(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    integrity.write(migrations_dir, scan(migrations_dir))
    commands.create(make_ctx(models_module="tests.models_items"), "nothing", empty=True)
    assert integrity.mismatches(migrations_dir, scan(migrations_dir)) == []
    assert "003_nothing.py" in integrity.read(migrations_dir)


def sum_ending_in(directory, text):
    """Write two migrations and their sum, then append the bytes TEXT to the sum (what a merge or a hand left)."""
    two_migrations(directory)
    integrity.write(directory, scan(directory))
    with open(directory / integrity.SUM_FILE, "ab") as handle:
        handle.write(text)


def merge_conflict_in_the_sum(directory):
    """Leave migrations.sum as git leaves it when two branches each added a migration."""
    ours, theirs = b"0" * 64 + b"  003_ours.py", b"1" * 64 + b"  003_theirs.py"
    sum_ending_in(directory, b"<<<<<<< HEAD\n" + ours + b"\n=======\n" + theirs + b"\n>>>>>>> feature\n")


def test_check_names_a_merge_conflict_in_the_sum_and_how_to_fix_it(make_ctx, migrations_dir):
    merge_conflict_in_the_sum(migrations_dir)
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert ("FAIL migrations/migrations.sum line 4 is a merge conflict marker (<<<<<<<): keep the migration files of "
            "both branches") in ctx.out.text
    assert 'then rewrite the sum with "python manage.py migrate sum"' in ctx.out.text
    assert "the file is gone" not in ctx.out.text
    assert commands.write_sum(make_ctx()) == 0
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 0, ctx.out.text


def test_create_refuses_a_sum_with_a_merge_conflict_and_writes_nothing(make_ctx, migrations_dir):
    merge_conflict_in_the_sum(migrations_dir)
    before = (migrations_dir / integrity.SUM_FILE).read_text()
    with pytest.raises(AppError, match=r"Cannot create a migration: migrations/migrations.sum line 4 is a merge "
                                       r"conflict marker .*Nothing was written\.$"):
        commands.create(make_ctx(models_module="tests.models_items"), "nothing", empty=True)
    assert sorted(p.name for p in migrations_dir.glob("*.py")) == ["001_items.py", "002_items_note.py"]
    assert (migrations_dir / integrity.SUM_FILE).read_text() == before


def test_check_names_a_line_of_the_sum_that_is_no_entry(make_ctx, migrations_dir):
    sum_ending_in(migrations_dir, b"003_by_hand.py\n")
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert ("FAIL migrations/migrations.sum line 4 is not a SHA-256 and a file name ('003_by_hand.py')"
            in ctx.out.text)


def test_a_merge_conflict_in_the_sum_says_to_renumber_with_git_mv_not_with_create(make_ctx, migrations_dir):
    merge_conflict_in_the_sum(migrations_dir)
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert "renumber the one not yet on main after the newest migration with git mv" in ctx.out.text
    with pytest.raises(AppError) as refused:
        commands.create(make_ctx(models_module="tests.models_items"), "nothing", empty=True)
    assert '"migrate create"' not in ctx.out.text + str(refused.value)


def test_sum_rewrites_a_merge_conflict_and_names_the_lines_it_dropped(make_ctx, migrations_dir):
    merge_conflict_in_the_sum(migrations_dir)
    write_migration(migrations_dir, "003_ours", "pass")
    write_migration(migrations_dir, "004_theirs", "pass")  # renumbered after the merge
    ctx = make_ctx()
    assert commands.write_sum(ctx) == 0
    assert ctx.out.text == ("Wrote migrations/migrations.sum; changed: 003_ours.py; added: 004_theirs.py; "
                            "removed: 003_theirs.py; dropped 3 line(s) that were no entry (conflict markers or other "
                            "text): 4, 6, 8.")
    assert integrity.damage(migrations_dir) is None


def test_check_names_a_line_of_the_sum_that_is_not_utf8(make_ctx, migrations_dir):
    sum_ending_in(migrations_dir, "003_café.py\n".encode("latin-1"))  # saved by an editor in another encoding
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 1
    assert ("FAIL migrations/migrations.sum line 4 is not a SHA-256 and a file name ('003_caf\ufffd.py')"
            in ctx.out.text)


def test_sum_rewrites_a_sum_with_a_line_that_is_not_utf8(make_ctx, migrations_dir):
    sum_ending_in(migrations_dir, "003_café.py\n".encode("latin-1"))
    ctx = make_ctx()
    assert commands.write_sum(ctx) == 0
    assert ctx.out.text.endswith("; no entry changed; dropped 1 line(s) that were no entry (conflict markers or "
                                 "other text): 4.")
    assert integrity.damage(migrations_dir) is None


def test_check_and_create_accept_a_sum_entry_whose_file_name_has_spaces(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    write_migration(migrations_dir, "003_add note (v2)", "pass")  # a name migrate create never writes, yet valid
    assert commands.write_sum(make_ctx()) == 0
    assert integrity.damage(migrations_dir) is None
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 0, ctx.out.text
    assert commands.create(make_ctx(models_module="tests.models_items"), "nothing", empty=True) is not None


def test_check_reads_a_sum_saved_with_crlf_line_ends_trailing_spaces_and_a_bom(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    integrity.write(migrations_dir, scan(migrations_dir))
    path = migrations_dir / integrity.SUM_FILE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"  \r\n"))  # a Windows editor's save
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 0, ctx.out.text


def test_create_records_the_new_file_on_a_line_of_its_own_when_the_sum_lacks_a_last_newline(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    integrity.write(migrations_dir, scan(migrations_dir))
    path = migrations_dir / integrity.SUM_FILE
    path.write_text(path.read_text().rstrip("\n"))
    commands.create(make_ctx(models_module="tests.models_items"), "nothing", empty=True)
    assert sorted(integrity.read(migrations_dir)) == ["001_items.py", "002_items_note.py", "003_nothing.py"]
    ctx = make_ctx(models_module="tests.models_items")
    assert review.check(ctx) == 0, ctx.out.text


def test_an_index_made_by_add_index_goes_with_its_dropped_or_renamed_column(make_ctx, migrations_dir, db):
    # The replayed models kept add_index's entry after the column was gone: check and create stopped on a KeyError.
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_index_price", 'migrator.add_index("items", "price")',
                    'migrator.drop_index("items", "price")')
    write_migration(migrations_dir, "003_drop_price", 'migrator.remove_fields("items", "price")',
                    'migrator.add_fields("items", price=pw.IntegerField(null=True))')
    write_migration(migrations_dir, "004_index_name", 'migrator.add_index("items", "name")',
                    'migrator.drop_index("items", "name")')
    write_migration(migrations_dir, "005_rename_name", 'migrator.rename_field("items", "name", "title")',
                    'migrator.rename_field("items", "title", "name")')
    integrity.write(migrations_dir, scan(migrations_dir))
    assert commands.run(make_ctx()) == 0
    ctx = make_ctx(models_module="tests.models_items_titled")
    assert review.check(ctx) == 1  # the drop and the rename are lint errors, applied or not; the models match
    assert "models differ" not in ctx.out.text and "KeyError" not in ctx.out.text
    assert {"drop-column", "rename-column"} <= {line.split(": error ")[1].split(":")[0] for line in ctx.out.lines
                                                if line.startswith("FAIL")}
    ctx = make_ctx(models_module="tests.models_items_titled")
    assert commands.create(ctx, "nothing") == 0
    assert "No changes" in ctx.out.text
    assert sorted(scan(migrations_dir), key=lambda m: m.name)[-1].name == "005_rename_name"


def test_run_warns_that_an_edited_applied_migration_will_not_run(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    assert commands.run(make_ctx()) == 0
    path = migrations_dir / "002_items_note.py"
    edited = "note=pw.TextField(null=True), x=pw.IntegerField(null=True)"
    path.write_text(path.read_text().replace("note=pw.TextField(null=True)", edited))
    for dry_run in (False, True):
        ctx = make_ctx()
        assert commands.run(ctx, dry_run=dry_run) == 0
        assert ctx.out.lines[:2] == [
            "Warning: 002_items_note was edited after it was applied; its changes will not run. "
            "Add a new migration instead of editing it.",
            "Nothing to migrate: the database is at 002_items_note."], ctx.out.text


def test_create_needs_no_database_and_never_makes_one(migrations_dir, tmp_path):
    # A mistyped SQLite path made an empty database, which status then showed as "Pending: 9".
    from analyzer.config import Settings
    from tests.conftest import Console, NoTerminal
    two_migrations(migrations_dir)
    missing = tmp_path / "typo.db"
    ctx = commands.Context(settings=Settings(database_url=f"sqlite:///{missing}"), directory=migrations_dir,
                           models_module="tests.models_items_titled", out=Console(), stdin=NoTerminal(),
                           must_exist=True)
    assert commands.create(ctx, "title", rename=["items.name=title"]) == 0
    assert "migrator.rename_field('items', 'name', 'title')" in (migrations_dir / "003_title.py").read_text()
    assert not missing.exists()


def test_check_names_the_file_and_line_of_a_migration_it_cannot_read(make_ctx, migrations_dir):
    # It said only "Unexpected error: AttributeError: 'Migrator' object has no attribute 'add_feilds'".
    two_migrations(migrations_dir)
    write_migration(migrations_dir, "003_typo", 'migrator.add_feilds("items", x=pw.IntegerField(null=True))')
    integrity.write(migrations_dir, scan(migrations_dir))
    with pytest.raises(AppError) as error:
        review.check(make_ctx(models_module="tests.models_items"))
    assert str(error.value).startswith("migrations/003_typo.py line 7 cannot be read: AttributeError: 'Migrator' "
                                       "object has no attribute 'add_feilds'")


def test_models_that_cannot_be_imported_are_named_with_their_line(make_ctx, migrations_dir):
    two_migrations(migrations_dir)
    with pytest.raises(AppError) as error:
        commands.create(make_ctx(models_module="tests.models_broken"), "x")
    assert "tests/models_broken.py line 9) cannot be imported: AttributeError: module 'peewee' has no attribute " \
           "'CharFeld'" in str(error.value)


def test_a_migration_renumbered_after_it_was_applied_stays_applied_under_its_new_name(make_ctx, migrations_dir, db):
    # Two branches took number 002; the second renumbered its file to 003. The advice was stamp --prune-missing,
    # after which run applied 003 again and failed on its duplicate column.
    two_migrations(migrations_dir)
    assert commands.run(make_ctx()) == 0
    (migrations_dir / "002_items_note.py").rename(migrations_dir / "003_items_note.py")
    write_migration(migrations_dir, "002_items_size", 'migrator.add_fields("items", size=pw.IntegerField(null=True))',
                    'migrator.remove_fields("items", "size")')
    ctx = make_ctx()
    assert commands.status(ctx) == 1, ctx.out.text
    assert "Note: 002_items_note was renumbered to 003_items_note (same contents): it stays applied" in ctx.out.text
    assert "Pending:  1" in ctx.out.text and "Problem" not in ctx.out.text
    listed = make_ctx()
    commands.list_(listed)
    assert any(line.strip().startswith("applied") and line.endswith("003_items_note") for line in listed.out.lines)
    preview = make_ctx()
    assert commands.rollback(preview, steps=1, dry_run=True) == 0 and "003_items_note" in preview.out.text
    assert [r.name for r in history.applied(db)] == ["001_items", "002_items_note"]  # previews record nothing
    ran = make_ctx()
    assert commands.run(ran) == 0, ran.out.text
    assert ("Recorded 002_items_note under its new name 003_items_note (the file was renumbered; same contents)."
            in ran.out.lines)
    assert [r.name for r in history.applied(db)] == ["001_items", "003_items_note", "002_items_size"]
    assert {c.name for c in db.get_columns("items")} >= {"note", "size"}
    assert commands.rollback(make_ctx(), steps=2) == 0 and [r.name for r in history.applied(db)] == ["001_items"]



def test_only_one_missing_row_and_one_pending_file_of_the_same_name_and_contents_count_as_renumbered(
        make_ctx, migrations_dir, db):
    # Two applied no-op files with the same bytes were both paired with one new file: two history rows got its name.
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_noop", "pass")
    write_migration(migrations_dir, "003_noop", "pass")
    assert commands.run(make_ctx()) == 0
    for name in ("002_noop", "003_noop"):
        (migrations_dir / f"{name}.py").unlink()
    write_migration(migrations_dir, "004_noop", "pass")
    ctx = make_ctx()
    assert commands.status(ctx) == 2
    assert "history lists 002_noop but migrations/002_noop.py is missing" in ctx.out.text
    with pytest.raises(AppError, match="Cannot migrate: history lists 002_noop"):
        commands.run(make_ctx())
    assert [r.name for r in history.applied(db)] == ["001_items", "002_noop", "003_noop"]


def test_check_fails_on_a_lint_error_whether_or_not_this_database_applied_the_file(make_ctx, migrations_dir):
    with_legacy = CREATE_ITEMS.replace("    price = ", "    legacy = pw.TextField(null=True)\n    price = ")
    write_migration(migrations_dir, "001_items", with_legacy, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_items_note", 'migrator.add_fields("items", note=pw.TextField(null=True))\n'
                    'migrator.remove_fields("items", "legacy")',
                    'migrator.add_fields("items", legacy=pw.TextField(null=True))\n'
                    'migrator.remove_fields("items", "note")')
    integrity.write(migrations_dir, scan(migrations_dir))
    for run_first in (False, True):
        if run_first:
            commands.run(make_ctx())
        ctx = make_ctx(models_module="tests.models_items")
        # Once the developer had run it, check said OK here while CI, on a new database, failed on it.
        assert review.check(ctx) == 1, ctx.out.text
        assert "error drop-column: drop column items.legacy" in ctx.out.text
