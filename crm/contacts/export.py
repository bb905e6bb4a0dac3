"""Exports of the current list: CSV for German Excel (UTF-8 with BOM, ';') and XLSX, streamed."""
import csv
import io
import re
from typing import Any, Callable, Iterable, Iterator

from flask import Response, abort, stream_with_context

from crm.extensions import db

Column = tuple[str, Callable]  # (German header, value of a row)

BATCH = 1000
_PHONE_LIKE = re.compile(r"^[+-][0-9 ()/.-]*$")


def csv_stream(columns: list[Column], rows: Iterable) -> Iterator[str]:
    """Yield the CSV piece by piece, so 100,000 rows never sit in memory at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    yield "\ufeff"  # BOM: Excel then reads UTF-8 (umlauts) correctly
    writer.writerow([header for header, _ in columns])
    for number, row in enumerate(rows, 1):
        writer.writerow([_cell(value(row)) for _, value in columns])
        if number % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def rows_in_batches(ids: list[int], load: Callable[[list[int]], dict[int, Any]], size: int = 500) -> Iterator:
    """The records of `ids` in that order, loaded `size` at a time by `load` (ids -> {id: record}).

    Each batch is a query of its own: an open result (yield_per) would not survive the streamed
    response, whose session is closed after the first chunk.
    """
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        records = load(batch)
        yield from (records[i] for i in batch)
        db.session.expunge_all()


def xlsx_bytes(columns: list[Column], rows: Iterable, *, title: str) -> bytes:
    """An XLSX workbook built in openpyxl's write-only mode (rows are not kept in memory)."""
    from openpyxl import Workbook  # here: openpyxl costs every process 5 MB, and only exports need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([header for header, _ in columns])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value(row)) for _, value in columns])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _xlsx_cell(sheet, value):
    """Text stays text: openpyxl would otherwise store "=..." as a formula."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"
    return cell


def _cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    # A cell starting with =, @, + or - would run as a formula in Excel (CSV injection); phone
    # numbers such as "+49 30 773" are left alone.
    if text[:1] in ("=", "@") or (text[:1] in ("+", "-") and not _PHONE_LIKE.match(text)):
        return "'" + text
    return text


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_response(fmt: str, columns: list[Column], rows: Iterable, *, name: str, title: str) -> Response:
    """The download of `rows` as name.csv or name.xlsx; 404 for any other format."""
    if fmt == "csv":
        return Response(
            stream_with_context(csv_stream(columns, rows)),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename={name}.csv"},
        )
    if fmt == "xlsx":
        return Response(
            xlsx_bytes(columns, rows, title=title),
            mimetype=XLSX_MIMETYPE,
            headers={"Content-Disposition": f"attachment; filename={name}.xlsx"},
        )
    abort(404)
