"""Read CSV (any common dialect and encoding), NDJSON and JSON arrays, plain or gzip, one record at a time."""

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import AppError
from analyzer.ingest import columns

CHUNK = 1 << 20
FORMATS = ("csv", "ndjson", "json")
MAX_ELEMENT = 1 << 24  # the largest JSON array element read before giving up on it
BLANK = re.compile(r"[ \t\r\n]*")  # JSON's whitespace
HEADER_RECORDS = 200  # JSON records whose keys make the columns
SURROGATE = re.compile("[\ud800-\udfff]")  # a \ud800 escape with no pair: JSON allows it, text cannot hold it
csv.field_size_limit(1 << 24)


@dataclass
class Source:
    """What we learnt about a file before reading it: name, checksum, compression, encoding, format."""

    path: Path
    checksum: str
    gzip: bool
    encoding: str
    format: str
    delimiter: str = ","
    size: int = 0
    raw: object = None  # the open binary file while records() reads it
    name: str = ""  # what reports call the file: its own name, or the one it was uploaded under

    def fraction(self):
        """Return how much of the file records() has read so far, from 0 to 1."""
        if self.raw is None or not self.size:
            return 0.0
        handle = self.raw.fileobj if self.gzip else self.raw  # a GzipFile reads the file through .fileobj
        try:
            return min(handle.tell() / self.size, 1.0)
        except (ValueError, OSError):
            return 1.0


class BadRecord(str):
    """A record that could not be read at all (an NDJSON line or array element that is not a JSON object)."""


def inspect(path, fmt=None, name=None):
    """Hash the file and detect compression, encoding, format and CSV delimiter."""
    path = Path(path)
    if not path.is_file():
        raise AppError(f"{path} does not exist or is not a file.")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(CHUNK), b""):
            digest.update(chunk)
    encoding = _encoding(path, compressed, name or path)
    with _open(path, compressed, encoding) as text:
        head = text.read(64 * 1024)
    fmt = (fmt or _format(path, head)).lower()
    if fmt not in FORMATS:
        raise AppError(f"Unknown --format {fmt!r}: use csv, ndjson or json (one JSON array of objects).")
    delimiter = _delimiter(head) if fmt == "csv" else ","
    return Source(path, digest.hexdigest(), compressed, encoding, fmt, delimiter, path.stat().st_size,
                  name=name or path.name)


def records(source):
    """Yield the header list first, then (line number, list of field texts or a BadRecord) for each record."""
    with _open(source.path, source.gzip, source.encoding) as text:
        source.raw = text.buffer
        if source.format == "csv":
            yield from _csv_records(text, source.delimiter)
        elif source.format == "json":
            yield from _keyed((number, _record(value)) for number, value in _array_elements(text))
        else:
            yield from _keyed((number, _parse_json(line)) for number, line in _lines(text) if line.strip())


def _lines(text):
    """Yield (line number, line) of NDJSON text, refusing a line over MAX_ELEMENT characters before holding it whole."""
    number = 0
    for line in iter(lambda: text.readline(MAX_ELEMENT + 1), ""):
        number += 1
        if len(line) > MAX_ELEMENT:
            raise AppError(f"Line {number} is longer than {MAX_ELEMENT >> 20} MB; nothing was written.")
        yield number, line


def _csv_records(text, delimiter):
    reader = csv.reader(text, delimiter=delimiter)
    try:
        headers = next(reader)
        while not headers or (len(headers) == 1 and not headers[0].strip()):  # blank lines before the header
            headers = next(reader)
    except StopIteration:
        raise AppError("The file is empty: it has no header line.") from None
    except csv.Error as exc:
        raise _csv_error(reader, exc) from None
    yield [h.strip() for h in headers]
    width, last = len(headers), reader.line_num
    try:
        for row in reader:
            first, last = last + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < width or any(row[width:]):  # a quote left open joins the lines after it into one field
                quote = " (is a quote not closed?)" if "\n" in row[-1] else ""
                yield first, BadRecord(f"{_fields(len(row))} where the header has {_fields(width)}{quote}")
                continue
            yield reader.line_num, row[:width]
    except csv.Error as exc:  # the reader cannot go on past such a field
        raise _csv_error(reader, exc) from None


def _csv_error(reader, exc):
    """Say which line a CSV field the reader refuses (one over 16 MB, most likely) starts on."""
    limit = csv.field_size_limit()
    reason = f"a field is longer than {limit // (1 << 20)} MB" if "field larger than" in str(exc) else str(exc)
    return AppError(f"Line {max(reader.line_num, 1)}: {reason}; nothing was written.")


def _fields(count):
    return f"{count} field" + ("" if count == 1 else "s")


def _keyed(parsed):
    """Yield the keys of the first 200 JSON records as headers, then each record as a row in that order."""
    # A key that first shows up later, and that a field would read, is refused in its record (a row error).
    pending = []
    headers = []
    for number, record in parsed:
        pending.append((number, record))
        if not isinstance(record, BadRecord):
            for key in record:
                if key not in headers:
                    headers.append(key)
        if len(pending) >= HEADER_RECORDS:
            break
    bad = next(((n, r) for n, r in pending if isinstance(r, BadRecord)), None)
    if not headers and bad:
        number, reason = bad
        raise AppError(f"Record {number} is {reason}, and none of the first records is a JSON object with fields; "
                       "nothing was written.")
    yield headers
    for number, record in pending:
        yield number, _row(record, headers)
    for number, record in parsed:
        yield number, _row(record, headers)


def _array_elements(text):
    """Yield (element number, value) from one JSON array, a chunk of text at a time."""
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)
    buffer, pos, done = "", 0, False
    number, expecting = 0, "["
    while True:
        pos = BLANK.match(buffer, pos).end()
        if pos < len(buffer) and (expecting == "value" or expecting == "first" and buffer[pos] != "]"):
            try:
                value, end = decoder.raw_decode(buffer, pos)
                complete = end < len(buffer) or done  # a number at the end may go on in the next chunk
            except json.JSONDecodeError as exc:
                if done or len(buffer) - pos > MAX_ELEMENT:
                    raise AppError(f"Element {number + 1} of the JSON array is not valid JSON ({exc.msg}).") from None
                complete = False
            except (RecursionError, ValueError) as exc:
                raise AppError(f"Element {number + 1} of the JSON array cannot be read: {_unreadable(exc)}.") from None
            if complete:
                number += 1
                yield number, value
                pos, expecting = end, "separator"
                continue
        elif pos < len(buffer):
            char = buffer[pos]
            if expecting == "[" and char == "[":
                pos, expecting = pos + 1, "first"
            elif expecting == "[":
                raise AppError("The file is not a JSON array: it does not start with [.")
            elif expecting == "first" or expecting == "separator" and char in ",]":
                pos, expecting = pos + 1, ("value" if char == "," else "end")
            elif expecting == "separator":
                raise AppError(f"The JSON array needs a , or ] after element {number}, not {char!r}.")
            else:
                raise AppError(f"The file goes on after the JSON array's closing ] (after element {number}).")
            continue
        if done:
            if expecting == "end":
                return
            raise AppError(f"The JSON array ends after element {number} without its closing ].")
        chunk = text.read(CHUNK)
        done = not chunk
        buffer, pos = buffer[pos:] + chunk, 0


def _row(record, headers):
    if isinstance(record, BadRecord):
        return record
    late = [key for key in record if key not in headers and columns.recognised(key)]  # others are not read anyway
    if late:
        return BadRecord(f"has {', '.join(map(repr, late[:5]))}, which none of the first {HEADER_RECORDS} records "
                         "has: the columns come from those records, so give one of them this field (empty will do)")
    return [record.get(h, "") for h in headers]


def _unique_keys(pairs):
    """Build a JSON object, refusing a key written twice (the last would win silently)."""
    value = dict(pairs)
    if len(value) < len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise DuplicateKey(twice)
    return value


class DuplicateKey(ValueError):
    """A JSON object with a key written twice."""


def _parse_json(line):
    try:
        value = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        return BadRecord(f"not valid JSON ({exc.msg})")
    except (RecursionError, ValueError) as exc:
        return BadRecord(_unreadable(exc))
    return _record(value)


def _record(value):
    if not isinstance(value, dict):
        return BadRecord("not a JSON object")
    try:
        record = {k: "" if v is None else str(v) if not isinstance(v, str) else v for k, v in _flatten(value).items()}
    except (RecursionError, ValueError) as exc:
        return BadRecord(_unreadable(exc))
    odd = next((k for k, v in record.items() if SURROGATE.search(k) or SURROGATE.search(v)), None)
    if odd is not None:
        return BadRecord(f"an object whose field {odd!r} holds half a character (an unpaired \\u surrogate escape), "
                         "not text")
    return record


def _unreadable(exc):
    """Say why a JSON value that parsed (or nearly) cannot be used."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, DuplicateKey):
        return f"an object with the key {exc.args[0]!r} twice (written twice, or made twice by a nested object)"
    return "a number with too many digits"


def _flatten(value, prefix=""):
    flat = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        inner = _flatten(item, name + "_") if isinstance(item, dict) else {
            name: json.dumps(item) if isinstance(item, list) else item}
        for flat_name, flat_value in inner.items():
            if flat_name in flat:
                raise DuplicateKey(flat_name)
            flat[flat_name] = flat_value
    return flat


def _open(path, compressed, encoding):
    raw = gzip.open(path, "rb") if compressed else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _encoding(path, compressed, label):
    """Return the first of UTF-8, UTF-16 (with its byte order mark), Windows-1252 and Latin-1 that reads the file."""
    try:
        with (gzip.open if compressed else open)(path, "rb") as raw:
            first = raw.read(CHUNK)
        what = next((what for magic, what in NOT_RECORDS if first.startswith(magic)), None)
        if what:
            raise AppError(f"{label} is {what}, not a file of records. Import a CSV, NDJSON or JSON file, plain or "
                           "gzip; nothing was written.")
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
            if _decodes(path, compressed, "utf-16"):
                return "utf-16"
            raise AppError(f"{label} starts as UTF-16 text but is not: save it as UTF-8 and import it again; "
                           "nothing was written.")
        sample = first[:4096]
        if sample and sample.count(0) * 4 >= len(sample):  # a NUL by every letter: text of two or four bytes a letter
            raise AppError(f"{label} looks like UTF-16 or UTF-32 text without a byte order mark: save it as UTF-8 "
                           "(Excel: CSV UTF-8) and import it again; nothing was written.")
        if _decodes(path, compressed, "utf-8"):
            return "utf-8-sig" if first.startswith(codecs.BOM_UTF8) else "utf-8"
        # Windows-1252 gives 0x80-0x9F their letters (a curly apostrophe is 0x92); Latin-1 reads any byte.
        return "cp1252" if _decodes(path, compressed, "cp1252") else "latin-1"
    except (OSError, EOFError, zlib.error) as exc:
        raise AppError(f"{label} cannot be read: {exc}.") from None

# Files that Latin-1 would read as text, with a first "line" of garbage: named by first bytes no CSV starts with.
NOT_RECORDS = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one: save its sheet as CSV UTF-8)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook or another Office file (save its sheet as "
                                        "CSV UTF-8)"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "a SQLite database"),
)


def _decodes(path, compressed, encoding):
    """Tell whether the whole file decodes as ENCODING."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with (gzip.open if compressed else open)(path, "rb") as raw:
            for chunk in iter(lambda: raw.read(CHUNK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _format(path, head):
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffixes and suffixes[-1] in (".csv", ".tsv", ".txt"):
        return "csv"
    start = head.lstrip()[:1]
    if start == "[":
        return "json"
    return "ndjson" if start == "{" or (suffixes and suffixes[-1] == ".json") else "csv"


def _delimiter(head):
    first = next((line for line in head.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","
