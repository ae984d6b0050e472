"""Readers of the text files people edit: CSV tables (a spreadsheet's save of one of our
reports, a truth file, a watchlist's subjects.csv) and the TOML config.

Each opens only a regular file of bounded size (:func:`lfr_batch.files.open_regular`), so a
pipe, a device or a 100 GB file is refused in one line instead of hanging or filling
memory, and refuses what it cannot read in one line that names the file and the remedy
(:class:`~lfr_batch.files.RefusedFileError`; each caller turns it into its own error).

A spreadsheet saves CSV in the ways of its country: UTF-8 with or without a byte order
mark, UTF-16 ("Unicode text"), comma-, semicolon- (Excel in much of Europe) or
tab-separated. :func:`read_table` reads each of these; text in any other encoding
(Windows-1252, say) is refused with what to save it as, because a guess at the
encoding could change a name or a note without anyone seeing.
"""

from __future__ import annotations

import codecs
import csv
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfr_batch.files import RefusedFileError, read_regular

MAX_TABLE_BYTES = 256 * 1024 * 1024
# One cell: far more than any note may hold (10,000 characters), far less than memory.
MAX_CELL_CHARS = 1_000_000
MAX_TOML_BYTES = 1024 * 1024
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SAVE_AS_UTF8 = (
    "save it as 'CSV UTF-8 (Comma delimited)' (Excel) or with character set 'Unicode (UTF-8)' (LibreOffice)"
)

csv.field_size_limit(MAX_CELL_CHARS)


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


def decode_text(data: bytes, path: Path, what: str, remedy: str) -> str:
    """UTF-8 (a byte order mark allowed) or UTF-16 with its byte order mark."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RefusedFileError(what, path, f"is not UTF-8 text (byte {error.start:,}): {remedy}") from None


def _delimiter(text: str, path: Path, what: str, key_column: str) -> str:
    """The separator that makes the first line a header naming ``key_column``."""
    first = text.split("\n", 1)[0]
    for delimiter in DELIMITERS:
        header = next(csv.reader([first], delimiter=delimiter), [])
        if key_column in (cell.strip() for cell in header):
            return delimiter
    raise RefusedFileError(
        what,
        path,
        f"has no {key_column} column in its first line (a header of columns separated by commas, "
        "semicolons or tabs)",
    )


def read_table(path: Path, what: str, key_column: str, limit: int = MAX_TABLE_BYTES) -> Table:
    """A CSV table whose first line is a header naming ``key_column``: its rows by column
    name, each with the line it starts on. Blank lines are passed over."""
    text = decode_text(read_regular(path, what, limit), path, what, SAVE_AS_UTF8)
    delimiter = _delimiter(text, path, what, key_column)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[Row] = []
    columns: tuple[str, ...] = ()
    line = 1
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):
                if not columns:
                    columns = tuple(cell.strip() for cell in cells)
                else:
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


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file of at most :data:`MAX_TOML_BYTES`, as a table."""
    text = decode_text(read_regular(path, what, MAX_TOML_BYTES), path, what, "save it as UTF-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RefusedFileError(what, path, f"is not valid TOML: {error}") from None
    except RecursionError:
        raise RefusedFileError(what, path, "nests arrays or tables too deeply to be a config") from None
