"""Turn one record of an export into a clean session or event, or say which fields are wrong."""

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from analyzer.ingest import columns, values
from analyzer.ingest.export import uncell
from analyzer.ingest.values import is_missing

MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
PAGE_VIEW_TYPES = {"page_view", "pageview", "view", "page", "screen_view", "pageload", "visit"}
PURCHASE_TYPES = {"purchase", "order", "transaction", "order_completed", "checkout_completed", "conversion"}
MAX_TEXT = 2000
MAX_KEY = 128  # customer_sessions.session_key and customer_id
MAX_LABEL = 255  # source, medium, campaign
# The longest value each stored text field takes; a longer one is a bad field, never cut short.
LIMITS = {"source": MAX_LABEL, "medium": MAX_LABEL, "campaign": MAX_LABEL, "landing_page": MAX_TEXT,
          "exit_page": MAX_TEXT, "page": MAX_TEXT, "event_type": 64}
MAX_EVENT_ID = 63  # an event file's customer id and session id together form a session key of at most MAX_KEY
ZERO = Decimal("0")
UNKNOWN = "unknown"  # the channel of a file without source, medium, campaign, referrer or channel column


@dataclass
class FieldError:
    """One bad field of one record."""

    line: int
    column: str
    value: str
    reason: str


class Rejected(Exception):
    """A record with one or more bad fields."""

    def __init__(self, problems):
        super().__init__(problems)
        self.problems = problems


MISSING_TEXT = frozenset(v for m in values.MISSING for v in (m, m.upper(), m.title()))


class Converter:
    """Read fields by their mapped columns and collect what is wrong with them."""

    def __init__(self, headers, mapping, tz, own_export=False):
        self.headers = headers
        self.mapping = mapping
        self.fields = list(mapping.items())
        self.tz = tz
        self.local_problems = {"nonexistent": 0, "ambiguous": 0}
        self.revenue_flags = 0  # rows whose revenue column said TRUE or FALSE
        self.page_view_names = Counter()  # event types read as page_view ('view': 17,000), other than page_view
        # A file without any traffic-source column says nothing about channels: unknown, not direct.
        self.has_traffic = any(f in mapping for f in ("channel", "source", "medium", "campaign", "referrer"))
        self.own_export = own_export
        key = mapping.get("session_key")
        self.combine_key = key is not None and columns.header_of(headers, key) in columns.PER_VISITOR_IDS
        revenue = mapping.get("revenue")
        self.revenue_scale = 1e-6 if revenue is not None and columns.header_of(headers, revenue) in columns.MICROS else 1

    def timestamp(self, text):
        """Parse a time in this file's zone, counting local times that do not exist or exist twice."""
        parsed = values.parse_timestamp(text, self.tz)
        if self.tz is not values.UTC:
            problem = values.local_time_problem(text, self.tz)
            if problem:
                self.local_problems[problem] += 1
        return parsed

    def channel(self, label, source, medium, referrer):
        """Return the channel, or 'unknown' when the file has no column to tell it from."""
        return values.channel(label, source, medium, referrer) if self.has_traffic else UNKNOWN

    def texts(self, row):
        """Return {field: stripped text} for the mapped fields that hold a value (cut one past MAX_TEXT)."""
        if self.own_export:
            return {f: (v if v[0] != "'" else uncell(v))[:MAX_TEXT + 1] for f, i in self.fields if (v := row[i])}
        return {f: v[:MAX_TEXT + 1] for f, i in self.fields if (v := row[i].strip()) and v not in MISSING_TEXT}

    def check_texts(self, texts, problems, line):
        """Record a FieldError for each text with a NUL character or longer than its column takes."""
        for field, text in texts.items():
            limit = LIMITS.get(field)
            if limit is not None and len(text) > limit:
                reason = f"longer than {limit} characters"
            elif "\x00" in text:
                reason = "contains a NUL character (\\0), which cannot be stored"
            else:
                continue
            problems.append(FieldError(line, self.headers[self.mapping[field]], text[:80], reason))

    def parse(self, texts, field, parser, problems, line):
        """Parse FIELD with PARSER; record a FieldError and return None when it fails."""
        text = texts.get(field)
        if text is None:
            return None
        try:
            return parser(text)
        except (ValueError, ArithmeticError) as exc:  # ArithmeticError: a value past what Python's types hold
            problems.append(FieldError(line, self.headers[self.mapping[field]], text[:80], _reason(exc)))
            return None


def session_row(conv, components, line, row, checksum, year):
    """Return one record's customer_sessions values in store.SESSION_COLUMNS order, or raise Rejected."""
    problems = []
    t = conv.texts(row)
    conv.check_texts(t, problems, line)
    get = t.get
    parse = conv.parse
    started = parse(t, "started_at", conv.timestamp, problems, line)
    if started is None and "started_at" not in t:
        if "started_at" not in conv.mapping:
            started = _month_start(conv, t, year, problems, line)
        else:
            problems.append(FieldError(line, conv.headers[conv.mapping["started_at"]], "", "the start time is required"))
    ended = parse(t, "ended_at", conv.timestamp, problems, line)
    duration = parse(t, "duration_s", values.parse_seconds, problems, line)
    page_views = parse(t, "page_views", values.parse_count, problems, line)
    events = parse(t, "events", values.parse_count, problems, line)
    country = parse(t, "country", values.country_code, problems, line)
    for field, indexes in components.items():
        if field == "page_views":
            page_views = _sum_parts(conv, row, indexes, values.parse_count, problems, line)
        else:
            # Parts of a duration are summed with their fractions, then rounded once.
            duration = int(round(_sum_parts(conv, row, indexes, values.exact_seconds, problems, line)))
    converted, revenue = _conversion(conv, t, problems, line)
    if problems:
        raise Rejected(problems)
    if ended is not None and ended < started:
        raise Rejected([FieldError(line, conv.headers[conv.mapping["ended_at"]], str(ended), "ends before it starts")])
    if duration is None and ended is not None:
        duration = int((ended - started).total_seconds())
        if duration > values.MAX_INT:
            raise Rejected([FieldError(line, conv.headers[conv.mapping["ended_at"]], str(ended),
                                       "ends more than 68 years after it starts")])
    if ended is None and duration is not None and not conv.own_export:  # our export leaves an unknown end empty
        ended = started + dt.timedelta(seconds=duration)
    key = _session_key(conv, t, checksum, line)
    customer = get("customer_id") or key
    if len(key) > MAX_KEY or len(customer) > MAX_KEY:
        field = "customer_id" if len(customer) > MAX_KEY else "session_key"
        raise Rejected([FieldError(line, conv.headers[conv.mapping[field]], (get(field) or "")[:80],
                                   f"the {field.replace('_', ' ')} is longer than {MAX_KEY} characters")])
    source, medium, campaign = get("source"), get("medium"), get("campaign")
    return (key, customer, started, ended, duration or 0, conv.channel(get("channel"), source, medium, get("referrer")),
            source, medium, campaign, values.device_type(get("device"), get("user_agent")),
            country, get("landing_page"), get("exit_page"), page_views or 0, events or 0, converted, revenue)


def event_row(conv, line, row):
    """Return a dict of one event's values, or raise Rejected."""
    problems = []
    t = conv.texts(row)
    conv.check_texts(t, problems, line)
    occurred = conv.parse(t, "occurred_at", conv.timestamp, problems, line)
    if occurred is None and not problems:
        problems.append(FieldError(line, conv.headers[conv.mapping["occurred_at"]], "", "the event time is required"))
    customer = t.get("customer_id")
    if customer is None:
        problems.append(FieldError(line, conv.headers[conv.mapping["customer_id"]], "", "the customer id is required"))
    for field in ("customer_id", "session_id"):
        text = t.get(field)
        if text is not None and len(text) > MAX_EVENT_ID:
            problems.append(FieldError(line, conv.headers[conv.mapping[field]], text[:80],
                                       f"longer than {MAX_EVENT_ID} characters"))
    revenue = conv.parse(t, "revenue", values.parse_money, problems, line) or ZERO
    country = conv.parse(t, "country", values.country_code, problems, line)
    if problems:
        raise Rejected(problems)
    get = t.get
    event_type = (get("event_type") or "page_view").lower()
    page = get("page")
    if get("event_flag", "").lower() in ("true", "1", "yes"):
        event_type, page = (page or "event").lower(), None
    kind = "page_view" if event_type in PAGE_VIEW_TYPES else event_type
    if kind != event_type:
        conv.page_view_names[event_type] += 1
    return {
        "customer_id": customer,
        "occurred_at": occurred,
        "event_type": kind[:64],
        "page": page,
        "file_session": get("session_id"),
        "revenue": revenue if kind in PURCHASE_TYPES else ZERO,
        "purchase": kind in PURCHASE_TYPES,
        "channel": conv.channel(None, get("source"), get("medium"), get("referrer")),
        "source": get("source"),
        "medium": get("medium"),
        "campaign": get("campaign"),
        "device": values.device_type(get("device"), get("user_agent")),
        "country": country,
    }


def _session_key(conv, texts, checksum, line):
    key = texts.get("session_key")
    if key is None:
        return f"{checksum[:16]}:{line}"
    if conv.combine_key:
        customer = texts.get("customer_id")
        return f"{customer}-{key}" if customer else key
    return key


def _conversion(conv, texts, problems, line):
    flag = conv.parse(texts, "converted", values.parse_bool, problems, line)
    text = texts.get("revenue")
    if text is not None and text[0] in "TtFf" and text.lower() in ("true", "false"):
        conv.revenue_flags += 1
        return text.lower() == "true", ZERO
    scale = conv.revenue_scale
    revenue = conv.parse(texts, "revenue", lambda t: values.parse_money(t, scale), problems, line) or ZERO
    return bool(flag) or revenue > 0, revenue


def _month_start(conv, texts, year, problems, line):
    text = texts.get("month")
    if text is None:
        problems.append(FieldError(line, "month", "", "the start time is required"))
        return None
    month = MONTHS.get(text.strip().lower()[:3])
    if month is None:
        problems.append(FieldError(line, conv.headers[conv.mapping["month"]], text, "not a month name"))
        return None
    return dt.datetime(year, month, 1)


def _sum_parts(conv, row, indexes, parser, problems, line):
    total = 0
    for index in indexes:
        text = row[index]
        if is_missing(text):
            continue
        try:
            total += parser(text)
        except ValueError as exc:
            problems.append(FieldError(line, conv.headers[index], text[:80], str(exc)))
    if total > values.MAX_INT:
        problems.append(FieldError(line, "+".join(conv.headers[i] for i in indexes), str(total), "too large"))
        return None
    return total


def _reason(exc):
    if isinstance(exc, ValueError):
        return str(exc)
    return "out of range"
