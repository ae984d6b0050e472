"""Readers of the text files people edit: CSV tables (a spreadsheet's save of one of our
reports, a truth file, a watchlist's subjects.csv) and the TOML config.

Each opens only a regular file of bounded size (:func:`lfr_batch.files.open_regular`), so a
pipe, a device or a 100 GB file is refused in one line instead of hanging or filling
memory, and refuses what it cannot read in one line that names the file and the remedy
(:class:`~lfr_batch.files.RefusedFileError`; each caller turns it into its own error).

A spreadsheet saves CSV in the ways of its country: Excel's "CSV (Comma delimited)" in
the Windows code page (cp1252 in the West), with semicolons where the comma is the
decimal mark, "CSV UTF-8" with a byte-order mark, "Unicode Text" as tab-separated
UTF-16; LibreOffice in the character set and separator chosen in its dialog.
:func:`read_table` reads UTF-8 and UTF-16 with its mark, separated by commas,
semicolons or tabs, with a workbook's header labels ("First seen (s)") or our column
names. An edited copy of one of our reports (``spreadsheet=True``) may also be our own
workbook, or Western Windows text: its names are checked against what was scanned,
and only review columns are taken from it. Other tables (a watchlist's subjects.csv,
a truth file) in another encoding are refused with what to save them as, because a
guess at the encoding could change a name that is published without anyone seeing.
"""

from __future__ import annotations

import codecs
import csv
import io
import tomllib
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from lfr_batch.errors import one_line
from lfr_batch.files import RefusedFileError, read_regular

MAX_TABLE_BYTES = 256 * 1024 * 1024
# One cell: far more than any note may hold (10,000 characters), far less than memory.
MAX_CELL_CHARS = 1_000_000
MAX_TOML_BYTES = 1024 * 1024
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SAVE_AS_UTF8 = (
    "save it as 'CSV UTF-8 (Comma delimited)' (Excel) or with character set 'Unicode (UTF-8)' (LibreOffice)"
)
OR_THE_WORKBOOK = ", or import the .xlsx itself"  # where a workbook is read too (an edited report)
SAVE_THE_WORKBOOK_AGAIN = (
    "save it again from the spreadsheet, or save it as 'CSV UTF-8 (Comma delimited)' and import that"
)
# A workbook is a zip archive: what it unpacks to is bounded as a CSV's size is (a few
# kilobytes can unpack to gigabytes, and openpyxl takes minutes over tens of megabytes).
MAX_WORKBOOK_UNPACKED_BYTES = 32 * 1024 * 1024
MAX_WORKBOOK_ROWS = 200_000  # empty ones between rows in use included
MAX_WORKBOOK_CELLS = 5_000_000
# Where there is no byte-order mark: strict UTF-8 first (it rarely decodes text in
# another encoding), then Excel's Western code page.
FALLBACK_ENCODING = "cp1252"
WORKBOOK_MAGIC = b"PK\x03\x04"  # an .xlsx is a zip archive

csv.field_size_limit(MAX_CELL_CHARS)
# A column's unit, as its name ends and as a workbook's header says it ("First seen (s)").
UNITS = (("_percent", " (%)"), ("_s", " (s)"))


def column_for(header: str) -> str:
    """The column a header names, whether a workbook's label or the column's own name."""
    text = header.strip()
    for suffix, unit in UNITS:
        if text.endswith(unit):
            return column_for(text.removesuffix(unit)) + suffix
    return text.lower().replace(" ", "_")


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts in the file, counting blank lines and lines inside cells
    cells: dict[str, str]  # by column name, stripped of surrounding spaces; "" for a missing cell


@dataclass(frozen=True)
class Table:
    path: Path
    columns: tuple[str, ...]
    rows: list[Row]
    delimiter: str


def decode_text(data: bytes, path: Path, what: str, remedy: str, fallback: str | None = None) -> str:
    """UTF-8 (a byte order mark allowed) or UTF-16 with its byte order mark; else, where a
    ``fallback`` encoding is named, that."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise RefusedFileError(
                what, path, f"is not UTF-16 text (byte {error.start:,}): {remedy}"
            ) from None
    if data.count(b"\x00") * 4 >= len(data) > 0:  # UTF-16 without its mark: every other byte naught
        raise RefusedFileError(what, path, f"is not text in an encoding a spreadsheet saves: {remedy}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if fallback is not None:
            try:
                return data.decode(fallback)
            except UnicodeDecodeError:
                pass
        raise RefusedFileError(what, path, f"is not UTF-8 text (byte {error.start:,}): {remedy}") from None


def _delimiter(text: str, path: Path, what: str, key_column: str, remedy: str) -> str:
    """The separator that makes the first line a header naming ``key_column``."""
    first = text.split("\n", 1)[0]
    if column_for(first.lstrip("\ufeff")) == key_column:
        return ","  # a table of one column
    if not any(delimiter in first for delimiter in DELIMITERS):
        raise RefusedFileError(
            what, path, f"has one column only (no comma, semicolon or tab in its first line): {remedy}"
        )
    for delimiter in DELIMITERS:
        header = next(csv.reader([first], delimiter=delimiter), [])
        if key_column in (column_for(cell) for cell in header):
            return delimiter
    raise RefusedFileError(
        what,
        path,
        f"has no {key_column} column in its first line (a header of columns separated by commas, "
        "semicolons or tabs)",
    )


def read_table(
    path: Path, what: str, key_column: str, limit: int = MAX_TABLE_BYTES, spreadsheet: bool = False
) -> Table:
    """A CSV table whose first line is a header naming ``key_column``: its rows by column
    name, each with the line it starts on. Blank lines are passed over. A ``spreadsheet``
    (an edited copy of one of our reports) may also be a workbook, or Western Windows text."""
    data = read_regular(path, what, limit)
    if data.startswith(WORKBOOK_MAGIC):
        if not spreadsheet:
            raise RefusedFileError(what, path, f"is a workbook, not a CSV: {SAVE_AS_UTF8}")
        return _workbook_table(data, path, what, key_column)
    remedy = SAVE_AS_UTF8 + (OR_THE_WORKBOOK if spreadsheet else "")
    text = decode_text(data, path, what, remedy, FALLBACK_ENCODING if spreadsheet else None)
    delimiter = _delimiter(text, path, what, key_column, remedy)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return _named_rows(path, what, reader, delimiter)


def _named_rows(path: Path, what: str, reader: Any, delimiter: str) -> Table:
    """The rows of a CSV reader by the columns its first row names."""
    rows: list[Row] = []
    columns: tuple[str, ...] = ()
    line = 1
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):
                if not columns:
                    columns = tuple(column_for(cell) for cell in cells)
                else:
                    if any(cell.strip() for cell in cells[len(columns) :]):
                        raise RefusedFileError(
                            what,
                            path,
                            f"has {len(cells)} cells at line {line} under a header of {len(columns)} "
                            + (
                                "(a value beyond the last named column)"
                                if delimiter == "xlsx"
                                else "(a delimiter inside a cell that is not quoted?)"
                            ),
                        )
                    padded = [*cells, *[""] * (len(columns) - len(cells))]
                    named: dict[str, str] = {}
                    for column, cell in zip(columns, padded, strict=False):
                        named.setdefault(column, cell.strip())
                    rows.append(Row(line, named))
            line = reader.line_num + 1
    except csv.Error as error:
        reason = str(error)
        if "field limit" in reason:
            reason = f"a cell of more than {MAX_CELL_CHARS:,} characters"
        raise RefusedFileError(what, path, f"cannot be read at line {line}: {reason}") from None
    return Table(path, columns, rows, delimiter)


def _workbook_table(data: bytes, path: Path, what: str, key_column: str) -> Table:
    """The first sheet of a workbook (ours, or one saved by Excel or LibreOffice), read as
    its CSV would be: numbers as written, times in ISO 8601."""
    try:
        lines = _workbook_lines(data, path, what)
    except RefusedFileError:
        raise
    # A damaged part of the archive fails wherever openpyxl comes to it, each way its own:
    # a bad zip, a missing part, XML cut short (SyntaxError: expat's and lxml's parse
    # errors), a value of the wrong kind.
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        SyntaxError,
        LookupError,
        ValueError,
        TypeError,
        NotImplementedError,  # a compression method zipfile does not know
        RuntimeError,  # an encrypted part
    ) as error:
        raise RefusedFileError(
            what,
            path,
            f"is no workbook we can read ({one_line(error)[:200]}), cut short or damaged: "
            + SAVE_THE_WORKBOOK_AGAIN,
        ) from None
    if not lines or key_column not in (column_for(cell) for cell in lines[0]):
        raise RefusedFileError(what, path, f"has no {key_column} column in its first row")
    return _named_rows(path, what, _NumberedRows(lines), "xlsx")


def _workbook_lines(data: bytes, path: Path, what: str) -> list[list[str]]:
    """The first sheet's rows as text, once the archive is known to unpack to a size we read."""
    import openpyxl  # only here: a CSV never needs it

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > MAX_WORKBOOK_UNPACKED_BYTES:
        raise RefusedFileError(
            what,
            path,
            f"unpacks to {unpacked / 2**20:,.0f} MiB, more than the "
            f"{MAX_WORKBOOK_UNPACKED_BYTES // 2**20} MiB a workbook of ours comes near: "
            + SAVE_THE_WORKBOOK_AGAIN,
        )
    with warnings.catch_warnings():  # openpyxl warns of what it passes over, in lines of its own
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            # The sheet's stated size pads every row, and a row numbered a million makes a
            # million rows: read the cells that are there, and stop at a bound.
            sheet.reset_dimensions()
            lines, cells = [], 0
            for values in sheet.iter_rows(values_only=True):
                lines.append([_cell_text(value) for value in values])
                cells += len(values)
                if len(lines) > MAX_WORKBOOK_ROWS or cells > MAX_WORKBOOK_CELLS:
                    raise RefusedFileError(
                        what,
                        path,
                        f"has more than {MAX_WORKBOOK_ROWS:,} rows or {MAX_WORKBOOK_CELLS:,} cells "
                        f"(empty ones between those in use included): {SAVE_THE_WORKBOOK_AGAIN}",
                    )
            return lines
        finally:
            book.close()


class _NumberedRows:
    """A workbook's rows as a csv reader gives them, with the row number as its line."""

    def __init__(self, lines: list[list[str]]) -> None:
        self._lines, self.line_num = lines, 0

    def __iter__(self) -> Iterator[list[str]]:
        for self.line_num, cells in enumerate(self._lines, start=1):  # noqa: B020
            yield cells


def _cell_text(value: object) -> str:
    """A cell as the CSV would have it: whole numbers without '.0', times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file of at most :data:`MAX_TOML_BYTES`, as a table."""
    text = decode_text(read_regular(path, what, MAX_TOML_BYTES), path, what, "save it as UTF-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RefusedFileError(what, path, f"is not valid TOML: {error}") from None
    except RecursionError:
        raise RefusedFileError(what, path, "nests arrays or tables too deeply to be a config") from None
