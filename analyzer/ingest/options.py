"""What describes one import, built once by the CLI, the web upload, the API and the demo, and the column
mapping an analyst chooses over the detected one."""

from dataclasses import dataclass

from analyzer.errors import AppError, shown
from analyzer.ingest import columns

NO_CUSTOMER = ("no customer column was found: every session counts as its own customer; name the column with "
               "--map customer_id=COLUMN (on the upload page: Check columns first, then choose it for customer_id; "
               "on the API: ?map=customer_id=COLUMN)")


DRY_RUN_VALUES = ("0", "1", "true", "false")
MAX_GAP_MINUTES = 525_600


@dataclass(frozen=True)
class ImportOptions:
    """How to read one file and what to call it; a new option is one field here."""

    kind: str | None = None  # sessions or events; None: told by the columns
    file_format: str | None = None  # csv, ndjson or json; None: told by the content
    timezone: str = "UTC"  # the zone of times without an offset
    gap_minutes: int = 30  # the inactivity that ends a session of an event file
    split_by_gap: bool = False  # ignore an event file's session id column
    year: int | None = None  # the year of a session file that has only a month column
    mapping: tuple = ()  # (field, column) pairs chosen over the detection; an empty column leaves the field out
    dry_run: bool = False
    name: str | None = None  # what to call the file; default its own name
    created_by: str | None = None


def parse_year(text):
    """Return the year option written as TEXT (empty: None), or raise AppError."""
    text = (text or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) == 4 and 1971 <= int(text) <= 2999):
        raise AppError(f"year {shown(text)!r}: give a year from 1971 to 2999, such as 2026.")
    return int(text)


def parse_dry_run(text):
    """Return the dry_run option written as TEXT (absent: False), or raise AppError."""
    # Given empty (dry_run=$FLAG with FLAG unset), it is no answer: it wrote the rows.
    value = "0" if text is None else text.strip().lower()
    if value not in DRY_RUN_VALUES:
        raise AppError(f"dry_run {shown(text)!r}: give 1 (or true) to check the rows and write nothing, 0 (or false) "
                       "to import them; nothing was written.")
    return value in ("1", "true")


def check_gap(minutes):
    """Return the inactivity in MINUTES that ends a session, or raise AppError when it is out of range."""
    if not 1 <= minutes <= MAX_GAP_MINUTES:
        raise AppError(f"--gap-minutes {minutes}: give the minutes of inactivity that end a session, from 1 to "
                       f"{MAX_GAP_MINUTES:,} (a year); nothing was written.")
    return minutes


def parse_mapping(texts):
    """Return the (field, column) pairs of FIELD=COLUMN texts, or raise AppError naming the bad one."""
    pairs = []
    for text in texts:
        field, equals, column = text.partition("=")
        if not equals or not field.strip():
            raise AppError(f"--map {shown(text)!r}: write FIELD=COLUMN, for example --map customer_id=user_token.")
        earlier = next((c for f, c in pairs if f == field.strip()), None)
        if earlier is not None and earlier != column.strip():
            raise AppError(f"--map {shown(text)!r}: {shown(field.strip())} is mapped twice "
                           f"({shown(f'{field.strip()}={earlier}')} too); keep one.")
        if earlier is None:
            pairs.append((field.strip(), column.strip()))
    return tuple(pairs)


def apply_mapping(headers, kind, mapping, components, chosen):
    """Apply the CHOSEN (field, column) pairs to the detected MAPPING and COMPONENTS, or raise AppError."""
    fields = columns.EVENT_ALIASES if kind == "events" else columns.SESSION_ALIASES
    for field, column in chosen:
        if field not in fields:
            raise AppError(f"--map {shown(f'{field}={column}')}: {kind} files have no field {shown(field)!r}. "
                           f"Fields: {', '.join(sorted(fields))}.")
        components.pop(field, None)
        if not column:
            mapping.pop(field, None)
            continue
        index = _column_index(headers, column)
        if index is None:
            raise AppError(f"--map {shown(f'{field}={column}')}: the file has no column {shown(column)!r}. "
                           f"Columns: {', '.join(headers)}.")
        mapping[field] = index


def unused_columns(headers, mapping, components):
    """Return the headers that feed no field."""
    used = set(mapping.values()) | {i for indexes in components.values() for i in indexes}
    return [h for i, h in enumerate(headers) if i not in used]


def warnings_of(kind, mapping):
    """Return what the user should know about the mapping before trusting the figures."""
    if kind == "sessions" and "customer_id" not in mapping:
        return [NO_CUSTOMER]
    return []


def _column_index(headers, column):
    if column in headers:
        return headers.index(column)
    wanted = columns.normal(column)
    return next((i for i, h in enumerate(headers) if columns.normal(h) == wanted), None)
