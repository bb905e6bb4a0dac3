"""Reading uploaded tables row by row, whatever Excel or another program wrote.

CSV: UTF-8, UTF-8 with BOM or Windows-1252; ';', ',' or tab; quoted fields with line breaks.
XLSX: the first worksheet. Rows are yielded one at a time, so memory stays flat for large files.
"""
import codecs
import csv
from datetime import date, datetime
from pathlib import Path
from typing import Iterator


CHUNK = 1 << 16


class UnreadableFile(ValueError):
    """The file is not a table we can read; the message is German."""


def detect_encoding(path: Path) -> str:
    with path.open("rb") as handle:
        if handle.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"  # what German Excel writes as "CSV (Trennzeichen-getrennt)"
    return "utf-8"


def detect_delimiter(path: Path, encoding: str) -> str:
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    return max(counts, key=counts.get) if any(counts.values()) else ";"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y") if value.time() == datetime.min.time() else value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def iter_rows(path: Path, file_format: str, encoding: str | None = None, delimiter: str | None = None) -> Iterator[list[str]]:
    """Every row of the table, the header row first, as lists of trimmed strings."""
    if file_format == "xlsx":
        try:
            from openpyxl import load_workbook  # here: only XLSX imports need openpyxl's 5 MB

            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for broken files
            raise UnreadableFile("Die Datei ist keine lesbare Excel-Datei (.xlsx).") from exc
        try:
            for row in workbook.worksheets[0].iter_rows(values_only=True):
                yield [_cell_text(v) for v in row]
        finally:
            workbook.close()
        return
    with path.open(encoding=encoding or "utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter=delimiter or ";"):
            yield [cell.strip() for cell in row]


def inspect(path: Path, file_format: str) -> dict:
    """Encoding, delimiter, headers and the first sample rows of an uploaded file."""
    encoding = delimiter = None
    if file_format == "csv":
        with path.open("rb") as handle:
            if b"\x00" in handle.read(CHUNK):
                raise UnreadableFile("Die Datei ist keine Textdatei (CSV). Bitte als CSV oder Excel (.xlsx) speichern.")
        encoding = detect_encoding(path)
        delimiter = detect_delimiter(path, encoding)
    rows = iter_rows(path, file_format, encoding, delimiter)
    try:
        headers = next((r for r in rows if any(r)), None)
        samples = []
        for row in rows:
            if any(row):
                samples.append(row)
            if len(samples) == 3:
                break
    except csv.Error as exc:
        raise UnreadableFile(f"Die CSV-Datei ist fehlerhaft: {exc}") from exc
    if not headers:
        raise UnreadableFile("Die Datei ist leer.")
    while headers and not headers[-1]:
        headers.pop()
    return {"encoding": encoding, "delimiter": delimiter, "headers": headers, "samples": samples}


def count_rows(path: Path, file_format: str, encoding: str | None, delimiter: str | None) -> int:
    """Data rows (without the header and without empty lines)."""
    return max(sum(1 for row in iter_rows(path, file_format, encoding, delimiter) if any(row)) - 1, 0)
