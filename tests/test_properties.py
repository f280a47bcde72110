"""Arbitrary input gives a clear error or a correct result: value parsers, readers, rows and URL parameters."""

import datetime as dt
import json
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analyzer import localtime
from analyzer.errors import AppError
from analyzer.ingest import readers, rows, values
from analyzer.web import params
from tests.test_ingest_import import db  # noqa: F401 (the migrated-database fixture)

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
NUMBERISH = st.one_of(TEXT, st.from_regex(r"\A[-+]?\d{0,25}(\.\d{0,5})?([eE][-+]?\d{1,4})?\Z"),
                      st.sampled_from(["nan", "inf", "-inf", "1e30", "1e400", "-1", "1_000", "٣", "²", "0x10"]))
STAMPS = st.one_of(TEXT, st.from_regex(r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2}| UTC)?\Z"),
                   st.from_regex(r"\A\d{9,22}\Z"), st.from_regex(r"\A\d{8}\Z"))
ZONES = st.sampled_from([values.UTC, localtime.zone("Europe/Berlin"), localtime.zone("Pacific/Kiritimati"),
                         localtime.zone("America/St_Johns")])


def parsed_or_refused(parser, text):
    """Return the parsed value, or None when the parser refused it with a ValueError (nothing else may escape)."""
    try:
        return parser(text)
    except ValueError as exc:
        assert str(exc), "a refusal says why"
        return None


@given(STAMPS, ZONES)
@example("9999-12-31T23:00:00-05:00", values.UTC)
@example("0001-01-01T00:30:00+05:00", values.UTC)
@example("9999-12-31 23:59:59", localtime.zone("Pacific/Kiritimati"))
@example("99999999999999999999", values.UTC)
def test_a_timestamp_is_a_naive_utc_time_from_1971_to_2999_or_a_clear_refusal(text, zone):
    value = parsed_or_refused(lambda t: values.parse_timestamp(t, zone), text)
    if value is not None:
        assert value.tzinfo is None and values.EARLIEST <= value <= values.LATEST
        assert value.date() + dt.timedelta(days=1) <= dt.date.max  # rollups step a day past any stored day


@given(NUMBERISH)
def test_counts_and_durations_fit_the_integer_columns(text):
    for parser in (values.parse_count, values.parse_seconds):
        value = parsed_or_refused(parser, text)
        assert value is None or (type(value) is int and 0 <= value <= values.MAX_INT)


@given(NUMBERISH, st.sampled_from([1, 1e-6]))
def test_amounts_fit_numeric_14_2(text, scale):
    value = parsed_or_refused(lambda t: values.parse_money(t, scale), text)
    if value is not None:
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2 and 0 <= value < values.MAX_AMOUNT


@given(TEXT)
def test_booleans_countries_devices_and_channels_never_crash(text):
    assert parsed_or_refused(values.parse_bool, text) in (True, False, None)
    code = parsed_or_refused(values.country_code, text)
    assert code is None or (len(code) == 2 and code.isupper())
    assert values.device_type(text or None, None) in values.DEVICE_WORDS.values() or not text
    assert values.channel(None, text, text, text) in set(values.CHANNELS.values()) | {"direct", "referral"}


HEADERS = ["session_id", "customer_id", "started_at", "ended_at", "duration", "pageviews", "events", "revenue",
           "converted", "country", "utm_source", "landing_page", "device", "channel"]


@settings(max_examples=300)
@given(st.lists(st.one_of(TEXT, NUMBERISH, STAMPS), min_size=len(HEADERS), max_size=len(HEADERS)))
def test_a_session_row_is_a_row_that_fits_its_columns_or_a_list_of_bad_fields(fields):
    from analyzer.ingest import columns

    mapping, components = columns.map_columns(HEADERS, "sessions")
    converter = rows.Converter(HEADERS, mapping, values.UTC)
    try:
        row = rows.session_row(converter, components, 2, fields, "0" * 64, None)
    except rows.Rejected as rejected:
        assert rejected.problems and all(p.line == 2 and p.column in HEADERS and p.reason for p in rejected.problems)
        return
    key, customer, started, ended, duration, *_ = row
    assert len(key) <= rows.MAX_KEY and len(customer) <= rows.MAX_KEY
    assert values.EARLIEST <= started <= values.LATEST and 0 <= duration <= values.MAX_INT
    assert ended is None or ended >= started
    assert not any(isinstance(v, str) and "\x00" in v for v in row)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


def read_all(path):
    """Read every record of a file; return them, or the AppError that refused the file."""
    try:
        source = readers.inspect(path)
        return list(readers.records(source))
    except AppError as exc:
        assert str(exc)
        return exc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".ndjson", ".json", ".txt", ""]))
def test_any_bytes_are_read_or_refused_with_a_clear_error(tmp_path, data, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    result = read_all(path)
    if not isinstance(result, AppError):
        headers, *records = result
        assert isinstance(headers, list)
        for number, record in records:
            assert number >= 1 and (isinstance(record, readers.BadRecord) or len(record) >= len(headers))


def has_fields(item):
    """Tell whether a JSON object has a value that is not an object, at any depth."""
    return any(not isinstance(value, dict) or has_fields(value) for value in item.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(JSON, min_size=1, max_size=6))
def test_any_json_lines_become_rows_or_bad_records(tmp_path, items):
    path = tmp_path / "input.ndjson"
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n", encoding="utf-8")
    result = read_all(path)
    if isinstance(result, AppError):  # refused only when no record has a field (an empty object nested is none)
        assert not any(isinstance(i, dict) and has_fields(i) for i in items[:200])
        return
    headers, *records = result
    assert [n for n, _ in records] == [n for n, i in enumerate(items, 1)]
    for (number, record), item in zip(records, items):
        assert isinstance(record, readers.BadRecord) == (not isinstance(item, dict))


PARAMS = st.dictionaries(
    st.sampled_from(["period", "from", "to", "compare", "interval", "channel", "-device", "country", "source",
                     "nonsense", "limit", "sort"]),
    st.one_of(TEXT, st.sampled_from(["7d", "30d", "90d", "12m", "ytd", "all", "previous", "year", "none", "day",
                                     "week", "month", "hour", "2026-03-01", "2026-02-30", "0001-01-01",
                                     "9999-12-31", "google|bing", "-", "|"])),
    max_size=6)


# period=all asks the database for its span: the test's own, not whichever an earlier test left bound.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=PARAMS)
def test_any_url_parameters_give_a_query_or_a_message_for_the_user(db, raw):  # noqa: F811
    try:
        query = params.parse_query(raw, today=dt.date(2026, 3, 15))
    except params.QueryError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert query.start <= query.end
    again = params.parse_query(dict(_pairs(params.query_string(query))), today=dt.date(2026, 3, 15))
    assert (again.start, again.end, again.compare, again.filters) == (query.start, query.end, query.compare,
                                                                       query.filters)


def _pairs(text):
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True)
