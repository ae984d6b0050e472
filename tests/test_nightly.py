"""Re-runs into the same deployment, kills at any moment, and config files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    REPO,
    SAMPLE_VIDEOS,
    SAMPLE_WATCHLIST,
    scan_args,
    stored_records,
)

from lfr_batch.cli import main
from lfr_batch.records.state import DeploymentState

TIMING_COLUMNS = ["processing_seconds", "scanned_at"]
ONE_WORKER = ("--workers", "1")


def scan_cli(*inputs: Path, out: Path, options: tuple[str, ...] = ()) -> int:
    return main(scan_args(*inputs, out=out, options=(*ONE_WORKER, *options)))


def reports(folder: Path) -> dict[str, pd.DataFrame]:
    frames = {
        name: pd.read_csv(folder / name, keep_default_na=False) for name in ("alerts.csv", "videos.csv")
    }
    frames["deployment.csv"] = pd.read_csv(folder / "deployment.csv", keep_default_na=False).drop(
        columns=TIMING_COLUMNS
    )
    return frames


# Each run's cuts rest on the faces that run saw: a deployment scanned in two runs was
# calibrated twice, and these columns say so.
CALIBRATION_COLUMNS = {
    "alerts.csv": ["threshold"],
    "deployment.csv": [
        "threshold",
        "threshold_min",
        "threshold_max",
        "expected_false_alert_rate_percent",
        "calibration",
        "calibration_faces",
    ],
}


def assert_same_reports(a: Path, b: Path, calibrated_alike: bool = True) -> None:
    left, right = reports(a), reports(b)
    if not calibrated_alike:
        for name, columns in CALIBRATION_COLUMNS.items():
            left[name], right[name] = left[name].drop(columns=columns), right[name].drop(columns=columns)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)
    for snapshot in (a / "snapshots").glob("*.jpg"):
        assert snapshot.read_bytes() == (b / "snapshots" / snapshot.name).read_bytes()


def test_rerun_adds_only_new_footage_and_counts_all(tmp_path: Path, capsys) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    (footage / "1.mp4").write_bytes(MALE_ONLY.read_bytes())
    assert scan_cli(footage, out=tmp_path) == 0
    assert "1 video scanned, 0 already scanned" in capsys.readouterr().out

    (footage / "2.mp4").write_bytes(FEMALE_AND_MALE.read_bytes())
    (footage / "1-renamed.mp4").write_bytes(MALE_ONLY.read_bytes())  # same content, new name
    assert scan_cli(footage, out=tmp_path) == 0
    assert "1 video scanned, 2 already scanned" in capsys.readouterr().out
    videos = pd.read_csv(tmp_path / "d" / "videos.csv")
    assert [Path(v).name for v in videos["video"]] == ["1.mp4", "2.mp4"]
    record = pd.read_csv(tmp_path / "d" / "deployment.csv").iloc[0]
    assert (record["videos"], record["faces_seen"], record["total_alerts"]) == (2, 3, 1)

    single = tmp_path / "single"
    assert scan_cli(footage / "1.mp4", footage / "2.mp4", out=single) == 0
    assert_same_reports(tmp_path / "d", single / "d", calibrated_alike=False)
    alerts = pd.read_csv(tmp_path / "d" / "alerts.csv")
    assert (alerts["distance"] <= alerts["threshold"]).all()


def test_rerun_keeps_what_reviewers_typed_into_alerts_csv_aside_for_import(tmp_path: Path) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    alerts_csv = tmp_path / "d" / "alerts.csv"
    alerts = pd.read_csv(alerts_csv, keep_default_na=False, dtype=str)
    alerts.loc[0, ["outcome", "reviewer", "notes"]] = ["true_confirmed", "PC 123", "=seen twice"]
    alerts.to_csv(alerts_csv, index=False)
    typed = alerts_csv.read_bytes()
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=tmp_path) == 0
    # The report is the scan's again; what was typed is kept beside it, byte for byte.
    (kept,) = (tmp_path / "d").glob("alerts.edited-*.csv")
    assert kept.read_bytes() == typed
    assert pd.read_csv(tmp_path / "d" / "deployment.csv").iloc[0]["true_alerts_confirmed"] == 0
    # Imported, it counts in the deployment record like any review.
    assert main(["review", str(tmp_path / "d"), "--import", str(kept)]) == 0
    assert pd.read_csv(tmp_path / "d" / "deployment.csv").iloc[0]["true_alerts_confirmed"] == 1
    recorded = pd.read_csv(alerts_csv, keep_default_na=False).iloc[0]
    assert (recorded["outcome"], recorded["reviewer"], recorded["notes"]) == (
        "true_confirmed",
        "PC 123",
        "'=seen twice",
    )


def test_rerun_with_other_settings_is_refused(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    capsys.readouterr()
    before = (tmp_path / "d" / "deployment.csv").read_bytes()
    assert scan_cli(MALE_ONLY, FEMALE_AND_MALE, out=tmp_path, options=("--threshold", "0.5")) == 2
    err = capsys.readouterr().err
    assert "was scanned with threshold 'auto' (now 0.5), threshold_mode 'auto' (now 'fixed')" in err
    assert err.count("\n") == 1
    assert (tmp_path / "d" / "deployment.csv").read_bytes() == before
    assert (
        scan_cli(MALE_ONLY, FEMALE_AND_MALE, out=tmp_path, options=("--threshold", "0.5", "--overwrite")) == 0
    )
    assert pd.read_csv(tmp_path / "d" / "deployment.csv").iloc[0]["threshold"] == 0.5


def test_a_scan_killed_at_any_moment_ends_as_an_uninterrupted_one(tmp_path: Path, walk_video: Path) -> None:
    inputs = [str(SAMPLE_VIDEOS), str(walk_video)]
    whole = tmp_path / "whole"
    assert scan_cli(*map(Path, inputs), out=whole) == 0

    killed = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "lfr_batch",
        *scan_args(*map(Path, inputs), out=killed, options=ONE_WORKER),
    ]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.8, 1.6, 2.4, 3.2, 4.0):
        process = subprocess.Popen(
            command,
            env=environ_without_bars(environment),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        for report in (killed / "d").glob("*.csv"):
            pd.read_csv(report)  # never half-written
        # A kill mid-write may leave only write_atomic's hidden temporary file.
        assert all(path.name.startswith(".") for path in (killed / "d").rglob("*.tmp"))
    assert subprocess.run(command, env=environment, capture_output=True, check=False).returncode == 0
    assert_same_reports(whole / "d", killed / "d")
    assert not list((killed / "d").rglob("*.tmp"))


def ctrl_c_while_workers_start(
    command: list[str], environment: dict[str, str], ctrl_c: Any, workers_started: int, delay: float
) -> tuple[int, str]:
    """Start a scan with SIGINT at ``ctrl_c``; once ``workers_started`` of its child
    processes exist (the resource tracker counts), wait ``delay`` and signal its whole
    process group, as a terminal's Ctrl-C does. Its exit status and stderr."""
    import psutil  # Dask's own dependency

    process = subprocess.Popen(
        command,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, ctrl_c),
    )
    scan_process = psutil.Process(process.pid)
    while process.poll() is None and len(scan_process.children()) < workers_started:
        time.sleep(0.01)
    time.sleep(delay)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def test_ctrl_c_while_the_workers_start_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    """Ctrl-C signals the whole process group, the workers too: one still loading its
    libraries used to die with a traceback each, and the scan with a third."""
    arguments = scan_args(SAMPLE_VIDEOS, out=tmp_path, options=("--workers", "2"))
    command = [sys.executable, "-m", "lfr_batch", *arguments]
    environment = environ_without_bars({**os.environ, "PYTHONPATH": str(REPO)})
    for delay in (0.05, 0.2, 0.4):  # after the first worker appears: workers load for about a second
        # SIGINT at its default, as a terminal starts it: a test run in the background inherits it ignored.
        status, err = ctrl_c_while_workers_start(command, environment, signal.SIG_DFL, 2, delay)
        assert status == 130, err
        assert "Traceback" not in err, err
        assert "Error" not in err, err
        assert err.strip().splitlines()[-1] == "lfr-batch: interrupted", err
    # A scan started with Ctrl-C ignored (a script's background job) keeps it ignored in its workers.
    status, err = ctrl_c_while_workers_start(command, environment, signal.SIG_IGN, 3, 1.0)
    assert status == 0, err
    assert len(pd.read_csv(tmp_path / "d" / "videos.csv")) == 3


def environ_without_bars(environment: dict[str, str]) -> dict[str, str]:
    return {**environment, "TQDM_DISABLE": "1"}


def test_config_file_holds_every_option_and_the_command_line_wins(tmp_path: Path, capsys) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text(
        "[scan]\n"
        f'inputs = ["{MALE_ONLY.as_posix()}", "{FEMALE_AND_MALE.as_posix()}"]\n'
        f'watchlist = "{SAMPLE_WATCHLIST.as_posix()}"\n'
        'deployment = "nightly"\n'
        f'out = "{tmp_path.as_posix()}"\n'
        'location = "Main entrance"\n'
        "threshold = 0.55\n"
        "workers = 1\n"
        "quiet = true\n"
    )
    assert main(["scan", "--config", str(config), "--threshold", "0.5"]) == 0
    record = pd.read_csv(tmp_path / "nightly" / "deployment.csv").iloc[0]
    assert (record["location"], record["threshold"], record["videos"]) == ("Main entrance", 0.5, 2)

    config.write_text("[scan]\nthreshhold = 0.5\n")
    assert main(["scan", "--config", str(config)]) == 2
    assert "unknown key 'threshhold'" in capsys.readouterr().err
    config.write_text("[scan\n")
    assert main(["scan", "--config", str(config)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    config.write_text("[scan]\nmax_false_alert_rate = 0.001\nmax-false-alert-rate = 0.01\n")
    assert main(["scan", "--config", str(config)]) == 2
    assert "'max-false-alert-rate' given twice in [scan] ('-' and '_' alike)" in capsys.readouterr().err


def test_an_older_config_with_segment_seconds_still_runs_and_is_told_it_is_ignored(
    tmp_path: Path, capsys
) -> None:
    """A nightly job written when --segment-seconds cut the files keeps running: the key
    is checked, warned about once and ignored, and the deployment takes later runs without
    it, keeping the value that its earlier files were cut by."""
    config = tmp_path / "nightly.toml"
    common = (
        f'[scan]\nwatchlist = "{SAMPLE_WATCHLIST.as_posix()}"\ndeployment = "n"\n'
        f'out = "{tmp_path.as_posix()}"\n'
    )
    config.write_text(f'{common}inputs = ["{MALE_ONLY.as_posix()}"]\nsegment-seconds = 30\n')
    assert main(["scan", "--config", str(config)]) == 0
    assert capsys.readouterr().err.count("--segment-seconds is no longer used, and was ignored") == 1
    # As a deployment an earlier version scanned with --segment-seconds 12 stores it.
    state = DeploymentState(tmp_path / "n")
    state.settings["scan"]["segment_seconds"] = 12.0
    state.save_settings()
    config.write_text(f'{common}inputs = ["{MALE_ONLY.as_posix()}", "{FEMALE_AND_MALE.as_posix()}"]\n')
    assert main(["scan", "--config", str(config)]) == 0
    assert "no longer used" not in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "n" / "deployment.csv").iloc[0]["videos"] == 2
    assert DeploymentState(tmp_path / "n").settings["scan"]["segment_seconds"] == 12.0  # how file 1 was cut
    before = (tmp_path / "n" / "deployment.csv").read_bytes()
    config.write_text(f'{common}inputs = ["{MALE_ONLY.as_posix()}"]\nsegment-seconds = 5\n')
    assert main(["scan", "--config", str(config)]) == 2
    assert f"{config}: --segment-seconds 5 must be a number from 10 to 86400" in capsys.readouterr().err
    assert (tmp_path / "n" / "deployment.csv").read_bytes() == before


def test_missing_required_options_are_named(tmp_path: Path, capsys) -> None:
    assert main(["scan", str(MALE_ONLY)]) == 2
    assert "missing --watchlist, --deployment" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["not json", '{"version": 99}', "not a database"])
def test_an_unreadable_scan_state_is_a_clear_error(tmp_path: Path, capsys, bad: str) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    store = tmp_path / "d" / ".lfr-batch" / "state.sqlite"
    if bad == "not a database":
        store.write_bytes(b"not a database at all" * 100)
    else:
        with sqlite3.connect(store) as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (bad,))
    assert scan_cli(MALE_ONLY, out=tmp_path) == 1
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["not json", '{"sha256": "x"}', "[]"])
def test_one_damaged_video_record_does_not_hide_the_rest(tmp_path: Path, caplog, damage: str) -> None:
    assert scan_cli(MALE_ONLY, FEMALE_AND_MALE, out=tmp_path) == 0
    store = tmp_path / "d" / ".lfr-batch" / "state.sqlite"
    damaged = next(
        sha for sha, record in stored_records(tmp_path / "d").items() if record["video"] == str(MALE_ONLY)
    )
    with sqlite3.connect(store) as db:
        db.execute("UPDATE videos SET record = ? WHERE sha256 = ?", (damage, damaged))
    # Review and the reports still read the other video's record and alert ...
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "d" / "alerts.csv")]) == 0
    assert "is unreadable" in caplog.text
    videos = pd.read_csv(tmp_path / "d" / "videos.csv")
    assert videos["video"].tolist() == [str(FEMALE_AND_MALE)]
    # ... and the next scan scans the damaged one's video again.
    assert scan_cli(MALE_ONLY, FEMALE_AND_MALE, out=tmp_path) == 0
    videos = pd.read_csv(tmp_path / "d" / "videos.csv")
    assert sorted(videos["video"]) == sorted([str(MALE_ONLY), str(FEMALE_AND_MALE)])
    assert stored_records(tmp_path / "d")[damaged]["video"] == str(MALE_ONLY)
