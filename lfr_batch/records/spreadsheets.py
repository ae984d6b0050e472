"""Excel workbooks beside the CSVs: ``alerts.xlsx`` and the grid (``grid -o FILE.xlsx``).

A CSV leaves every type to the program that opens it: LibreOffice's default
import turns UTF-8 into mojibake and Excel turns ids into numbers and dates
into text. A workbook says what each cell is. pandas builds the table and its
XlsxWriter engine writes it: text stays text (never a formula or a number,
whatever it starts with), numbers are numbers, times are dates shown with their
zone, durations are durations, the header is readable ("First seen (s)" for
first_seen_s), bold, frozen, filtered and repeated on every printed page, the
page is landscape and fitted to its width, and columns are as wide as their
contents. :func:`lfr_batch.readers.column_for` reads a header back, for imports of an edited sheet.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from lfr_batch.files import write_atomic
from lfr_batch.readers import UNITS

MAX_COLUMN_WIDTH = 60
CELL_LIMIT = 32767  # characters Excel keeps in one cell
TRUNCATED = " … [cut short: the whole text is in the CSV]"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
DURATION_FORMAT = "[h]:mm:ss"


def label(column: str) -> str:
    """The header a person reads for a column: 'first_seen_s' is 'First seen (s)'."""
    for suffix, unit in UNITS:
        if column.endswith(suffix):
            return label(column.removesuffix(suffix)) + unit
    words = ["ID" if word == "id" else word for word in column.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > CELL_LIMIT:
        return text[: CELL_LIMIT - len(TRUNCATED)] + TRUNCATED
    return text


def _number(value: Any) -> Any:
    if value in ("", None):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)  # the TOTAL row's own text, say: kept as text
    if not math.isfinite(number):
        return str(value)
    return int(number) if number.is_integer() and "." not in str(value) else number


def _moment(value: Any) -> Any:
    """An ISO 8601 time as the wall-clock time it was given in; Excel has no time zones,
    so the zone goes into the cell's format (see _zone_format)."""
    if value in ("", None):
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)


def _duration(value: Any) -> Any:
    """H:MM:SS as a duration (Excel counts it in days)."""
    if value in ("", None):
        return None
    try:
        hours, minutes, seconds = (int(part) for part in str(value).split(":"))
    except ValueError:
        return str(value)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds) / timedelta(days=1)


def _zone_format(moment: datetime) -> str:
    """The time shown with the zone it was given in: 2026-11-26 14:00:00 +01:00; a time
    given without one is local time where lfr-batch ran, and shown so."""
    offset = moment.utcoffset()
    if offset is None:
        return f'{DATETIME_FORMAT} "local"'
    sign, minutes = ("-" if offset < timedelta(0) else "+"), abs(offset) // timedelta(minutes=1)
    return f'{DATETIME_FORMAT} "{sign}{minutes // 60:02d}:{minutes % 60:02d}"'


def _day(value: Any) -> Any:
    if value in ("", None):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return str(value)  # "2026-11-01/2026-11-26", the totals' date range


def xlsx_bytes(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    numbers: Sequence[str] = (),
    moments: Sequence[str] = (),
    days: Sequence[str] = (),
    durations: Sequence[str] = (),
    sheet: str = "Sheet1",
) -> bytes:
    """A one-sheet workbook of ``rows``; the named columns typed, every other one text."""
    converters = {
        **dict.fromkeys(numbers, _number),
        **dict.fromkeys(moments, _moment),
        **dict.fromkeys(days, _day),
        **dict.fromkeys(durations, _duration),
    }
    table = pd.DataFrame(
        [
            {
                column: converters[column](row.get(column))
                if column in converters
                else _text(row.get(column))
                for column in columns
            }
            for row in rows
        ],
        columns=list(columns),
        dtype=object,
    )
    # The times are written below, each with its zone; pandas writes the rest.
    shown = table.copy()
    for column in moments:
        shown[column] = None
    buffer = io.BytesIO()
    with pd.ExcelWriter(
        buffer,
        engine="xlsxwriter",
        datetime_format=DATETIME_FORMAT,
        date_format=DATE_FORMAT,
        # Cells that start with = or look like numbers or links stay the text they are.
        engine_kwargs={
            "options": {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
        },
    ) as writer:
        shown.to_excel(writer, sheet_name=sheet, index=False)
        book, worksheet = writer.book, writer.sheets[sheet]
        formats: dict[str, Any] = {}

        def cell_format(pattern: str) -> Any:
            if pattern not in formats:
                formats[pattern] = book.add_format({"num_format": pattern})
            return formats[pattern]

        for index, column in enumerate(columns):
            for row, value in enumerate(table[column], start=1):
                if isinstance(value, datetime):
                    worksheet.write_datetime(
                        row, index, value.replace(tzinfo=None), cell_format(_zone_format(value))
                    )
                elif isinstance(value, str) and column in moments:
                    worksheet.write_string(row, index, value)
        headers = [label(column) for column in columns]
        worksheet.write_row(0, 0, headers, book.add_format({"bold": True, "bottom": 1, "text_wrap": True}))
        worksheet.freeze_panes(1, 0)
        worksheet.autofilter(0, 0, len(table), max(len(columns) - 1, 0))
        # On paper: landscape, as wide as the page, the header on every page.
        worksheet.set_landscape()
        worksheet.set_paper(9)  # A4
        worksheet.fit_to_pages(1, 0)
        worksheet.repeat_rows(0)
        for index, column in enumerate(columns):
            width = max([len(headers[index]), *(len(_shown(value)) for value in table[column])])
            duration = cell_format(DURATION_FORMAT) if column in durations else None
            worksheet.set_column(index, index, min(width + 2, MAX_COLUMN_WIDTH), duration)
    return buffer.getvalue()


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return _zone_format(value).replace('"', "")
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return "" if value is None else str(value)


def write_xlsx(path: Path, *args: Any, **kwargs: Any) -> None:
    write_atomic(path, xlsx_bytes(*args, **kwargs))
