"""Tables a person edited and saved, read back: a workbook, or a CSV as Excel or
LibreOffice saves it, in whatever encoding and delimiter it was saved with.

Excel saves "CSV (Comma delimited)" in the Windows code page (cp1252 in the West),
with semicolons where the comma is the decimal mark, "CSV UTF-8" with a byte-order
mark, and "Unicode Text" as tab-separated UTF-16; LibreOffice saves in the
character set and separator chosen in its dialog. A file that is none of these is
refused in one line that says how to save it.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from lfr_batch.errors import ReviewError

HOW_TO_SAVE = (
    "save it from Excel as 'CSV UTF-8 (Comma delimited)' or from LibreOffice as 'Text CSV' "
    "(character set Unicode (UTF-8)), or import the .xlsx itself"
)
DELIMITERS = (",", ";", "\t")
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Tried in order where there is no byte-order mark: strict UTF-8 first (it rarely
# decodes text in another encoding), then Excel's Western code page.
ENCODINGS = ("utf-8", "cp1252")
WORKBOOK_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as the spreadsheet shows it, cells)
    encoding: str  # how the file was read: an encoding, or "xlsx"


def read_table(path: Path) -> Table:
    """The header and rows of ``path``, every cell as text."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReviewError(f"cannot read {path}: {error.strerror}") from None
    if data.startswith(WORKBOOK_MAGIC):
        return _read_workbook(path, data)
    text, encoding = decode(data, path)
    lines = list(_rows(text, path))
    if not lines:
        raise ReviewError(f"{path} is empty")
    header = [cell.strip() for cell in lines[0]]
    return Table(header, list(enumerate(lines[1:], start=2)), encoding)


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was saved in."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    else:
        if b"\x00" not in data:  # UTF-16 without its mark is refused below
            for encoding in ENCODINGS:
                try:
                    return data.decode(encoding), encoding
                except UnicodeDecodeError:
                    continue
    raise ReviewError(f"{path} is not text in an encoding a spreadsheet saves: {HOW_TO_SAVE}")


def _rows(text: str, path: Path) -> Iterator[list[str]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    if first_line.count(delimiter) == 0:
        raise ReviewError(f"{path} has one column only (no comma, semicolon or tab): {HOW_TO_SAVE}")
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in row):
                yield row
    except csv.Error as error:
        raise ReviewError(f"cannot read {path} as CSV ({error}): {HOW_TO_SAVE}") from None


def _read_workbook(path: Path, data: bytes) -> Table:
    """The first sheet of a workbook (ours, or one saved by Excel or LibreOffice)."""
    import openpyxl  # only here: a CSV import never needs it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise ReviewError(f"cannot read {path} as a workbook ({error}): {HOW_TO_SAVE}") from None
    try:
        sheet = book.worksheets[0]
        rows = [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            if any(value not in (None, "") for value in values)
        ]
    finally:
        book.close()
    if not rows:
        raise ReviewError(f"{path} is empty")
    return Table([cell.strip() for cell in rows[0][1]], rows[1:], "xlsx")


def _cell_text(value: object) -> str:
    """A cell as the CSV would have it: whole numbers without '.0', times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
