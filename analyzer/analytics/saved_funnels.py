"""Funnels saved by name: their steps in the API's notation and whether they count sessions or customers."""

import datetime as dt
import unicodedata

import peewee as pw

from analyzer.analytics.funnels import UNITS, FunnelError, parse_steps
from analyzer.db import database
from analyzer.models import SavedFunnel

MAX_NAME = 100
DRAWN_BLANK = "\u115f\u1160\u3164\uffa0\u2800"  # Hangul fillers and the empty Braille pattern: drawn as nothing
TAGS, CANCEL_TAG = ("\U000e0020", "\U000e007e"), "\U000e007f"  # invisible, yet 🏴 + tags g b s c t + cancel is a flag


def all_funnels():
    """Return every saved funnel, by name."""
    return list(SavedFunnel.select().order_by(SavedFunnel.name))


def find(funnel_id):
    """Return the saved funnel with FUNNEL_ID, or None."""
    return SavedFunnel.get_or_none(SavedFunnel.id == funnel_id)


def steps_of(saved):
    """Return the Steps of a saved funnel."""
    return parse_steps(saved.steps.splitlines())


def save(name, steps, unit, user_email, funnel_id=None):
    """Create a funnel (or change the one with FUNNEL_ID) named NAME with STEPS; return it."""
    name = name or ""
    if name.strip() and not any(_visible(c) for c in name):
        raise FunnelError("Give the funnel a name that can be seen: this one has only invisible characters.")
    name = _trimmed(name)
    if not 1 <= len(name) <= MAX_NAME:
        raise FunnelError(f"Give the funnel a name of 1 to {MAX_NAME} characters.")
    if unit not in UNITS:
        raise FunnelError(f"A funnel counts one of {', '.join(UNITS)}; got {unit!r}.")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    values = dict(name=name, steps="\n".join(s.text for s in steps), unit=unit, updated_at=now)
    try:
        with database.atomic():
            if funnel_id is None:
                return SavedFunnel.create(created_by=user_email, created_at=now, **values)
            saved = find(funnel_id)
            if saved is None:
                raise FunnelError("That funnel no longer exists: it was deleted.")
            SavedFunnel.update(**values).where(SavedFunnel.id == funnel_id).execute()
            return find(funnel_id)
    except pw.IntegrityError:
        raise FunnelError(f"A funnel named {name!r} exists already: choose another name.") from None


def _visible(c):
    """Return whether character C shows: a letter, digit, punctuation or symbol that is not drawn blank."""
    return unicodedata.category(c)[0] in "LNPS" and c not in DRAWN_BLANK


def _blank(c):
    """Return whether character C is a space, a zero-width or control character, or one that is drawn blank."""
    return unicodedata.category(c) in ("Cf", "Cc", "Zs") or c in DRAWN_BLANK


def _trimmed(name):
    """Return NAME with runs of spaces made one and blank characters (zero-width space, BOM, fillers) off its ends."""
    name = " ".join(name.split())
    start, end = 0, len(name)
    while start < end and _blank(name[start]):
        start += 1
    while end > start and _blank(name[end - 1]) and not _flag_ends_at(name, end):
        end -= 1
    return name[start:end]


def _flag_ends_at(name, end):
    """Return whether NAME[:END] ends in a drawn character and the tags that make it a flag (Scotland's, …)."""
    if name[end - 1] != CANCEL_TAG:
        return False
    first = end - 1
    while first > 0 and TAGS[0] <= name[first - 1] <= TAGS[1]:
        first -= 1
    return 0 < first < end - 1 and _visible(name[first - 1])


def delete(funnel_id):
    """Delete the saved funnel with FUNNEL_ID; return its name, or None when there was none."""
    saved = find(funnel_id)
    if saved is None:
        return None
    saved.delete_instance()
    return saved.name
