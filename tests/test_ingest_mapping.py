"""Column mapping a user controls: unused columns listed, a missing customer column warned about, --map."""

import json

import pytest

from analyzer.errors import AppError
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions, parse_dry_run, parse_mapping, parse_year
from analyzer.models import CustomerSession, Import
from tests.conftest import ROOT, run_cli
from tests.test_ingest_import import db, write  # noqa: F401 (the migrated-database fixture)

SHOPIFY_TOKENS = ("session_token,user_token,session_started_at,total_sales,theme\n"
                  "t1,alice,2026-03-01T10:00:00Z,10.00,dawn\n"
                  "t2,alice,2026-03-02T10:00:00Z,0,dawn\n"
                  "t3,bob,2026-03-02T11:00:00Z,5.00,dawn\n")


def test_report_lists_unused_columns_and_warns_without_a_customer_column(db, tmp_path):  # noqa: F811
    report = importer.import_file(db, write(tmp_path, "shop.csv", SHOPIFY_TOKENS))
    assert report.unused_columns == ["user_token", "theme"]
    assert report.warnings == ["no customer column was found: every session counts as its own customer; name the "
                               "column with --map customer_id=COLUMN (on the upload page: Check columns first, then "
                               "choose it for customer_id; on the API: ?map=customer_id=COLUMN)"]
    assert sorted(s.customer_id for s in CustomerSession.select()) == ["t1", "t2", "t3"]
    notes = json.loads(Import.get().notes)
    assert (notes["unused_columns"], len(notes["warnings"])) == (["user_token", "theme"], 1)


def test_map_names_the_customer_column(db, tmp_path):  # noqa: F811
    options = ImportOptions(mapping=(("customer_id", "user_token"),))
    report = importer.import_file(db, write(tmp_path, "shop.csv", SHOPIFY_TOKENS), options)
    assert (report.unused_columns, report.warnings) == (["theme"], [])
    assert report.mapping["customer_id"] == "user_token"
    assert sorted(s.customer_id for s in CustomerSession.select()) == ["alice", "alice", "bob"]


def test_map_with_an_empty_column_leaves_a_field_out(db, tmp_path):  # noqa: F811
    options = ImportOptions(mapping=(("revenue", ""),))
    importer.import_file(db, write(tmp_path, "shop.csv", SHOPIFY_TOKENS), options)
    assert {s.revenue for s in CustomerSession.select()} == {0}


@pytest.mark.parametrize("pair, message", [
    (("customer", "user_token"), "sessions files have no field 'customer'"),
    (("customer_id", "nope"), "the file has no column 'nope'. Columns: session_token, user_token"),
])
def test_a_wrong_map_is_a_clear_error_and_writes_nothing(db, tmp_path, pair, message):  # noqa: F811
    with pytest.raises(AppError, match=message):
        importer.import_file(db, write(tmp_path, "shop.csv", SHOPIFY_TOKENS), ImportOptions(mapping=(pair,)))
    assert CustomerSession.select().count() == 0


def test_parse_mapping_refuses_one_field_mapped_to_two_columns():
    assert parse_mapping(["customer_id=uid", "customer_id=uid"]) == (("customer_id", "uid"),)
    with pytest.raises(AppError, match=r"--map 'customer_id=uid2': customer_id is mapped twice \(customer_id=uid "
                                       r"too\); keep one."):
        parse_mapping(["customer_id=uid", "customer_id=uid2"])


def test_parse_mapping_refuses_text_without_an_equals_sign():
    assert parse_mapping(["customer_id=user_token", "revenue="]) == (("customer_id", "user_token"), ("revenue", ""))
    with pytest.raises(AppError, match="write FIELD=COLUMN"):
        parse_mapping(["customer_id"])


def test_parse_mapping_repeats_at_most_80_characters_of_a_long_value():
    with pytest.raises(AppError) as failure:
        parse_mapping(["x" * 5000])
    assert str(failure.value) == (f"--map {'x' * 79 + '…'!r}: write FIELD=COLUMN, for example --map "
                                  "customer_id=user_token.")
    with pytest.raises(AppError) as failure:
        parse_mapping(["customer_id=uid", "customer_id=" + "u" * 5000])
    assert str(failure.value) == (f"--map {'customer_id=' + 'u' * 67 + '…'!r}: customer_id is mapped twice "
                                  "(customer_id=uid too); keep one.")


def test_year_and_dry_run_errors_repeat_at_most_80_characters_and_a_long_year_is_refused():
    with pytest.raises(AppError) as failure:
        parse_year("9" * 5000)  # int() of over 4,300 digits raised ValueError: a 500 on the API
    assert str(failure.value) == f"year {'9' * 79 + '…'!r}: give a year from 1971 to 2999, such as 2026."
    with pytest.raises(AppError) as failure:
        parse_dry_run("x" * 5000)
    assert str(failure.value).startswith(f"dry_run {'x' * 79 + '…'!r}: give 1 (or true)")
    assert parse_year(" 2026 ") == 2026 and parse_dry_run("TRUE") is True


@pytest.mark.parametrize("pair, message", [
    (("c" * 5000, "user_token"), f"--map {'c' * 79}…: sessions files have no field {'c' * 79 + '…'!r}. Fields: "),
    (("customer_id", "n" * 5000), f"--map customer_id={'n' * 67}…: the file has no column {'n' * 79 + '…'!r}. "),
], ids=["long field", "long column"])
def test_a_wrong_map_repeats_at_most_80_characters_of_a_long_value(db, tmp_path, pair, message):  # noqa: F811
    with pytest.raises(AppError) as failure:
        importer.import_file(db, write(tmp_path, "shop.csv", SHOPIFY_TOKENS), ImportOptions(mapping=(pair,)))
    assert str(failure.value).startswith(message) and len(str(failure.value)) < 600


def test_cli_map_is_repeatable_and_the_report_names_unused_columns(db_url, db, tmp_path):  # noqa: F811
    path = write(tmp_path, "shop.csv", SHOPIFY_TOKENS)
    result = run_cli(ROOT, "import", str(path), "--map", "customer_id=user_token", "--map", "revenue=",
                     env={"DATABASE_URL": db_url})
    assert result.code == 0, result.err
    assert "Columns not used: total_sales, theme" in result.out and "Warning" not in result.out
    assert sorted(s.customer_id for s in CustomerSession.select()) == ["alice", "alice", "bob"]
    warned = run_cli(ROOT, "import", str(path), "--dry-run", env={"DATABASE_URL": db_url})
    assert "Warning: no customer column was found: every session counts as its own customer; name the column " \
           "with --map customer_id=COLUMN (on the upload page" in warned.out
    bad = run_cli(ROOT, "import", str(path), "--map", "customer_id", env={"DATABASE_URL": db_url})
    assert bad.code != 0 and "write FIELD=COLUMN" in bad.err and "Traceback" not in bad.err


def test_cli_map_error_repeats_at_most_80_characters_of_a_long_value(db_url, db, tmp_path):  # noqa: F811
    path = write(tmp_path, "shop.csv", SHOPIFY_TOKENS)
    bad = run_cli(ROOT, "import", str(path), "--map", "x" * 5000, env={"DATABASE_URL": db_url})
    assert bad.code != 0 and f"--map {'x' * 79 + '…'!r}: write FIELD=COLUMN" in bad.err and "x" * 80 not in bad.err
