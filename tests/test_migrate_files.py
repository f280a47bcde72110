"""Migration file names: numbering, slugs, lookup by name or number."""

import pytest

from analyzer.errors import AppError
from analyzer.migrate import files


def make(tmp_path, *names):
    for name in names:
        (tmp_path / f"{name}.py").write_text("")
    return files.scan(tmp_path)


def test_scan_orders_by_number_and_ignores_other_files(tmp_path):
    (tmp_path / "README.md").write_text("")
    (tmp_path / "__init__.py").write_text("")
    found = make(tmp_path, "010_c", "002_b", "001_a")
    assert [f.name for f in found] == ["001_a", "002_b", "010_c"]


def test_next_number_follows_the_highest_not_the_count(tmp_path):
    assert files.next_number(make(tmp_path, "001_a", "007_b")) == 8
    assert files.next_number([]) == 1


def test_duplicate_numbers_are_reported(tmp_path):
    assert files.duplicate_numbers(make(tmp_path, "001_a", "002_b", "002_c")) == {2: ["002_b", "002_c"]}


@pytest.mark.parametrize("text,slug", [
    ("add referrer to sessions", "add_referrer_to_sessions"),
    ("Add Referrer!  (v2)", "add_referrer_v2"),
    ("Übersicht über Länder", "ubersicht_uber_lander"),
])
def test_slugify_makes_file_name_safe_slugs(text, slug):
    assert files.slugify(text) == slug


def test_slugify_refuses_a_name_without_letters():
    with pytest.raises(AppError, match="Cannot make a file name"):
        files.slugify("!!!")


def test_resolve_accepts_full_name_or_number(tmp_path):
    found = make(tmp_path, "001_a", "002_b")
    assert files.resolve(found, "002_b").name == "002_b"
    assert files.resolve(found, "2").name == "002_b"
    assert files.resolve(found, "002").name == "002_b"
    assert files.resolve(found, "003") is None
    assert files.resolve(found, "02") is None and files.resolve(found, "0002") is None
