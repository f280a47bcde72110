"""Which column of an export holds which field: aliases from Shopify, Google Analytics, Plausible, Umami, Segment."""

import re

from analyzer.errors import AppError

SESSION_ALIASES = {
    "session_key": ["session_key", "session_token", "session_id", "sessionid", "visit_id", "user_session",
                    "ga_session_id", "visitid"],
    "customer_id": ["customer_id", "customer_token", "user_id", "fullvisitorid", "visitor_id", "client_id",
                    "user_pseudo_id", "anonymous_id", "distinct_id", "customer"],
    "started_at": ["started_at", "session_started_at", "session_start", "session_start_time", "start_time",
                   "visit_start_time", "visitstarttime", "first_seen", "timestamp", "datetime", "date_time",
                   "visitid"],
    "ended_at": ["ended_at", "session_ended_at", "session_end", "end_time", "last_seen"],
    "duration_s": ["duration_s", "duration", "session_duration", "time_on_site", "visit_duration",
                   "session_duration_seconds", "engagement_time"],
    "channel": ["channel", "channel_grouping", "session_default_channel_group", "default_channel_group",
                "session_default_channel_grouping", "channel_group"],
    "source": ["source", "session_source", "utm_source", "referrer_source", "context_campaign_source",
               "traffic_source", "first_user_source"],
    "medium": ["medium", "session_medium", "utm_medium", "context_campaign_medium", "traffic_medium"],
    "campaign": ["campaign", "session_campaign_name", "utm_campaign", "context_campaign_name", "campaign_name"],
    "referrer": ["referrer", "referer", "referrer_url", "referrer_name", "page_referrer", "context_page_referrer",
                 "document_referrer", "referring_site"],
    "device": ["device", "device_category", "device_type", "devicecategory"],
    "user_agent": ["user_agent", "useragent", "context_user_agent", "ua", "browser_user_agent"],
    "country": ["country", "country_code", "country_iso_code", "geo_country", "location_country",
                "context_location_country", "country_name"],
    "landing_page": ["landing_page", "landing_page_url", "landing_page_path", "entry_page", "entry_url",
                     "landing_page_plus_query_string", "first_page"],
    "exit_page": ["exit_page", "exit_page_url", "exit_url", "last_page"],
    "page_views": ["page_views", "pageviews", "count_of_pageviews", "screen_page_views", "views",
                   "page_view_count", "pageviews_count"],
    "events": ["events", "event_count", "hits", "total_events"],
    "converted": ["converted", "conversion", "is_converted", "converted_sessions", "transactions",
                  "conversions", "orders"],
    "revenue": ["revenue", "total_revenue", "purchase_revenue", "total_sales", "order_value",
                "total_transaction_revenue", "transaction_revenue"],
    "month": ["month"],
}

EVENT_ALIASES = {
    "customer_id": SESSION_ALIASES["customer_id"],
    "occurred_at": ["occurred_at", "event_time", "event_timestamp", "timestamp", "received_at", "sent_at",
                    "created_at", "time", "datetime", "date_time"],
    "event_type": ["event_type", "event_name", "event", "type", "action", "name"],
    "page": ["page", "page_path", "path", "url", "page_url", "page_location", "context_page_path", "pathname",
             "url_path"],
    "session_id": ["user_session", "session_id", "sessionid", "ga_session_id", "session_key", "visit_id"],
    "revenue": ["revenue", "price", "value", "amount", "purchase_revenue", "order_total"],
    "source": SESSION_ALIASES["source"],
    "medium": SESSION_ALIASES["medium"],
    "campaign": SESSION_ALIASES["campaign"],
    "referrer": SESSION_ALIASES["referrer"],
    "device": SESSION_ALIASES["device"],
    "user_agent": SESSION_ALIASES["user_agent"],
    "country": SESSION_ALIASES["country"],
}

# Event exports whose columns mean something else than the aliases above, told by a column of their own.
# Their names replace the aliases of these fields.
EVENT_PROFILES = {
    # Umami: session_id is the visitor on one device, visit_id the visit; event_name is empty for page views.
    "websiteid": {"customer_id": ["session_id", "distinct_id"], "session_id": ["visit_id"],
                  "event_type": ["event_name"], "page": ["url_path"], "referrer": ["referrer_domain"]},
    # GoatCounter: Session is the visitor, "2Path" the page (or the event's name when Event is true),
    # Location a country or country-region code.
    "2path": {"customer_id": ["session"], "occurred_at": ["date"], "page": ["2path"], "event_type": [],
              "event_flag": ["event"], "country": ["location"]},
}

# Parts that add up to one field when the export splits it (the UCI / GA "shoppers intention" layout).
COMPONENTS = {
    "page_views": ["administrative", "informational", "product_related"],
    "duration_s": ["administrative_duration", "informational_duration", "product_related_duration"],
}
# Money columns that Google Analytics writes in millionths of the currency unit.
MICROS = {"totaltransactionrevenue", "transactionrevenue"}
# Session ids that are unique only per visitor: combined with the customer id.
PER_VISITOR_IDS = {"visitid", "gasessionid"}
EVENT_SIGNS = {"eventtime", "eventtimestamp", "eventtype", "eventname", "occurredat", "event", "receivedat",
               *EVENT_PROFILES}


def recognised(header):
    """Tell whether some field of some kind of file would read a column named HEADER."""
    return normal(header) in KNOWN


def normal(header):
    """Reduce a header to lowercase letters and digits: 'Session Started At' -> 'sessionstartedat'."""
    return re.sub(r"[^a-z0-9]", "", header.strip().lstrip("\ufeff").lower())


def detect_kind(headers):
    """Tell whether a file holds sessions or events from its headers."""
    return "events" if any(normal(h) in EVENT_SIGNS for h in headers) else "sessions"


def map_columns(headers, kind):
    """Return {field: column index} and {field: [component indexes]} for these headers."""
    aliases = EVENT_ALIASES if kind == "events" else SESSION_ALIASES
    positions = {}
    for index, header in enumerate(headers):
        positions.setdefault(normal(header), index)
    if kind == "events":
        for sign, names in EVENT_PROFILES.items():
            if sign in positions:
                aliases = aliases | names
    mapping = {}
    for field, names in aliases.items():
        for name in names:
            if normal(name) in positions:
                mapping[field] = positions[normal(name)]
                break
    components = {}
    if kind == "sessions":
        for field, parts in COMPONENTS.items():
            found = [positions[normal(p)] for p in parts if normal(p) in positions]
            if field not in mapping and found:
                components[field] = found
    _refuse_twins(headers, [*mapping.values(), *(i for ix in components.values() for i in ix)])
    return mapping, components


def _refuse_twins(headers, used):
    """Refuse a file where a column we read has the same name as another: which one is meant is a guess."""
    names = {}
    for index, header in enumerate(headers):
        names.setdefault(normal(header), []).append(index)
    for index in sorted(used):
        first, *others = names[normal(headers[index])]
        if others:
            twin = others[0]
            raise AppError(f"Columns {first + 1} ({headers[first]!r}) and {twin + 1} ({headers[twin]!r}) have the "
                           "same name: rename or remove one, and import the file again. Nothing was written.")


def as_read(mapping):
    """Return MAPPING ({field: column}) with a per-visitor session key named as it is built: fullVisitorId-visitId."""
    key, customer = mapping.get("session_key"), mapping.get("customer_id")
    if key is None or customer is None or normal(key) not in PER_VISITOR_IDS:
        return mapping
    return {**mapping, "session_key": f"{customer}-{key}"}


def header_of(headers, index):
    """Return the normalized header at INDEX."""
    return normal(headers[index])


KNOWN = ({normal(name) for table in (SESSION_ALIASES, EVENT_ALIASES, *EVENT_PROFILES.values())
          for names in table.values() for name in names}
         | {normal(part) for parts in COMPONENTS.values() for part in parts})
