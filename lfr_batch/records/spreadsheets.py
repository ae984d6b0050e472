"""Excel workbooks beside the CSVs: ``alerts.xlsx`` and the grid (``grid -o FILE.xlsx``).

A CSV leaves every type to the program that opens it: LibreOffice's default
import turns UTF-8 into mojibake and Excel turns ids into numbers and dates
into text. A workbook says what each cell is. pandas builds the table and its
XlsxWriter engine writes it: text stays text (never a formula or a number,
whatever it starts with), numbers are numbers, times are dates, the header is
frozen with a filter on it, and columns are as wide as their contents.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lfr_batch.files import write_atomic

MAX_COLUMN_WIDTH = 60
CELL_LIMIT = 32767  # characters Excel keeps in one cell
TRUNCATED = " … [cut short: the whole text is in the CSV]"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"


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
    """An ISO 8601 time as the wall-clock time it was given in (Excel has no time zones)."""
    if value in ("", None):
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        return str(value)


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
    sheet: str = "Sheet1",
) -> bytes:
    """A one-sheet workbook of ``rows``; the named columns typed, every other one text."""
    converters = {
        **dict.fromkeys(numbers, _number),
        **dict.fromkeys(moments, _moment),
        **dict.fromkeys(days, _day),
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
        table.to_excel(writer, sheet_name=sheet, index=False)
        worksheet = writer.sheets[sheet]
        worksheet.freeze_panes(1, 0)
        worksheet.autofilter(0, 0, len(table), max(len(columns) - 1, 0))
        for index, column in enumerate(columns):
            width = max([len(column), *(len(_shown(value)) for value in table[column])])
            worksheet.set_column(index, index, min(width + 2, MAX_COLUMN_WIDTH))
    return buffer.getvalue()


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return "yyyy-mm-dd hh:mm:ss"
    return "" if value is None else str(value)


def write_xlsx(path: Path, *args: Any, **kwargs: Any) -> None:
    write_atomic(path, xlsx_bytes(*args, **kwargs))
