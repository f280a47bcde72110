"""Turning the text of one field into a clean value, or a ValueError that says why not."""

import datetime as dt
import functools
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation

UTC = dt.timezone.utc
TRUE = {"1", "true", "t", "yes", "y"}
FALSE = {"0", "false", "f", "no", "n", ""}
cached = functools.lru_cache(maxsize=4096)  # field values repeat; the cache keeps memory bounded
MAX_INT = 2**31 - 1  # INTEGER columns
MAX_AMOUNT = 10**12  # NUMERIC(14, 2)
# Times outside these bounds are typos or placeholders; inside them, every day and its neighbours stay valid dates.
EARLIEST = dt.datetime(1971, 1, 1)  # the first day the dashboard shows
LATEST = dt.datetime(2999, 12, 31, 23, 59, 59, 999999)
OUT_OF_RANGE = "out of range (times must fall between 1971-01-01 and 2999-12-31 UTC)"
MISSING = {"", "(not set)", "not set", "(none)", "null", "none", "n/a", "na", "-", "undefined", "not available in demo dataset"}


def is_missing(text):
    """Tell whether a field holds no value."""
    return not text or text.strip().lower() in MISSING


def local_time_problem(text, tz):
    """Tell whether TEXT, read in zone TZ, is a local time that does not exist or exists twice (else None)."""
    value = text.strip()
    try:
        local = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if local.tzinfo is not None:
        return None
    first, second = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    # In a gap (spring forward) the two readings map back to other wall times; in an overlap, to this one.
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return "ambiguous" if back == local else "nonexistent"


def parse_timestamp(text, tz=UTC):
    """Parse ISO 8601, 'YYYY-MM-DD HH:MM:SS[ UTC]' or epoch s/ms/µs into a naive UTC datetime from 1971 to 2999."""
    try:
        parsed = _timestamp(text, tz)
    except OverflowError:  # a zone shift or an epoch past what datetime holds
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST <= parsed <= LATEST:
        raise ValueError(OUT_OF_RANGE)
    return parsed


def _timestamp(text, tz):
    if tz is UTC and len(text) >= 19 and text[10] in " T":
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) >= 9:
        number = int(value)
        if number > 10**18:
            raise OverflowError(value)
        seconds = number / 1e6 if number > 1e14 else number / 1e3 if number > 1e11 else number
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    whole, _, fraction = value.partition(".")
    if whole.isascii() and whole.isdigit() and 9 <= len(whole) <= 11 and fraction.isascii() and fraction.isdigit():
        # Epoch seconds with a fraction (1700000000.5, a JSON float): to the microsecond, as ISO times are.
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=round(Decimal(value) * 10**6))
    if value.endswith(" UTC") or value.endswith(" GMT"):
        value, tz = value[:-4], UTC
    elif value.endswith("Z"):
        value, tz = value[:-1], UTC
    if len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not a date and time (expected ISO 8601, YYYY-MM-DD HH:MM:SS or epoch seconds)") from None
    if parsed.tzinfo is None:
        if tz is UTC:
            return parsed
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC).replace(tzinfo=None)


@cached
def parse_count(text):
    """Parse a non-negative whole number ('3', '3.0')."""
    value = text.strip()
    try:
        number = float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        raise ValueError("not a whole number") from None
    if math.isnan(number) or math.isfinite(number) and number != int(number):
        raise ValueError("not a whole number")
    if number < 0:
        raise ValueError("must not be negative")
    if number > MAX_INT:
        raise ValueError("too large")
    return int(number)


@cached
def parse_seconds(text):
    """Parse a duration in whole seconds; -1 means 'not recorded' in analytics exports and counts as 0."""
    return int(round(exact_seconds(text)))


def exact_seconds(text):
    """Parse a duration in seconds with its fraction; -1 means 'not recorded' and counts as 0."""
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        raise ValueError("not a number of seconds") from None
    if math.isnan(number):
        raise ValueError("not a number of seconds")
    if number == -1:
        return 0
    if number < 0:
        raise ValueError("must not be negative")
    if number > MAX_INT:
        raise ValueError("too large")
    return number


# Amounts with a comma: thousands separators (1,234.50), or a decimal comma as European spreadsheets write them
# (12,50 and 1.234,50). Any other comma is refused: read either way, 1,5,0 would be a wrong figure.
THOUSANDS_COMMAS = re.compile(r"[1-9]\d{0,2}(,\d{3})+(\.\d+)?")  # not 0,125: a decimal comma's three decimals
DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}|\d{1,3}(\.\d{3})+,\d+")


@cached
def parse_money(text, scale=1):
    """Parse an amount ('12.50', '1,234.50', '12,50', '1.234,50', '7500000' in micros with scale=1e-6)."""
    value = text.strip()
    if "," in value:
        if THOUSANDS_COMMAS.fullmatch(value):
            value = value.replace(",", "")
        elif DECIMAL_COMMA.fullmatch(value):
            value = value.replace(".", "").replace(",", ".")
        else:
            raise ValueError("not an amount (write 1234.50, 1,234.50 or 1.234,50)")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("not an amount") from None
    if not amount.is_finite():
        raise ValueError("not an amount")
    if amount < 0:
        raise ValueError("must not be negative")
    amount *= Decimal(str(scale))
    if amount >= MAX_AMOUNT:  # checked before rounding, which fails past 28 digits
        raise ValueError("too large (at most 999,999,999,999.99)")
    return amount.quantize(Decimal("0.01")) + 0  # + 0: -0 is 0


@cached
def parse_bool(text):
    """Parse true/false, yes/no, 1/0 (and counts: more than 0 is true)."""
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    try:
        number = float(value)
    except ValueError:
        raise ValueError("not true or false") from None
    if math.isnan(number):  # NaN > 0 is False: a NaN flag was stored as "not converted"
        raise ValueError("not true or false")
    return number > 0


def _normal(name):
    name = name.replace("’", "").replace("'", "")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    ascii_name = re.sub(r"\(.*?\)", "", ascii_name.replace("&", " and "))
    return re.sub(r"[^a-z]+", " ", ascii_name).strip()


COUNTRY_ALIASES = {
    "russia": "RU", "south korea": "KR", "korea": "KR", "north korea": "KP", "laos": "LA", "vietnam": "VN",
    "brunei": "BN", "macau": "MO", "macao": "MO", "moldova": "MD", "palestine": "PS", "kosovo": "XK",
    "tanzania": "TZ", "iran": "IR", "syria": "SY", "venezuela": "VE", "bolivia": "BO", "taiwan": "TW",
    "macedonia": "MK", "north macedonia": "MK", "uk": "GB", "great britain": "GB", "england": "GB",
    "usa": "US", "us": "US", "united states of america": "US", "czech republic": "CZ", "ivory coast": "CI",
    "sint maarten": "SX", "turkey": "TR", "turkiye": "TR", "cape verde": "CV", "swaziland": "SZ",
    "burma": "MM", "myanmar": "MM", "holland": "NL", "the netherlands": "NL", "congo kinshasa": "CD",
    "congo brazzaville": "CG", "micronesia": "FM", "vatican": "VA", "st kitts and nevis": "KN",
    "st lucia": "LC", "st vincent and grenadines": "VC", "st helena": "SH", "st pierre and miquelon": "PM",
    "st barthelemy": "BL", "st martin": "MF", "u s virgin islands": "VI", "british virgin islands": "VG",
}


UNLISTED_COUNTRIES = {"XK": "Kosovo"}  # codes in use that ISO 3166 (and so pycountry) leaves out


@functools.cache
def _countries():
    """Return ({name or code: alpha-2}, {alpha-2 codes}), read from pycountry on first use (it takes 45 ms to load)."""
    import pycountry

    table = dict(COUNTRY_ALIASES)
    for country in pycountry.countries:
        for name in (country.name, getattr(country, "official_name", None), getattr(country, "common_name", None)):
            if name:
                table.setdefault(_normal(name), country.alpha_2)
        table.setdefault(country.alpha_3.lower(), country.alpha_2)
    return table, {c.alpha_2 for c in pycountry.countries} | set(UNLISTED_COUNTRIES)


SUBDIVISION = re.compile(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}")


@cached
def country_code(text):
    """Return the ISO 3166-1 alpha-2 code of a country code or English name; None when not set."""
    if is_missing(text):
        return None
    value = text.strip()
    names, codes = _countries()
    if len(value) == 2 and value.upper() in codes:
        return value.upper()
    if SUBDIVISION.fullmatch(value) and value[:2].upper() in codes:  # ISO 3166-2, as in GoatCounter's "NL-NH"
        return value[:2].upper()
    code = names.get(_normal(value))
    if code is None:
        raise ValueError("not a known country name or ISO code")
    return code


DEVICE_WORDS = {
    "desktop": "desktop", "computer": "desktop", "pc": "desktop", "laptop": "desktop",
    "mobile": "mobile", "phone": "mobile", "smartphone": "mobile", "mobile phone": "mobile",
    "tablet": "tablet", "tv": "tv", "smart tv": "tv", "smarttv": "tv", "console": "other", "bot": "bot",
    "other": "other", "unknown": "unknown",
}
BOT_RE = re.compile(r"bot|crawl|spider|slurp|headless", re.I)
TABLET_RE = re.compile(r"ipad|tablet|kindle|silk|(android(?!.*mobile))", re.I)
MOBILE_RE = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|windows phone", re.I)


@cached
def device_type(device, user_agent):
    """Return desktop, mobile, tablet, tv, bot or unknown from a device column or a user agent (None when absent)."""
    if device:
        return DEVICE_WORDS.get(device) or DEVICE_WORDS.get(device.strip().lower(), "other")
    if not user_agent:
        return "unknown"
    if BOT_RE.search(user_agent):
        return "bot"
    if TABLET_RE.search(user_agent):
        return "tablet"
    if MOBILE_RE.search(user_agent):
        return "mobile"
    return "desktop"


SEARCH = re.compile(r"google|bing|yahoo|duckduckgo|baidu|yandex|ecosia|naver|seznam|ask\.|aol", re.I)
SOCIAL = re.compile(r"facebook|fb\.|instagram|twitter|t\.co\b|x\.com|linkedin|lnkd|pinterest|reddit|tiktok|"
                    r"youtube|snapchat|whatsapp|telegram|vk\.com|weibo|threads", re.I)
CHANNELS = {
    "direct": "direct", "organic search": "organic search", "organic": "organic search", "seo": "organic search",
    "paid search": "paid search", "sem": "paid search", "cpc": "paid search", "social": "social",
    "organic social": "social", "paid social": "paid social", "email": "email", "e-mail": "email",
    "referral": "referral", "affiliates": "affiliates", "affiliate": "affiliates", "display": "display",
    "(other)": "other", "other": "other", "organic video": "social", "paid video": "display",
    "paid shopping": "paid search", "organic shopping": "organic search", "sms": "email", "push": "email",
    "unknown": "unknown", "(unknown)": "unknown",
}


@cached
def channel(label, source, medium, referrer):
    """Return the channel from a channel label, or derive it from source, medium and referrer (None when absent)."""
    if label:
        return CHANNELS.get(label) or CHANNELS.get(label.strip().lower(), "other")
    src = (source or "").strip().lower()
    med = (medium or "").strip().lower()
    ref = (referrer or "").strip().lower()
    paid = bool(re.match(r"^(.*cp.*|ppc|retargeting|paid.*)$", med))
    where = src or ref
    if med in ("email", "e-mail", "newsletter") or src in ("email", "newsletter"):
        return "email"
    if med in ("affiliate", "affiliates"):
        return "affiliates"
    if med in ("display", "banner", "cpm", "interstitial"):
        return "display"
    if SOCIAL.search(where) or med in ("social", "social-network", "social-media", "sm"):
        return "paid social" if paid else "social"
    if SEARCH.search(where):
        return "paid search" if paid else "organic search"
    if paid:
        return "paid search"
    if med == "organic":
        return "organic search"
    if not where or src in ("(direct)", "direct"):
        return "direct"
    return "referral"
