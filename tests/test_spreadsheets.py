"""Spreadsheets both ways: alerts.xlsx and grid.xlsx have typed cells, text that stays text,
readable headers and a printable page, and LibreOffice reads them right; review --import
takes them back, and CSVs saved from them by LibreOffice or Excel, whatever their
encoding and delimiter."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import scan_cli

from lfr_batch.cli import main
from lfr_batch.files import RefusedFileError
from lfr_batch.readers import column_for, read_table
from lfr_batch.records.spreadsheets import label, xlsx_bytes
from lfr_batch.watchlist.store import save_watchlist

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
    header = [column_for(cell.value) for cell in sheet[1]]
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
        rows = [{column_for(key): value for key, value in row.items()} for row in csv.DictReader(handle)]
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


def test_headers_name_their_units_and_read_back() -> None:
    assert label("first_seen_s") == "First seen (s)"
    assert label("false_alert_rate_percent") == "False alert rate (%)"
    assert label("runner_up_subject_id") == "Runner up subject ID"
    for column in ("first_seen_s", "false_alert_rate_percent", "alert_id", "subject_photo", "notes"):
        assert column_for(label(column)) == column
        assert column_for(column) == column


def test_a_workbook_prints_landscape_one_page_wide_with_its_header_on_every_page(deployment: Path) -> None:
    sheet, rows = cells(deployment / "alerts.xlsx")
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth in (None, 1), sheet.page_setup.fitToHeight) == (True, 0)
    assert sheet.print_title_rows == "$1:$1"
    header = sheet[1]
    assert all(cell.font.b for cell in header)
    assert header[0].value == "Alert ID"
    # Times keep the zone they were given in: the clip's name gives local time.
    assert rows[0]["first_seen"].number_format == 'yyyy-mm-dd hh:mm:ss "local"'


def test_grid_xlsx_durations_are_durations(deployment: Path, tmp_path: Path) -> None:
    target = tmp_path / "grid.xlsx"
    assert main(["grid", str(deployment.parent), "-o", str(target)]) == 0
    _sheet, rows = cells(target)
    duration = rows[0]["duration"]
    assert duration.number_format == "[h]:mm:ss"
    assert isinstance(duration.value, timedelta)
    assert duration.value.total_seconds() == 4
    assert isinstance(rows[1]["duration"].value, timedelta)  # the TOTAL row too


def soffice(source: Path, target_type: str, out: Path, *options: str) -> Path:
    """Convert as LibreOffice does when a person opens a file and saves it as another type."""
    if SOFFICE is None:
        pytest.skip("no LibreOffice on this machine (.ci/run installs Debian's libreoffice-calc-nogui)")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={(out / 'profile').as_uri()}",
            "--headless",
            *options,
            "--convert-to",
            target_type,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out / f"{source.stem}.{target_type.split(':')[0]}"


REVIEWED_NOTES = "Zoë, stopped at the café"  # what a reviewer typed; every character in cp1252


@pytest.fixture
def reviewed_workbook(deployment: Path, tmp_path: Path) -> Path:
    """alerts.xlsx as a reviewer saves it after marking the first alert false."""
    book = openpyxl.load_workbook(deployment / "alerts.xlsx")
    sheet = book.active
    header = [column_for(cell.value) for cell in sheet[1]]
    sheet.cell(2, header.index("outcome") + 1).value = "false_unconfirmed"
    sheet.cell(2, header.index("engagement") + 1).value = "no_action"
    sheet.cell(2, header.index("notes") + 1).value = REVIEWED_NOTES
    book.save(tmp_path / "alerts.xlsx")
    return tmp_path / "alerts.xlsx"


def imported(deployment: Path, edited: Path, tmp_path: Path, capsys) -> pd.Series:
    """The first alert of a copy of the deployment, after importing ``edited``."""
    copy = tmp_path / "copy" / deployment.name
    shutil.copytree(deployment, copy)
    capsys.readouterr()
    assert main(["review", str(copy), "--import", str(edited)]) == 0, capsys.readouterr().err
    assert "1 review recorded" in capsys.readouterr().out
    return pd.read_csv(copy / "alerts.csv", keep_default_na=False, dtype=str).iloc[0]


def test_review_imports_our_own_workbook(
    deployment: Path, reviewed_workbook: Path, tmp_path: Path, capsys
) -> None:
    first = imported(deployment, reviewed_workbook, tmp_path, capsys)
    assert (first["outcome"], first["engagement"], first["notes"]) == (
        "false_unconfirmed",
        "no_action",
        REVIEWED_NOTES,
    )


def test_a_workbook_cut_short_is_refused_saying_to_save_it_again(
    deployment: Path, reviewed_workbook: Path, tmp_path: Path, capsys
) -> None:
    whole = reviewed_workbook.read_bytes()
    reviewed_workbook.write_bytes(whole[: len(whole) // 2])  # a copy that stopped halfway
    before = (deployment / "alerts.csv").read_bytes()
    assert main(["review", str(deployment), "--import", str(reviewed_workbook)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cut short or damaged: save it again from the spreadsheet" in err
    assert "import the .xlsx itself" not in err
    assert (deployment / "alerts.csv").read_bytes() == before


def rewritten(workbook: bytes, part: str, change: Callable[[bytes], bytes | None]) -> bytes:
    """The workbook with one part of its archive changed (None: removed), packed."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for name in source.namelist():
            data = change(source.read(name)) if name == part else source.read(name)
            if data is not None:
                copy.writestr(name, data)
    return out.getvalue()


DAMAGES: dict[str, Callable[[bytes], bytes | None]] = {
    "cut": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbled": lambda data: b"<x>\x00\xff&;</y",
    "removed": lambda data: None,
}


def test_a_workbook_damaged_in_any_part_is_read_or_refused_in_one_line(
    deployment: Path, tmp_path: Path
) -> None:
    workbook = (deployment / "alerts.xlsx").read_bytes()
    parts = zipfile.ZipFile(io.BytesIO(workbook)).namelist()
    assert "xl/worksheets/sheet1.xml" in parts
    refusals = []
    for part in parts:
        for damage in DAMAGES.values():
            edited = tmp_path / "edited.xlsx"
            edited.write_bytes(rewritten(workbook, part, damage))
            try:
                read_table(edited, "import", "alert_id", spreadsheet=True)
            except RefusedFileError as error:  # anything else fails the test, as it crashed the command
                refusals.append(str(error))
    assert len(refusals) >= 4 * 2  # the sheet's and the workbook's own parts, every way
    for refusal in refusals:
        assert "\n" not in refusal
        assert "save it again" in refusal or "has no alert_id column" in refusal, refusal


def encrypted(workbook: bytes) -> bytes:
    """The workbook with its first part marked encrypted, as the central directory says it."""
    at = workbook.index(b"PK\x01\x02") + 8  # the first entry's general-purpose flags
    return workbook[:at] + bytes([workbook[at] | 1]) + workbook[at + 1 :]


def test_a_workbook_encrypted_or_stating_a_million_rows_is_refused_in_one_line(
    deployment: Path, tmp_path: Path
) -> None:
    workbook = (deployment / "alerts.xlsx").read_bytes()

    def millionth_row(sheet: bytes) -> bytes:  # some bytes that would unpack to a million rows
        return sheet.replace(
            b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
        )

    edited = tmp_path / "edited.xlsx"
    for data, reason in (
        (encrypted(workbook), "is encrypted"),
        (rewritten(workbook, "xl/worksheets/sheet1.xml", millionth_row), "has more than 200,000 rows"),
    ):
        edited.write_bytes(data)
        with pytest.raises(RefusedFileError, match=reason):
            read_table(edited, "import", "alert_id", spreadsheet=True)


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_parsed(
    deployment: Path, tmp_path: Path, capsys
) -> None:
    def comment(sheet: bytes) -> bytes:  # 64 MiB of comment: some 64 KiB packed
        return sheet.replace(b"<sheetData>", b"<sheetData><!--" + b" " * 2**26 + b"-->", 1)

    edited = tmp_path / "edited.xlsx"
    edited.write_bytes(
        rewritten((deployment / "alerts.xlsx").read_bytes(), "xl/worksheets/sheet1.xml", comment)
    )
    assert edited.stat().st_size < 1024 * 1024
    began = time.monotonic()
    assert main(["review", str(deployment), "--import", str(edited)]) == 1
    assert time.monotonic() - began < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unpacks to 64 MiB, more than the 32 MiB a workbook of ours comes near" in err


@pytest.mark.parametrize(
    ("filter_options", "encoding"),
    [
        ("44,34,76,1", "utf-8"),  # LibreOffice's Text CSV, comma, Unicode (UTF-8)
        ("59,34,1,1", "cp1252"),  # semicolon, Western Europe (Windows-1252), as in a European locale
        ("9,34,65535,1", "utf-16"),  # tab, Unicode (UTF-16)
    ],
)
def test_review_imports_a_csv_libreoffice_saved_from_the_workbook(
    deployment: Path, reviewed_workbook: Path, tmp_path: Path, capsys, filter_options: str, encoding: str
) -> None:
    saved = soffice(reviewed_workbook, f"csv:Text - txt - csv (StarCalc):{filter_options}", tmp_path / "lo")
    assert REVIEWED_NOTES in saved.read_bytes().decode(encoding)  # saved in the encoding asked for
    first = imported(deployment, saved, tmp_path, capsys)
    assert (first["outcome"], first["notes"]) == ("false_unconfirmed", REVIEWED_NOTES)


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("cp1252", ","), ("cp1252", ";"), ("utf-16", "\t")],
    ids=["CSV UTF-8", "CSV (Comma delimited)", "CSV in a comma-decimal locale", "Unicode Text"],
)
def test_review_imports_each_csv_excel_saves(
    deployment: Path, tmp_path: Path, capsys, encoding: str, delimiter: str
) -> None:
    """The CSVs Excel's 'Save as' makes, written as Excel writes them."""
    rows = list(csv.reader((deployment / "alerts.csv").read_text(encoding="utf-8-sig").splitlines()))
    header = rows[0]
    rows[1][header.index("outcome")] = "false_unconfirmed"
    rows[1][header.index("notes")] = REVIEWED_NOTES
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    edited = tmp_path / "alerts-edited.csv"
    edited.write_bytes(buffer.getvalue().encode(encoding))
    first = imported(deployment, edited, tmp_path, capsys)
    assert (first["outcome"], first["notes"]) == ("false_unconfirmed", REVIEWED_NOTES)


def test_libreoffice_opens_our_csv_and_its_workbook_imports_back(
    deployment: Path, tmp_path: Path, capsys
) -> None:
    """Our CSV as LibreOffice opens it with the character set docs/reports.md names
    (Unicode (UTF-8); LibreOffice 7.4 does not read the byte-order mark by itself),
    saved on as a workbook: the mark is not a character of the first header, accents
    are intact, and the workbook imports back."""
    opened = soffice(deployment / "alerts.csv", "xlsx", tmp_path / "lo", "--infilter=CSV:44,34,76,1")
    _sheet, rows = cells(opened)
    first = next(row for row in rows if row["reviewer"].value == REVIEWER)
    assert first["notes"].value == "'" + NOTES  # the CSV's guard against a formula, shown as text
    book = openpyxl.load_workbook(opened)
    header = [cell.value for cell in book.active[1]]
    assert header[0] == "alert_id"  # not "\ufeffalert_id" or "ï»¿alert_id"
    copy = tmp_path / "copy" / deployment.name
    shutil.copytree(deployment, copy)
    capsys.readouterr()
    assert main(["review", str(copy), "--import", str(opened)]) == 0
    assert "0 reviews recorded" in capsys.readouterr().out  # the same answers, read back unchanged


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"alert_id outcome\nA00001 true_confirmed\n", "one column only"),
        ("alert_id,outcome\n".encode("utf-16-le"), "not text in an encoding"),
        (
            b"PK\x03\x04not really a workbook",
            "is no workbook we can read (File is not a zip file), cut short",
        ),
    ],
)
def test_a_file_no_spreadsheet_saves_is_refused_saying_how_to_save(
    deployment: Path, tmp_path: Path, capsys, content: bytes, message: str
) -> None:
    edited = tmp_path / "edited.csv"
    edited.write_bytes(content)
    assert main(["review", str(deployment), "--import", str(edited)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert "CSV UTF-8 (Comma delimited)" in err
