"""The state store is read as input: a damaged, locked, full, deleted or replaced store,
or an earlier layout with unreadable parts, is one line (or a warning), loses nothing
it could read, and never stops a command on another deployment."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_WATCHLIST, scan_cli, to_legacy_layout

from lfr_batch.cli import cli, main
from lfr_batch.errors import ReportError
from lfr_batch.records import state as state_module
from lfr_batch.records.state import DeploymentState
from lfr_batch.scan import Progress, ScanConfig, scan


def review_then_quit(folder: Path) -> int:
    """Open a deployment for review in the terminal, and stop at the first question."""
    return (
        CliRunner()
        .invoke(cli, ["review", str(folder), "--no-preview", "--reviewer", "PC 1"], input="q\n")
        .exit_code
    )


def test_a_truncated_record_of_an_earlier_version_loses_only_itself(
    tmp_path: Path, walk_video: Path, caplog
) -> None:
    assert scan_cli(walk_video, MALE_ONLY, out=tmp_path, options=("--workers", "1")) == 0
    folder = tmp_path / "d"
    review = {"A00001": {"outcome": "true_confirmed", "reviewer": "PC 1", "notes": "", "engagement": ""}}
    records, _settings = to_legacy_layout(folder, review)
    damaged, kept = sorted(records)
    legacy = folder / ".lfr-batch" / "videos"
    text = (legacy / f"{damaged}.json").read_text()
    (legacy / f"{damaged}.json").write_text(text[: len(text) // 2])  # a disk that failed mid-write

    state = DeploymentState(folder)
    assert set(state.records) == {kept}
    assert state.reviews() == review
    assert any("could not be read and are kept in" in r.getMessage() for r in caplog.records)
    assert (folder / ".lfr-batch" / "unreadable" / f"{damaged}.json").read_text() == text[: len(text) // 2]
    assert not (folder / ".lfr-batch" / "settings.json").exists()
    # The next scan scans the lost video again, and nothing else.
    assert scan_cli(walk_video, MALE_ONLY, out=tmp_path, options=("--workers", "1")) == 0
    assert set(DeploymentState(folder).records) == set(records)
    assert DeploymentState(folder).reviews() == review


def test_a_reviews_file_holding_a_list_keeps_the_videos(tmp_path: Path, caplog) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    records, _settings = to_legacy_layout(tmp_path / "d", ["not", "a", "table"])
    state = DeploymentState(tmp_path / "d")
    assert set(state.records) == set(records)
    assert state.reviews() == {}
    assert any("holds no table of reviews" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "d" / ".lfr-batch" / "unreadable" / "reviews.json").is_file()


def test_a_migration_that_cannot_read_the_settings_leaves_no_empty_store(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    to_legacy_layout(tmp_path / "d", {})
    (tmp_path / "d" / ".lfr-batch" / "settings.json").write_text('{"version": 1, "sc')
    assert main(["grid", str(tmp_path)]) == 1
    assert "settings.json" in capsys.readouterr().err
    assert not (tmp_path / "d" / ".lfr-batch" / "state.sqlite").exists()
    assert len(list((tmp_path / "d" / ".lfr-batch" / "videos").glob("*.json"))) == 1  # nothing lost


@pytest.fixture
def two_deployments(tmp_path: Path, walk_video: Path) -> Path:
    """'a' with an alert from 2026; 'b' scanned, then its store damaged."""
    assert scan_cli(walk_video, out=tmp_path, deployment="a") == 0
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="b") == 0
    (tmp_path / "b" / ".lfr-batch" / "state.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    return tmp_path


def test_one_damaged_store_does_not_keep_another_deployment_s_evidence(two_deployments: Path, capsys) -> None:
    out = two_deployments
    assert main(["purge", str(out), "--older-than", "1h", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "1 deployment not purged: b:" in err
    assert "--overwrite" in err
    assert DeploymentState(out / "a").alerts() == []
    assert not list((out / "a" / "snapshots").glob("*.jpg"))
    assert main(["grid", str(out), "-o", str(out / "grid.csv")]) == 1
    assert "left out of the grid" in capsys.readouterr().err
    assert pd.read_csv(out / "grid.csv")["deployment"].tolist() == ["a", "TOTAL"]


def test_overwrite_mends_a_damaged_store(two_deployments: Path, capsys) -> None:
    out = two_deployments
    assert scan_cli(MALE_ONLY, out=out, deployment="b") == 1
    assert "--overwrite" in capsys.readouterr().err
    assert scan_cli(MALE_ONLY, out=out, deployment="b", options=("--overwrite",)) == 0
    assert len(DeploymentState(out / "b").records) == 1


@pytest.mark.parametrize("replacement", ["folder", "dangling link"])
def test_a_store_replaced_by_a_folder_or_a_link_is_one_line_and_overwrite_mends_it(
    tmp_path: Path, capsys, replacement: str
) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    store = tmp_path / "d" / ".lfr-batch" / "state.sqlite"
    store.unlink()
    if replacement == "folder":
        store.mkdir()
    else:
        store.symlink_to(tmp_path / "nowhere.sqlite")
    for arguments in (
        ["grid", str(tmp_path)],
        ["purge", str(tmp_path), "--older-than", "1h", "--yes"],
    ):
        assert main(arguments) == 1
        err = capsys.readouterr().err
        assert "is not a file of its own" in err
        assert "Traceback" not in err
    assert not (tmp_path / "nowhere.sqlite").exists()
    assert scan_cli(MALE_ONLY, out=tmp_path, options=("--overwrite",)) == 0


def test_a_store_held_by_another_sqlite_program_is_said_so(tmp_path: Path, capsys, monkeypatch) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    monkeypatch.setattr(state_module, "BUSY_TIMEOUT_S", 0.1)
    other = sqlite3.connect(tmp_path / "d" / ".lfr-batch" / "state.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        assert main(["purge", str(tmp_path), "--older-than", "0h", "--yes"]) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = capsys.readouterr().err
    assert "is held by another program" in err
    assert "--overwrite" not in err
    assert len(DeploymentState(tmp_path / "d").alerts()) == 1


def test_a_full_disk_is_one_line_and_loses_nothing_committed(tmp_path: Path, capsys, monkeypatch) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    store = tmp_path / "d" / ".lfr-batch" / "state.sqlite"
    with sqlite3.connect(store) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    before = store.read_bytes()
    edited = pd.read_csv(tmp_path / "d" / "alerts.csv", keep_default_na=False, dtype=str)
    edited[["outcome", "notes"]] = ["true_confirmed", "n" * 9000]
    edited.to_csv(tmp_path / "edited.csv", index=False)
    # A disk with no room for one more page: SQLite says "database or disk is full".
    monkeypatch.setattr(
        state_module, "_PRAGMAS", (*state_module._PRAGMAS, f"PRAGMA max_page_count = {pages}")
    )
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "edited.csv")]) == 1
    err = capsys.readouterr().err
    assert "cannot be written (database or disk is full)" in err
    assert err.count("\n") == 1
    assert store.read_bytes() == before
    monkeypatch.undo()
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "edited.csv")]) == 0
    assert DeploymentState(tmp_path / "d").reviews()["A00001"]["notes"] == "n" * 9000


def test_a_read_only_store_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0

    def read_only(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    monkeypatch.setattr(state_module, "_open_store", read_only)
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 1
    err = capsys.readouterr().err
    assert "cannot be written (attempt to write a readonly database)" in err
    assert err.count("\n") == 1


def test_a_store_deleted_while_a_scan_runs_is_one_line(tmp_path: Path) -> None:
    config = ScanConfig(
        inputs=(MALE_ONLY, FEMALE_AND_MALE),
        watchlist=SAMPLE_WATCHLIST,
        deployment="d",
        out_dir=tmp_path,
        workers=1,
        watchlist_max_age_h=1e6,
    )
    store = tmp_path / "d" / ".lfr-batch" / "state.sqlite"

    def delete_after_the_first_video(event: Progress) -> None:
        if event.event == "video_end":
            store.unlink(missing_ok=True)

    with pytest.raises(ReportError, match="was deleted or replaced while this command ran"):
        scan(config, delete_after_the_first_video)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (
            "UPDATE meta SET value = json_set(value, '$.scan.threshold', 'x') WHERE key = 'settings'",
            "threshold",
        ),
        ("UPDATE meta SET value = json_set(value, '$.runs', json('{}')) WHERE key = 'settings'", "runs"),
        ("UPDATE meta SET value = json_set(value, '$.scan', json('[]')) WHERE key = 'settings'", "scan"),
        ("UPDATE meta SET value = '[1]' WHERE key = 'settings'", "settings"),
        (
            "DELETE FROM meta WHERE key = 'settings'; INSERT INTO meta VALUES ('settings', '{\"scan\": {}}')",
            "lack",
        ),
    ],
)
def test_settings_edited_out_of_shape_are_one_line(tmp_path: Path, capsys, edit: str, where: str) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    with sqlite3.connect(tmp_path / "d" / ".lfr-batch" / "state.sqlite") as db:
        db.executescript(edit)
    for arguments in (
        ["review", str(tmp_path / "d"), "--import", str(tmp_path / "d" / "alerts.csv")],
        ["grid", str(tmp_path)],
        ["purge", str(tmp_path), "--older-than", "0h", "--yes"],
    ):
        assert main(arguments) == 1
        err = capsys.readouterr().err
        assert where in err
        assert "Traceback" not in err
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path, options=("--overwrite",)) == 0


@pytest.mark.parametrize(
    "edit",
    [
        "json_set(record, '$.alerts', json('{}'))",
        "json_set(record, '$.alerts[0].distance', 'near')",
        "json_set(record, '$.alerts[0].alert_id', 'X')",
        "json_set(record, '$.faces_seen_by_bin', json('[\"a\"]'))",
        "json_set(record, '$.duration_s', 1e300)",
        "json_set(record, '$.start', '9999-12-31T23:59:59')",
        "json_set(record, '$.purged', json('[]'))",
        "json_set(record, '$.status', 'great')",
        "json_set(record, '$.distances', json('[1]'))",
        "json_set(record, '$.sequence', 'first')",
        "'[]'",
    ],
)
def test_a_record_edited_out_of_shape_is_left_out_and_the_rest_work(
    tmp_path: Path, walk_video: Path, caplog, edit: str
) -> None:
    assert scan_cli(walk_video, FEMALE_AND_MALE, out=tmp_path, options=("--workers", "1")) == 0
    with sqlite3.connect(tmp_path / "d" / ".lfr-batch" / "state.sqlite") as db:
        db.execute(f"UPDATE videos SET record = {edit} WHERE sequence = 1")
    assert review_then_quit(tmp_path / "d") == 0
    assert any("is unreadable" in r.getMessage() for r in caplog.records)
    assert scan_cli(walk_video, FEMALE_AND_MALE, out=tmp_path, options=("--workers", "1")) == 0
    assert main(["grid", str(tmp_path)]) == 0
    assert main(["purge", str(tmp_path), "--older-than", "1h", "--yes"]) == 0


def test_a_review_edited_out_of_shape_is_left_out(tmp_path: Path, caplog) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    with sqlite3.connect(tmp_path / "d" / ".lfr-batch" / "state.sqlite") as db:
        db.execute("INSERT INTO reviews VALUES ('A00001', '[\"true_confirmed\"]')")
    assert review_then_quit(tmp_path / "d") == 0
    assert any("review of A00001" in r.getMessage() for r in caplog.records)
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=tmp_path) == 0
    shutil.rmtree(tmp_path / "d" / "snapshots")
    assert main(["purge", str(tmp_path), "--older-than", "0h", "--yes"]) == 0
    with sqlite3.connect(tmp_path / "d" / ".lfr-batch" / "state.sqlite") as db:
        assert db.execute("SELECT count(*) FROM reviews").fetchone()[0] == 0  # gone with its alert
