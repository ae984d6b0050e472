"""alerts.xlsx and grid.xlsx: typed cells, text that stays text, and LibreOffice reads them right."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import scan_cli

from lfr_batch.cli import main
from lfr_batch.records.spreadsheets import xlsx_bytes
from lfr_batch.watchlist import save_watchlist

openpyxl = pytest.importorskip("openpyxl")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
REVIEWER = "Zoë Ærøskøbing"
NOTES = "=1+1 stopped at the café; ✓ identity confirmed"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, two_subject_watchlist, walk_video: Path) -> Path:
    """A reviewed deployment with accented names and formula-looking text (subject
    f1 is named '=HYPERLINK("http://x")' in the watchlist source)."""
    out = tmp_path_factory.mktemp("sheets")
    watchlist = out / "list.pkl"
    save_watchlist(two_subject_watchlist, watchlist)
    name = "Ærø 2026"
    assert (
        scan_cli(walk_video, out=out, watchlist=watchlist, deployment=name, options=("--workers", "1")) == 0
    )
    alerts = pd.read_csv(out / name / "alerts.csv", keep_default_na=False, dtype=str)
    assert len(alerts) >= 1
    alerts.loc[0, ["outcome", "engagement", "reviewer", "notes"]] = [
        "true_confirmed",
        "arrest",
        REVIEWER,
        NOTES,
    ]
    alerts.to_csv(out / "edited.csv", index=False)
    assert main(["review", str(out / name), "--import", str(out / "edited.csv")]) == 0
    return out / name


def cells(path: Path) -> tuple[object, list[dict[str, object]]]:
    sheet = openpyxl.load_workbook(path).active
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    return sheet, rows


def test_alerts_xlsx_has_typed_cells_and_text_that_stays_text(deployment: Path) -> None:
    sheet, rows = cells(deployment / "alerts.xlsx")
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref
    assert len(rows) == len(pd.read_csv(deployment / "alerts.csv"))
    first = next(row for row in rows if row["reviewer"].value == REVIEWER)
    assert first["notes"].value == NOTES
    assert first["notes"].data_type == "s"  # never a formula
    names = {row["subject_name"].value for row in rows}
    assert '=HYPERLINK("http://x")' in names
    assert all(row["subject_name"].data_type == "s" for row in rows)
    assert isinstance(first["distance"].value, float)
    assert isinstance(first["best_frame"].value, int)
    # The clip's name gives its start (cam1_20261126T140000): times are real dates.
    assert isinstance(first["first_seen"].value, datetime)
    assert first["first_seen"].value.date() == date(2026, 11, 26)
    assert first["alert_id"].value.startswith("A")
    widths = {column: sheet.column_dimensions[column].width for column in ("A", "C")}
    assert widths["C"] > widths["A"]  # the video path column is wider than the alert id's


def test_libreoffice_reads_the_workbook_with_every_accent_and_no_formula(
    deployment: Path, tmp_path: Path
) -> None:
    if SOFFICE is None:
        pytest.skip("no LibreOffice on this machine (.ci/run installs Debian's libreoffice-calc-nogui)")
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",  # comma, quote, UTF-8, from line 1
            "--outdir",
            str(tmp_path),
            str(deployment / "alerts.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    with (tmp_path / "alerts.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row["reviewer"] == REVIEWER and row["notes"] == NOTES for row in rows)
    # Evaluated, the formula would have become its result: it is still the text.
    assert '=HYPERLINK("http://x")' in {row["subject_name"] for row in rows}
    assert "ï»¿" not in (tmp_path / "alerts.csv").read_text(encoding="utf-8")


def test_grid_xlsx_has_dates_numbers_and_the_totals_row(deployment: Path, tmp_path: Path) -> None:
    target = tmp_path / "grid.xlsx"
    assert main(["grid", str(deployment.parent), "-o", str(target)]) == 0
    _sheet, rows = cells(target)
    assert [row["deployment"].value for row in rows] == ["Ærø 2026", "TOTAL"]
    assert isinstance(rows[0]["date"].value, datetime)  # a date cell (openpyxl reads dates as datetimes)
    assert isinstance(rows[0]["faces_seen"].value, int)
    assert rows[1]["faces_seen"].value == rows[0]["faces_seen"].value


def test_numbers_that_are_not_numbers_stay_as_given() -> None:
    data = xlsx_bytes(
        ["id", "rate", "when"],
        [{"id": "007", "rate": "n/a", "when": "not a time"}, {"id": "1e3", "rate": "0.5", "when": ""}],
        numbers=["rate"],
        moments=["when"],
    )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)] == [
        ["007", "n/a", "not a time"],
        ["1e3", 0.5, None],
    ]
