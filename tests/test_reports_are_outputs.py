"""Reports are outputs: a report a spreadsheet saved over is never read back as data nor
overwritten silently, and what a purge deletes leaves no trace in any report."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_WATCHLIST, scan_cli, stored_text

from lfr_batch.cli import main
from lfr_batch.records.state import DeploymentState
from lfr_batch.watchlist.model import Subject
from lfr_batch.watchlist.store import load_watchlist, save_watchlist


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    """Deployment 'd' with one alert (F1 in the female-and-male clip)."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    return tmp_path / "d"


def reviewed_in_a_spreadsheet(folder: Path) -> pd.DataFrame:
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    alerts[["outcome", "engagement", "reviewer", "notes"]] = [
        "true_confirmed",
        "arrest",
        "PC 1",
        "Zoë's café",
    ]
    return alerts


def kept_copy(folder: Path) -> Path:
    (copy,) = folder.glob("alerts.edited-*.csv")
    return copy


def test_an_alerts_csv_saved_with_semicolons_is_kept_and_imported_not_dropped(
    scanned: Path, caplog, capsys
) -> None:
    """Excel in much of Europe saves CSV with ';': the next scan used to drop its reviews."""
    reviewed_in_a_spreadsheet(scanned).to_csv(scanned / "alerts.csv", sep=";", index=False)
    saved = (scanned / "alerts.csv").read_bytes()
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=scanned.parent) == 0
    copy = kept_copy(scanned)
    assert copy.read_bytes() == saved
    warning = next(
        r.getMessage() for r in caplog.records if "was changed since lfr-batch wrote it" in r.getMessage()
    )
    assert f"lfr-batch review {scanned} --import {copy}" in warning
    capsys.readouterr()
    assert main(["review", str(scanned), "--import", str(copy)]) == 0
    assert "1 review recorded" in capsys.readouterr().out
    record = pd.read_csv(scanned / "deployment.csv").iloc[0]
    assert (record["true_alerts_confirmed"], record["arrests"]) == (1, 1)
    assert pd.read_csv(scanned / "alerts.csv", keep_default_na=False).loc[0, "notes"] == "Zoë's café"


def test_an_alerts_csv_imported_in_place_is_written_afresh_not_kept_aside(scanned: Path, caplog) -> None:
    reviewed_in_a_spreadsheet(scanned).to_csv(scanned / "alerts.csv", index=False)
    assert main(["review", str(scanned), "--import", str(scanned / "alerts.csv")]) == 0
    assert list(scanned.glob("*.edited-*")) == []
    assert not [r for r in caplog.records if "was changed since lfr-batch wrote it" in r.getMessage()]
    alert = pd.read_csv(scanned / "alerts.csv", keep_default_na=False).iloc[0]
    assert (alert["outcome"], alert["notes"]) == ("true_confirmed", "Zoë's café")
    # Edited again and not imported, it is kept aside as before.
    reviewed_in_a_spreadsheet(scanned).assign(notes="typed later").to_csv(scanned / "alerts.csv", index=False)
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=scanned.parent) == 0
    assert pd.read_csv(kept_copy(scanned), keep_default_na=False).loc[0, "notes"] == "typed later"


@pytest.mark.parametrize("damage", ["neither UTF-8 nor Windows-1252", "a 64 MiB cell"])
def test_an_alerts_csv_no_reader_takes_stops_nothing_and_its_import_is_one_line(
    scanned: Path, capsys, damage: str
) -> None:
    out = scanned.parent
    alerts = reviewed_in_a_spreadsheet(scanned)
    if damage == "neither UTF-8 nor Windows-1252":
        alerts.to_csv(scanned / "alerts.csv", index=False, encoding="cp1252")
        text = (scanned / "alerts.csv").read_bytes()
        (scanned / "alerts.csv").write_bytes(
            text.replace(b"PC 1", b"PC \x81")
        )  # 0x81: no Windows-1252 letter
        message = "is not UTF-8 text"
    else:
        alerts["notes"] = "n" * (64 * 1024 * 1024)
        alerts.to_csv(scanned / "alerts.csv", index=False)
        message = "a cell of more than 1,000,000 characters"
    edited = scanned.parent / "edited.csv"
    edited.write_bytes((scanned / "alerts.csv").read_bytes())
    assert main(["review", str(scanned), "--import", str(edited)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert DeploymentState(scanned).reviews() == {}
    assert main(["grid", str(out), "--summary"]) == 0
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=out) == 0
    assert main(["purge", str(out), "--older-than", "1h", "--yes"]) == 0


@pytest.mark.parametrize(
    "edit",
    [
        lambda row: row.assign(date="01/01/2020"),
        lambda row: row.iloc[0:0],
        lambda row: row.assign(total_alerts="2.0"),
        lambda row: row.assign(duration="an hour"),
        lambda row: row.assign(watchlist_size="many"),
        lambda row: row.drop(columns=["date"]),
        lambda row: row.assign(threshold=""),
        lambda row: row.assign(expected_false_alert_rate="x"),
    ],
)
def test_a_deployment_csv_edited_by_hand_stops_no_grid(tmp_path: Path, edit, capsys) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path, deployment="a") == 0
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="b") == 0
    row = pd.read_csv(tmp_path / "a" / "deployment.csv", dtype=str, keep_default_na=False)
    edit(row).to_csv(tmp_path / "a" / "deployment.csv", index=False, sep=";")
    assert main(["grid", str(tmp_path), "-o", str(tmp_path / "grid.csv")]) == 0
    grid = pd.read_csv(tmp_path / "grid.csv", keep_default_na=False)
    assert grid["deployment"].tolist() == ["a", "b", "TOTAL"]
    assert grid["total_alerts"].tolist() == [1, 0, 1]
    assert main(["grid", str(tmp_path), "--summary"]) == 0


def test_evaluate_reads_what_was_scanned_not_its_formula_safe_reports(
    tmp_path: Path, walk_video: Path, capsys
) -> None:
    """Ids and names a spreadsheet would run as formulas are stored with an apostrophe in
    the CSVs; the evaluation used to compare them, apostrophe and all."""
    watchlist = load_watchlist(SAMPLE_WATCHLIST)
    watchlist.subjects = [Subject("-2+3", "=F1")]
    listed = tmp_path / "formulas.pkl"
    save_watchlist(watchlist, listed)
    video = tmp_path / "-cam_20261126T140000.avi"
    video.write_bytes(walk_video.read_bytes())
    assert scan_cli(video, out=tmp_path / "out", watchlist=listed, options=("--keep-distances",)) == 0
    assert pd.read_csv(tmp_path / "out" / "d" / "alerts.csv", dtype=str)["subject_id"].tolist() == ["'-2+3"]
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "video,subject_id,start_s,end_s\n-cam_20261126T140000.avi,-2+3,0.5,3.5\n-cam_20261126T140000.avi,,1.0,3.0\n"
    )
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "out" / "d"), "--truth", str(truth)]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 watchlisted appearances found" in out
    assert "1 alerts, 0 false" in out


def test_purge_leaves_nothing_of_an_alert_in_distances_csv(tmp_path: Path, walk_video: Path) -> None:
    assert scan_cli(walk_video, out=tmp_path, options=("--keep-distances",)) == 0
    folder = tmp_path / "d"
    (alert,) = (alert for _video, alert in DeploymentState(folder).alerts())
    distances = pd.read_csv(folder / "distances.csv", keep_default_na=False)
    assert alert.track_id in distances["track_id"].tolist()
    assert main(["purge", str(tmp_path), "--older-than", "1h", "--yes"]) == 0
    distances = pd.read_csv(folder / "distances.csv", keep_default_na=False)
    assert alert.track_id not in distances["track_id"].tolist()
    assert f'"track_id": {alert.track_id},' not in stored_text(folder / ".lfr-batch" / "state.sqlite")


def test_footage_dated_in_the_future_is_purged_by_when_it_was_scanned(tmp_path: Path) -> None:
    future = tmp_path / "cam_20991231T120000.mp4"
    future.write_bytes(FEMALE_AND_MALE.read_bytes())
    assert scan_cli(future, out=tmp_path / "out") == 0
    assert len(DeploymentState(tmp_path / "out" / "d").alerts()) == 1
    assert main(["purge", str(tmp_path / "out"), "--older-than", "0h", "--yes"]) == 0
    assert DeploymentState(tmp_path / "out" / "d").alerts() == []


def test_a_record_naming_evidence_outside_its_folder_embeds_nothing(scanned: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8 the contents of another file")
    (scanned / "snapshots" / "A00009.jpg").symlink_to(secret)
    for path in ("../../../../etc/passwd", str(secret), "snapshots/../../secret.jpg", "snapshots/A00009.jpg"):
        with sqlite3.connect(scanned / ".lfr-batch" / "state.sqlite") as db:
            db.execute(
                "UPDATE videos SET record = json_set(record, '$.alerts[0].snapshot', ?) WHERE sequence = 1",
                (path,),
            )
        assert scan_cli(FEMALE_AND_MALE, out=scanned.parent) == 0  # nothing new: the reports rewritten
        page = (scanned / "report.html").read_text()
        assert "root:" not in page
        assert "dGhlIGNvbnRlbnRz" not in page  # "the contents", base64
