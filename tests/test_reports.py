from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lfr_batch.records.reports import csv_bytes, false_alert_rate, hms, spreadsheet_safe, write_csv


@pytest.mark.parametrize("text", ["=1+1", "+44 20", "-2", "@SUM(A1)", "\tx", "\r=cmd"])
def test_formula_like_text_is_neutralised(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


def test_plain_text_and_numbers_are_left_alone() -> None:
    assert spreadsheet_safe("Alice") == "Alice"
    assert spreadsheet_safe(-2.5) == -2.5
    assert spreadsheet_safe("") == ""


def test_csv_opens_in_pandas_with_fixed_columns_and_safe_cells(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    write_csv(
        path,
        ("name", "value", "note"),
        [
            {"name": '=HYPERLINK("http://x","y")', "value": 1.5},
            {"name": 'Zoë, "quoted"\nnewline', "note": "-"},
        ],
    )
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["name", "value", "note"]
    assert frame["name"].tolist() == ['\'=HYPERLINK("http://x","y")', 'Zoë, "quoted"\nnewline']
    assert frame["value"].tolist()[0] == 1.5
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8


def test_header_is_written_even_without_rows() -> None:
    assert csv_bytes(("a", "b"), []).decode("utf-8-sig") == "a,b\r\n"


def test_false_alert_rate_is_a_percentage_of_faces_seen() -> None:
    assert false_alert_rate(1, 400) == 0.25
    assert false_alert_rate(0, 0) == 0.0


def test_hms() -> None:
    assert hms(3725.4) == "1:02:05"
    assert hms(0) == "0:00:00"
