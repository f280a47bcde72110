"""Figures read from the rollups, for the queries they can answer; None means "ask the raw rows"."""

import datetime as dt
from dataclasses import replace

from peewee import Value, fn

from analyzer import localtime, sketch
from analyzer.analytics.figures import Totals, money
from analyzer.analytics.query import NONE_VALUE, Filter
from analyzer.db import is_sqlite
from analyzer.models import (ROLLUP_LAYOUT, BreakdownRollup, CrossRollup, CustomerSketch, DailyRollup, RollupZone,
                             rollup_key)

CUBE_DIMENSIONS = ("channel", "device", "country", "customer_type")
MEASURES = ("sessions", "bounces", "conversions", "revenue", "page_views", "duration_s")
D = DailyRollup
DAY_LIST_MAX = 4000  # days of a range that SQLite's cube reads may name one by one


def answerable(query):
    """Tell whether the rollups answer QUERY's totals and trend: filters on channel, device, country, type, or one."""
    if len(query.filters) == 1 and query.filters[0].dimension not in CUBE_DIMENSIONS:
        return RollupZone.select(RollupZone.layout).scalar() == ROLLUP_LAYOUT  # not rollups built before it
    return all(f.dimension in CUBE_DIMENSIONS for f in query.filters)


def totals(query):
    """Return the Totals of QUERY from the rollups (customers None when the sketches cannot say), or None."""
    if not answerable(query):
        return None
    found = _sums(query, None)
    result = found.get(None, Totals())
    customers = _customers(query, [(query.start, query.end)])
    result.customers, result.approximate = customers[0] if customers else (None, False)
    return _bounded(result)


def sessions(query, filtered=False):
    """Return the sessions in QUERY's range, before its filters (or, when FILTERED, after them), from the rollups."""
    if filtered and not answerable(query):
        return None
    return _sums(query if filtered else replace(query, filters=()), None).get(None, Totals()).sessions


def series(query, interval, customers=True):
    """Return {bucket start: Totals} of QUERY by day, week or month from the rollups (CUSTOMERS too), or None."""
    if interval == "hour" or not answerable(query):
        return None
    by_day = _sums(query, "day")
    out = {}
    for day, day_totals in by_day.items():
        out.setdefault(localtime.bucket_of(_date(day), interval), Totals()).add(day_totals)
    spans = {}
    for day in (query.start + localtime.ONE_DAY * n for n in range(query.days)):
        key = localtime.bucket_of(day, interval)
        first, last = spans.get(key, (day, day))
        spans[key] = (min(first, day), max(last, day))
    if not customers:
        return out
    keys = list(spans)
    counted = _customers(query, [spans[k] for k in keys])
    if counted is None:
        return None
    for key, (count, approximate) in zip(keys, counted):
        if key in out:
            out[key].customers, out[key].approximate = count, approximate
            _bounded(out[key])
    return out


def _bounded(totals):
    """Keep an estimate of the unique customers between the new customers (exact) and the sessions."""
    # The sketches' 0.3 % error put 4,502 customers beside 4,504 new ones on one page.
    if totals.approximate and totals.customers is not None:
        totals.customers = min(max(totals.customers, totals.new_customers), totals.sessions)
    return totals


def rows(query, dimensions):
    """Return {dimension: [(value, sessions, conversions, revenue)], or None where the rollups cannot say}."""
    if not answerable(query):
        return dict.fromkeys(dimensions)
    if len(query.filters) > 1:
        return {d: _cube_rows(query, d) if d in CUBE_DIMENSIONS else None for d in dimensions}
    # The filtered dimension's own rows are its values' overall rows; every other dimension is read in one query.
    own = [d for d in dimensions if query.filters and d == query.filters[0].dimension]
    rest = [d for d in dimensions if d not in own]
    out = {d: [] for d in dimensions}
    for group in (own, rest):
        for dimension, *row in _breakdown_rows(query, group) if group else ():
            out[dimension].append(tuple(row))
    return out


def _sums(query, group):
    """Sum the rollups of the range: the breakdown rollups' all-sessions rows for up to one filter, else the cube."""
    if len(query.filters) > 1:
        return _cube(query, D.day if group else None)
    B = _breakdown_table(query, [""])
    columns = [fn.SUM(B.sessions), fn.SUM(B.bounces), fn.SUM(B.conversions), _sum(B.revenue, "revenue"),
               fn.SUM(B.page_views), fn.SUM(B.duration_s), fn.SUM(B.new_sessions)]
    select = B.select(*([B.day] if group else []), *columns).where(*_breakdown_conditions(B, query, [""]))
    return _totals_by_key(select.group_by(B.day) if group else select, group)


def _totals_by_key(select, group):
    out = {}
    for row in select.tuples():
        key, values = (row[0], row[1:]) if group is not None else (None, row)
        sessions, bounces, conversions, revenue, page_views, duration, new = values
        if sessions:  # PostgreSQL sums bigint columns as NUMERIC
            out[key] = Totals(int(sessions), int(bounces), int(conversions), money(revenue), int(page_views),
                              int(duration), int(new))
    return out


def _cube(query, group):
    """Sum the daily rollups of the range under the filters, grouped by GROUP (a column) or not at all."""
    wanted = query.customer_types()
    if not wanted:
        return {}
    columns = []
    for measure in MEASURES:
        total, new = _sum(getattr(D, measure), measure), _sum(getattr(D, "new_" + measure), measure)
        columns.append({"new": new, "returning": total - new}.get(*wanted) if len(wanted) == 1 else total)
    columns.append(_sum(D.new_sessions, "sessions") if "new" in wanted else Value(0))
    select = D.select(*([group] if group is not None else []), *columns).where(*_cube_conditions(query))
    return _totals_by_key(select.group_by(group) if group is not None else select, group)


def _cube_rows(query, dimension):
    if dimension == "customer_type":
        wanted = query.customer_types()
        found = _cube(query, None).get(None)
        if found is None:
            return []
        if wanted == {"new"}:
            return [("new", found.sessions, found.conversions, found.revenue)]
        if wanted == {"returning"}:
            return [("returning", found.sessions, found.conversions, found.revenue)]
        new = _cube(_only_new(query), None).get(None, Totals())
        return [("new", new.sessions, new.conversions, new.revenue),
                ("returning", found.sessions - new.sessions, found.conversions - new.conversions,
                 found.revenue - new.revenue)]
    return [(value or None, t.sessions, t.conversions, t.revenue)
            for value, t in _cube(query, getattr(D, dimension)).items()]


def _breakdown_rows(query, dimensions):
    B = _breakdown_table(query, dimensions)
    select = (B.select(B.dimension, B.value, fn.SUM(B.sessions), fn.SUM(B.conversions), _sum(B.revenue, "revenue"))
              .where(*_breakdown_conditions(B, query, dimensions)).group_by(B.dimension, B.value))
    return [(dimension, value or None, int(sessions), int(conversions), money(revenue))
            for dimension, value, sessions, conversions, revenue in select.tuples() if sessions]


def _breakdown_table(query, dimensions):
    """Return the model of DIMENSIONS' rows under QUERY's one filter, if any: cross_rollups for a many-valued one."""
    applied = query.filters and query.filters[0].dimension not in dimensions
    return CrossRollup if applied and query.filters[0].dimension not in CUBE_DIMENSIONS else BreakdownRollup


def _breakdown_conditions(B, query, dimensions):
    """Select B's rows of DIMENSIONS ('' for all sessions) in the range, under the one filter if any."""
    conditions = [B.filter_dimension == "", B.filter_value == ""]
    if query.filters:
        item = query.filters[0]
        if item.dimension in dimensions:  # then it comes alone: its rows are those of its values, unfiltered
            values = _stored_values(item)
            conditions.append(B.value.not_in(values) if item.negate else B.value.in_(values))
        else:
            keys = _stored_values(item, keyed=True)
            conditions = [B.filter_dimension == item.dimension,
                          B.filter_value.not_in(keys) if item.negate else B.filter_value.in_(keys)]
    chosen = B.dimension == dimensions[0] if len(dimensions) == 1 else B.dimension.in_(dimensions)
    return conditions + [chosen, B.day >= query.start, B.day <= query.end]


def _customers(query, spans):
    """Return [(customers, approximate)] per (first, last) span from the sketches, or None when they cannot say."""
    others = query.filters
    if len(others) > 1:
        return None
    C = CustomerSketch
    conditions = [C.day >= spans[0][0], C.day <= spans[-1][1]] if spans else []
    single = True
    if others:
        item = others[0]
        values = _stored_values(item, keyed=True) if item.dimension != "customer_type" else list(item.values)
        conditions += [C.dimension == item.dimension, C.value.not_in(values) if item.negate else C.value.in_(values)]
        single = not item.negate and len(values) == 1
    else:
        conditions += [C.dimension == ""]
    cells = {}
    for day, count, blob in C.select(C.day, C.customers, C.sketch).where(*conditions).tuples():
        cells.setdefault(_date(day), []).append((count, blob))
    out = []
    for first, last in spans:
        chosen = [cell for day, found in cells.items() if first <= day <= last for cell in found]
        if single and first == last:
            out.append((chosen[0][0] if chosen else 0, False))
        else:
            out.append(sketch.count(blob for _, blob in chosen))
    return out


def _cube_conditions(query):
    conditions = [D.day >= query.start, D.day <= query.end]
    channel = query.filter_of("channel")
    if channel and not channel.negate and query.days <= DAY_LIST_MAX and is_sqlite(D._meta.database):
        # SQLite would walk the whole range of the (day, channel, …) index; one seek per day and channel instead.
        conditions = [D.day.in_([query.start + localtime.ONE_DAY * n for n in range(query.days)])]
    for item in query.filters:
        if item.dimension == "customer_type":
            continue
        column = getattr(D, item.dimension)
        values = _stored_values(item)
        conditions.append(column.not_in(values) if item.negate else column.in_(values))
    return conditions


def _only_new(query):
    """Return QUERY with its customer type filter, if any, replaced by new customers only."""
    others = tuple(f for f in query.filters if f.dimension != "customer_type")
    return replace(query, filters=others + (Filter("customer_type", ("new",)),))


def _stored_values(item, keyed=False):
    """Return the values of a filter as the rollups store them (a missing value is ''), as their KEYED form too."""
    values = ["" if v == NONE_VALUE else v for v in item.values]
    return [rollup_key(v, not is_sqlite(D._meta.database)) for v in values] if keyed else values


def _sum(column, measure):
    if measure == "revenue" and is_sqlite(D._meta.database):
        return fn.SUM(fn.ROUND(column * 100).cast("INTEGER"))
    return fn.SUM(column)


def _date(value):
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
