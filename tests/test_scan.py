"""End to end: the bundled sample, synthetic footage and broken input, through the CLI."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path

import cv2
import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    SAMPLE_VIDEOS,
    SAMPLE_WATCHLIST,
    STRANGERS_WALKING,
    scan_cli,
    stored_records,
    stored_text,
    write_corrupt_video,
)

from lfr_batch.records.reports import ALERT_COLUMNS, DEPLOYMENT_COLUMNS, VIDEO_COLUMNS
from lfr_batch.records.state import VideoRecord
from lfr_batch.scan import ScanConfig, scan, start_from_filename

PUBLISHED = [
    "deployment",
    "location",
    "date",
    "start",
    "end",
    "duration",
    "purpose",
    "watchlist_size",
    "threshold",
    "total_alerts",
    "true_alerts_confirmed",
    "true_alerts_unconfirmed",
    "false_alerts_confirmed",
    "false_alerts_unconfirmed",
    "false_alert_rate_percent",
    "arrests",
    "other_disposals",
    "no_action",
    "faces_seen",
    "expected_false_alert_rate_percent",
    "expected_missed_percent",
    "threshold_mode",
    "threshold_min",
    "threshold_max",
    "max_false_alert_rate_percent",
    "calibration",
    "calibration_faces",
    "faces_low_quality",
    "videos",
    "videos_failed",
    "frames_decoded",
    "frames_analysed",
    "processing_seconds",
    "software",
    "software_version",
    "detector",
    "encoder",
]
REQUIRED_ALERT_COLUMNS = [
    "alert_id",
    "deployment",
    "video",
    "track_id",
    "first_seen_s",
    "last_seen_s",
    "first_seen",
    "last_seen",
    "best_frame",
    "subject_id",
    "subject_name",
    "category",
    "distance",
    "threshold",
    "top",
    "right",
    "bottom",
    "left",
    "snapshot",
    "outcome",
    "engagement",
    "reviewer",
    "notes",
]


def read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, keep_default_na=False)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main command on the bundled sample."""
    out = tmp_path_factory.mktemp("reports")
    code = scan_cli(
        SAMPLE_VIDEOS,
        out=out,
        deployment="sample",
        options=("--location", "=Bundled sample", "--purpose", "Demonstration"),
    )
    assert code == 0
    return out / "sample"


def test_sample_alerts_on_the_watchlisted_person_only(sample_run: Path) -> None:
    alerts = read(sample_run, "alerts.csv")
    assert alerts["subject_id"].tolist() == ["intel_actor_f1"]
    alert = alerts.iloc[0]
    assert Path(alert["video"]).name == FEMALE_AND_MALE.name
    assert alert["distance"] < 0.45
    assert alert["category"] == "Suspected of an offence"
    # the unlisted man beside her (and alone in another clip) gives no alert
    videos = read(sample_run, "videos.csv").set_index("video")
    assert videos.loc[str(FEMALE_AND_MALE), "faces_seen"] == 2
    assert videos.loc[str(MALE_ONLY), ["faces_seen", "alerts"]].tolist() == [1, 0]
    assert videos.loc[str(STRANGERS_WALKING), ["faces_seen", "alerts"]].tolist() == [2, 0]


def test_sample_alert_has_a_snapshot_of_the_face(sample_run: Path) -> None:
    alert = read(sample_run, "alerts.csv").iloc[0]
    snapshot = cv2.imread(str(sample_run / alert["snapshot"]))
    assert snapshot is not None
    height = alert["bottom"] - alert["top"]
    assert snapshot.shape[0] >= height
    assert alert[["outcome", "engagement", "reviewer", "notes"]].tolist() == ["", "", "", ""]


def test_report_columns(sample_run: Path) -> None:
    alerts = read(sample_run, "alerts.csv")
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert set(REQUIRED_ALERT_COLUMNS) <= set(alerts.columns)
    assert list(alerts.columns[-4:]) == ["outcome", "engagement", "reviewer", "notes"]
    deployment = read(sample_run, "deployment.csv")
    assert list(deployment.columns) == list(DEPLOYMENT_COLUMNS)
    assert list(deployment.columns[: len(PUBLISHED)]) == PUBLISHED
    assert list(read(sample_run, "videos.csv").columns) == list(VIDEO_COLUMNS)


def test_deployment_record_before_review(sample_run: Path) -> None:
    record = read(sample_run, "deployment.csv").iloc[0]
    assert record["location"] == "'=Bundled sample"  # shown as text, never run
    assert record["purpose"] == "Demonstration"
    # F1 and M1 together, M1 alone, and the two small faces walking (18-26 px), which
    # BlazeFace finds and HOG missed.
    assert record[["watchlist_size", "total_alerts", "faces_seen", "videos", "videos_failed"]].tolist() == [
        1,
        1,
        5,
        3,
        0,
    ]
    for column in (
        "true_alerts_confirmed",
        "true_alerts_unconfirmed",
        "false_alerts_confirmed",
        "false_alerts_unconfirmed",
        "arrests",
        "other_disposals",
        "no_action",
    ):
        assert record[column] == 0
    assert record["false_alert_rate_percent"] == 0
    # One subject, cut on the reference weighed with the faces this run measured: about one
    # false alert in 10,000 faces seen (deployment.csv gives every rate in %, and says so in its name).
    assert 0.3 < record["threshold"] < 0.5
    assert record["threshold"] == record["threshold_min"] == record["threshold_max"]  # one subject, one cut
    assert record["threshold_mode"] == "auto"
    # Said as encoded faces: the two walkers too small to match are seen and not measured.
    encoded = int(record["calibration_faces"])
    assert record["calibration"].startswith(
        f"this run's footage ({encoded} face{'s' * (encoded != 1)} encoded)"
    )
    assert encoded <= record["faces_seen"] - record["faces_low_quality"]
    assert 0.005 < record["expected_false_alert_rate_percent"] <= 0.01
    # Both walkers stay under the 24 px gate (their boxes 12-23 px): too small to match.
    assert record["faces_low_quality"] == 2
    assert record["frames_decoded"] == 36 + 58 + 65
    assert 0 < record["frames_analysed"] < record["frames_decoded"]
    assert record["start"] == ""  # no --start and no timestamps in the file names
    assert record["duration"] == "0:00:13"  # the footage's own length
    assert record["software"] == "lfr-batch"
    assert record["encoder"].startswith("dlib_face_recognition_resnet_model_v1")


def test_one_walker_is_one_face_and_one_alert(walk_video: Path, tmp_path: Path) -> None:
    start = "2026-11-26T14:00:00+00:00"
    result = scan(
        ScanConfig(
            inputs=(walk_video,),
            watchlist=SAMPLE_WATCHLIST,
            deployment="walk",
            out_dir=tmp_path,
            start=None,
        )
    )
    assert result.faces_seen == 2  # F1 and M1, each over many frames
    assert result.total_alerts == 1
    alerts = read(tmp_path / "walk", "alerts.csv")
    alert = alerts.iloc[0]
    assert alert["subject_id"] == "intel_actor_f1"
    assert alert["first_seen_s"] == pytest.approx(0.6, abs=0.21)
    assert alert["last_seen_s"] == pytest.approx(3.4, abs=0.21)
    # The file name carries the recording start, so wall-clock times are known.
    assert alert["first_seen"].startswith("2026-11-26T14:00:00")
    record = read(tmp_path / "walk", "deployment.csv").iloc[0]
    assert (record["date"], record["start"], record["end"]) == (
        "2026-11-26",
        "2026-11-26T14:00:00",
        "2026-11-26T14:00:04",
    )
    assert start_from_filename(walk_video).isoformat() == start[:19]


def test_corrupt_video_in_a_batch_is_listed_and_the_rest_scanned(tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_corrupt_video(inputs / "a_broken.mp4")
    (inputs / "b_clip.mp4").write_bytes(FEMALE_AND_MALE.read_bytes())
    assert scan_cli(inputs, out=tmp_path / "out") == 3
    assert "a_broken.mp4" in capsys.readouterr().err
    folder = tmp_path / "out" / "d"
    videos = read(folder, "videos.csv")
    assert videos["status"].tolist() == ["failed", "ok"]
    assert videos["reason"].iloc[0] != ""
    assert read(folder, "alerts.csv")["subject_id"].tolist() == ["intel_actor_f1"]
    assert read(folder, "deployment.csv").iloc[0]["videos_failed"] == 1


def test_missing_watchlist_stops_at_once_with_one_line(tmp_path: Path, capsys) -> None:
    code = scan_cli(SAMPLE_VIDEOS, out=tmp_path, watchlist=tmp_path / "none.pkl")
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith("lfr-batch: error: watchlist not found")
    assert not (tmp_path / "d").exists()


def test_refused_pickle_stops_the_scan(tmp_path: Path, capsys) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"encodings": [print], "names": ["x"]}))
    assert scan_cli(SAMPLE_VIDEOS, out=tmp_path, watchlist=evil) == 1
    assert "refusing watchlist" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--threshold", "5"), "--threshold 5.0 must be 'auto' or a number between 0 and 2"),
        (("--fps", "0"), "--fps 0.0 must be a number over 0"),
        (("--upsample", "9"), "--upsample 9 must be a whole number from 0 to 3"),
        (("--start", "yesterday"), "not an ISO 8601 date-time"),
        (("--detector", "yolo"), "Invalid value for '--detector'"),
        (("--fps", "abc"), "'abc' is not a valid float. (see 'lfr-batch scan --help')"),
        (("--no-such-option",), "No such option '--no-such-option'"),
    ],
)
def test_bad_options_end_the_run_with_a_usage_error(tmp_path: Path, capsys, args, message) -> None:
    assert scan_cli(SAMPLE_VIDEOS, out=tmp_path, options=args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err  # one line, click's own errors too
    assert not (tmp_path / "d").exists()


def test_bad_deployment_name_and_missing_input(tmp_path: Path, capsys) -> None:
    assert scan_cli(SAMPLE_VIDEOS, out=tmp_path, deployment="../escape") == 2
    assert scan_cli(tmp_path / "nothing", out=tmp_path) == 1
    err = capsys.readouterr().err
    assert "deployment name '../escape'" in err
    assert "input not found" in err


def test_only_the_matched_face_leaves_evidence(tmp_path: Path) -> None:
    """F1 (watchlisted) and M1 (not) side by side: everything written is F1's alone."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path, options=("--workers", "1")) == 0
    alert = read(tmp_path / "d", "alerts.csv").iloc[0]
    f1_box = [alert["top"], alert["right"], alert["bottom"], alert["left"]]
    assert alert["right"] < 240  # F1 stands in the left half, M1 in the right
    images = sorted(p.relative_to(tmp_path / "d").as_posix() for p in tmp_path.rglob("*.jpg"))
    assert images == ["snapshots/A00001.jpg", "watchlist_photos/intel_actor_f1-6f69a1421696.jpg"]
    assert (tmp_path / "d" / "report.html").read_text().count("data:image/jpeg") == 2
    for path in tmp_path.rglob("*"):
        if path.suffix in (".json", ".jsonl", ".csv", ".sqlite"):
            text = stored_text(path)
            # No coordinate in the right half of the frame (where M1 is) appears as a box value.
            for value in re.findall(r'"(?:top|right|bottom|left)": (\d+)', text):
                assert int(value) in f1_box, path
            assert "encoding" not in text, path


def test_no_trace_of_unmatched_faces(tmp_path: Path) -> None:
    """M1 and the strangers match nobody: nothing of them may reach the disk."""
    assert scan_cli(MALE_ONLY, STRANGERS_WALKING, out=tmp_path) == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    state = [f for f in files if f.startswith("d/.lfr-batch/")]
    assert sorted(set(files) - set(state)) == [
        "audit.head",  # how many audit lines there are, and the last one's hash
        "audit.jsonl",
        "d/.lfr-batch.lock",  # who last held the deployment: a command, a process, a time
        "d/alerts.csv",
        "d/alerts.xlsx",
        "d/deployment.csv",
        "d/report.html",
        "d/timeline.png",  # counts of faces seen, and footage: nothing of a face
        "d/videos.csv",
    ]
    assert "<img" not in (tmp_path / "d" / "report.html").read_text()
    assert (tmp_path / "d" / ".lfr-batch.lock").read_text().startswith("'scan' (process ")
    assert set(json.loads((tmp_path / "audit.head").read_text())) == {"lines", "hash"}
    audit_line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert audit_line["counts"] == {
        "videos_scanned": 2,
        "videos_skipped": 0,
        "videos_failed": 0,
        "faces_seen": 3,  # M1, and the two small faces walking towards the camera
        "alerts": 0,
    }
    assert len(read(tmp_path / "d", "alerts.csv")) == 0
    assert read(tmp_path / "d", "deployment.csv").iloc[0]["faces_seen"] == 3
    # The scan state holds per-video counts only: no box, encoding or crop of anyone.
    assert state == ["d/.lfr-batch/state.sqlite"]
    records = stored_records(tmp_path / "d")
    assert len(records) == 2
    for data in records.values():
        assert set(data) == {f.name for f in dataclasses.fields(VideoRecord)}
        assert data["alerts"] == []
