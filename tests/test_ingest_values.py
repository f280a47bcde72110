"""Field parsing: timestamps, numbers, money, countries, devices and channels."""

import datetime as dt
from decimal import Decimal

import pytest

from analyzer import localtime
from analyzer.ingest import values


@pytest.mark.parametrize("text,expected", [
    ("2019-10-01 00:00:00 UTC", dt.datetime(2019, 10, 1)),
    ("2026-03-01T12:30:00Z", dt.datetime(2026, 3, 1, 12, 30)),
    ("2026-03-01T12:30:00+02:00", dt.datetime(2026, 3, 1, 10, 30)),
    ("2026-03-01 12:30:00.250000", dt.datetime(2026, 3, 1, 12, 30, 0, 250000)),
    ("1473757371", dt.datetime(2016, 9, 13, 9, 2, 51)),
    ("1473757371123", dt.datetime(2016, 9, 13, 9, 2, 51, 123000)),
    ("1473757371123456", dt.datetime(2016, 9, 13, 9, 2, 51, 123456)),
    ("20160913", dt.datetime(2016, 9, 13)),
    ("1473757371.5", dt.datetime(2016, 9, 13, 9, 2, 51, 500000)),  # epoch seconds with a fraction, a JSON float
    ("1473757371.1234567", dt.datetime(2016, 9, 13, 9, 2, 51, 123457)),
])
def test_timestamps_become_naive_utc(text, expected):
    assert values.parse_timestamp(text) == expected


def test_times_without_offset_are_read_in_the_given_zone_across_dst():
    berlin = localtime.zone("Europe/Berlin")
    assert values.parse_timestamp("2026-03-29 01:30:00", berlin) == dt.datetime(2026, 3, 29, 0, 30)
    assert values.parse_timestamp("2026-03-29 03:30:00", berlin) == dt.datetime(2026, 3, 29, 1, 30)
    assert values.parse_timestamp("2026-10-25 12:00:00", berlin) == dt.datetime(2026, 10, 25, 11, 0)


@pytest.mark.parametrize("name", ["Mars/Olympus", "localtime", "posixrules", "posix/Europe/Berlin", "right/UTC"])
def test_unknown_time_zone_is_refused(name):
    # localtime and posixrules are files of the zone database that stand for the server's own setting.
    with pytest.raises(ValueError, match=f"unknown time zone '{name}'"):
        localtime.zone(name)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "12/31/2026 5pm"])
def test_bad_timestamps_say_what_is_expected(text):
    with pytest.raises(ValueError, match="not a date and time"):
        values.parse_timestamp(text)


def test_imported_times_start_on_the_first_day_the_dashboard_shows_in_any_zone():
    from analyzer.web.params import FIRST_DAY
    assert values.parse_timestamp("1971-01-01T00:00:00Z") == dt.datetime(1971, 1, 1)
    with pytest.raises(ValueError, match="between 1971-01-01 and 2999-12-31"):
        values.parse_timestamp("1970-12-31T23:59:59Z")
    assert (values.EARLIEST - dt.timedelta(hours=14)).date() >= FIRST_DAY  # Pacific/Kiritimati to Etc/GMT+12


def test_counts_and_seconds():
    assert values.parse_count("7") == 7 and values.parse_count("7.0") == 7
    assert values.parse_seconds("-1") == 0 and values.parse_seconds("64.6") == 65
    for bad, parser, reason in (("-2", values.parse_count, "negative"), ("2.5", values.parse_count, "whole"),
                                ("-5", values.parse_seconds, "negative"), ("x", values.parse_seconds, "seconds")):
        with pytest.raises(ValueError, match=reason):
            parser(bad)


@pytest.mark.parametrize("text, expected", [("yes", True), ("N", False), ("3", True), ("0.0", False), ("inf", True)])
def test_flags_are_words_or_counts(text, expected):
    assert values.parse_bool(text) is expected


@pytest.mark.parametrize("text", ["NaN", "nan", "-nan", "maybe"])
def test_a_flag_that_is_not_a_count_is_refused(text):
    with pytest.raises(ValueError, match="not true or false"):  # NaN was read as "not converted"
        values.parse_bool(text)


def test_money_in_units_and_micros():
    assert values.parse_money("1,234.50") == Decimal("1234.50")
    assert values.parse_money("7500000", scale=1e-6) == Decimal("7.50")
    with pytest.raises(ValueError, match="not an amount"):
        values.parse_money("ten")


@pytest.mark.parametrize("text,amount", [
    ("12,50", "12.50"), ("12,5", "12.50"), ("1.234,50", "1234.50"), ("1.234.567,89", "1234567.89"),
    ("1,234", "1234.00"), ("1,234,567.8", "1234567.80"), ("12.50", "12.50"), ("-0", "0.00"),
])
def test_a_decimal_comma_and_thousands_separators_are_read_as_written(text, amount):
    assert str(values.parse_money(text)) == amount


@pytest.mark.parametrize("text", ["1,5,0", "1,23,456", "12,500.5,0", "1.234,5.0", "0,125"])
def test_an_amount_whose_comma_has_no_one_reading_is_refused(text):
    with pytest.raises(ValueError, match=r"not an amount \(write 1234.50, 1,234.50 or 1.234,50\)"):
        values.parse_money(text)


@pytest.mark.parametrize("text,code", [
    ("United States", "US"), ("de", "DE"), ("DEU", "DE"), ("Côte d’Ivoire", "CI"), ("Bosnia & Herzegovina", "BA"),
    ("Macedonia (FYROM)", "MK"), ("Myanmar (Burma)", "MM"), ("Russia", "RU"), ("South Korea", "KR"),
    ("Réunion", "RE"), ("Kosovo", "XK"), ("Trinidad & Tobago", "TT"), ("(not set)", None), ("", None),
])
def test_country_names_and_codes_become_alpha2(text, code):
    assert values.country_code(text) == code


def test_unknown_country_is_an_error():
    with pytest.raises(ValueError, match="not a known country"):
        values.country_code("Atlantis")


@pytest.mark.parametrize("device,agent,expected", [
    ("Mobile", None, "mobile"), ("desktop", None, "desktop"), (None, None, "unknown"),
    (None, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"),
    (None, "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet"),
    (None, "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36", "tablet"),
    (None, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "desktop"),
    (None, "Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"),
])
def test_device_from_column_or_user_agent(device, agent, expected):
    assert values.device_type(device, agent) == expected


@pytest.mark.parametrize("label,source,medium,referrer,expected", [
    ("Organic Search", None, None, None, "organic search"), ("(Other)", None, None, None, "other"),
    (None, "google", "cpc", None, "paid search"), (None, "google", "organic", None, "organic search"),
    (None, None, None, "https://www.bing.com/search?q=x", "organic search"),
    (None, "facebook", "paid_social", None, "paid social"), (None, None, None, "https://t.co/abc", "social"),
    (None, "newsletter", "email", None, "email"), (None, "partner", "affiliate", None, "affiliates"),
    (None, "news.example", "display", None, "display"), (None, "blog.example.org", "referral", None, "referral"),
    (None, None, None, "https://blog.example.org/post", "referral"), (None, "(direct)", "(none)", None, "direct"),
    (None, None, None, None, "direct"),
])
def test_channel_from_label_or_source_medium_referrer(label, source, medium, referrer, expected):
    assert values.channel(label, source, medium, referrer) == expected
