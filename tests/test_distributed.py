"""The same reports however the work is spread: segments, local workers, a Dask cluster."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    PHOTOS,
    SAMPLE_PHOTOS,
    SAMPLE_VIDEOS,
    SAMPLE_WATCHLIST,
    STRANGERS_WALKING,
    face_crop,
    scan_args,
    scan_cli,
)
from hypothesis import given
from hypothesis import strategies as st
from test_nightly import assert_same_reports

from lfr_batch import scan as scan_module
from lfr_batch.scan import (
    MAX_PIECE_SECONDS,
    MAX_PIECES,
    MIN_SPLIT_SECONDS,
    SPLIT_PIECES,
    ScanConfig,
    segment_starts,
)
from lfr_batch.vision.synthetic import Walker, background_from_video, write_video


@pytest.fixture(scope="module")
def seam_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 s of footage, which a scan cuts into three 8 s segments; F1 walks past from
    6.5 s to 9.5 s, over the seam at 8 s, and M1 from 2 s to 5 s."""
    folder = tmp_path_factory.mktemp("seam")
    background = background_from_video(STRANGERS_WALKING, 640, 360)
    walkers = [
        Walker(
            "f1",
            face_crop(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"),
            6.5,
            9.5,
            (80, 120),
            (560, 140),
            110,
        ),
        Walker(
            "m1",
            face_crop(PHOTOS / "intel_actor_m1" / "1.png"),
            2.0,
            5.0,
            (560, 250),
            (100, 240),
            100,
        ),
    ]
    return write_video(folder / "long.mp4", background, walkers, duration_s=24.0, fps=25.0)


def test_a_person_crossing_a_segment_seam_is_one_face_and_one_alert(seam_video: Path, tmp_path: Path) -> None:
    assert scan_cli(seam_video, out=tmp_path, options=("--workers", "1")) == 0
    record = pd.read_csv(tmp_path / "d" / "deployment.csv").iloc[0]
    assert (record["faces_seen"], record["total_alerts"]) == (2, 1)
    alert = pd.read_csv(tmp_path / "d" / "alerts.csv").iloc[0]
    assert alert["first_seen_s"] < 8.0 < alert["last_seen_s"]
    assert pd.read_csv(tmp_path / "d" / "videos.csv").iloc[0]["frames_decoded"] == 600


def test_two_workers_give_the_same_reports_as_one(seam_video: Path, tmp_path: Path) -> None:
    inputs = (SAMPLE_VIDEOS, seam_video)
    assert scan_cli(*inputs, out=tmp_path / "one", options=("--workers", "1")) == 0
    assert scan_cli(*inputs, out=tmp_path / "two", options=("--workers", "2")) == 0
    assert_same_reports(tmp_path / "one" / "d", tmp_path / "two" / "d")


SAME_FACES = (
    ("alerts.csv", ["subject_id", "first_seen_s", "last_seen_s", "distance", "views"]),
    ("distances.csv", ["first_seen_s", "last_seen_s", "views", "subject_1", "distance_1"]),
)


def assert_same_faces(alone: Path, other: Path) -> None:
    """The same alerts, and every face seen with the same views and distance, for the
    first video of ``alone``'s reports, in ``other``'s (which may hold more videos)."""
    for report, columns in SAME_FACES:
        first, second = (pd.read_csv(folder / "d" / report) for folder in (alone, other))
        assert len(first) >= 1, report
        video = first.loc[0, "video"]
        first, second = (table[table["video"] == video].reset_index(drop=True) for table in (first, second))
        pd.testing.assert_frame_equal(first[columns], second[columns])


def test_a_file_gives_the_same_faces_and_alerts_however_the_work_is_split(
    seam_video: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where a video is cut depends on the video alone: two workers on it alone, one
    worker on it among other files, and a --segment-seconds from an older script (now
    ignored, with a warning) see the same faces with the same views and distances, and
    so, at a fixed threshold, give the same alerts (a Dask cluster: below)."""
    options = ("--threshold", "0.6", "--keep-distances")
    assert scan_cli(seam_video, out=tmp_path / "alone", options=("--workers", "2", *options)) == 0
    batch = (SAMPLE_VIDEOS, seam_video)
    for name, split in (("batch", ("--workers", "1")), ("short", ("--segment-seconds", "10"))):
        caplog.clear()
        assert scan_cli(*batch, out=tmp_path / name, options=(*split, *options)) == 0
        assert ("--segment-seconds is no longer used" in caplog.text) == (name == "short")
        assert_same_faces(tmp_path / "alone", tmp_path / name)


def test_segment_seconds_no_longer_moves_where_a_long_file_is_cut(tmp_path: Path, monkeypatch) -> None:
    """100 s of footage: --segment-seconds 10 once cut it into ten pieces; now into the
    eight its own length gives, as without the option."""
    video = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 1.0, (64, 64))
    for second in range(100):
        writer.write(np.full((64, 64, 3), second, np.uint8))
    writer.release()
    planned: dict[float | None, list[tuple[int, int | None]]] = {}

    class PlannedError(Exception):  # stops the scan once its tasks are planned
        pass

    def plan_only(_videos, tasks, config, _report) -> None:
        planned[config.segment_seconds] = [(task.start_frame, task.end_frame) for task in tasks]
        raise PlannedError

    monkeypatch.setattr(scan_module, "_analyse", plan_only)
    for seconds in (None, 10.0, 86_400.0):
        config = ScanConfig(
            inputs=(video,),
            watchlist=SAMPLE_WATCHLIST,
            deployment=f"d{seconds}",
            out_dir=tmp_path,
            segment_seconds=seconds,
            workers=1,
        )
        with pytest.raises(PlannedError):
            scan_module.scan(config)
    assert planned[None] == [(start, start + 13 if start < 91 else None) for start in range(0, 100, 13)]
    assert planned[10.0] == planned[None] == planned[86_400.0]


def test_a_dask_cluster_gives_the_same_reports_as_a_local_run(seam_video: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    inputs = (SAMPLE_VIDEOS, seam_video)
    options = ("--threshold", "0.6", "--keep-distances")
    assert scan_cli(*inputs, out=tmp_path / "local", options=("--workers", "1", *options)) == 0
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        code = scan_cli(
            *inputs,
            out=tmp_path / "dask",
            options=("--scheduler", cluster.scheduler_address, "--segment-seconds", "60", *options),
        )
    assert code == 0
    assert_same_reports(tmp_path / "local" / "d", tmp_path / "dask" / "d")
    assert_same_faces(tmp_path / "local", tmp_path / "dask")


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LFR_BATCH_SCHEDULER", "tcp://127.0.0.1:9")
    assert scan_cli(SAMPLE_VIDEOS, out=tmp_path) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert err.count("\n") == 1


def test_overwrite_with_a_bad_scheduler_loses_nothing(tmp_path: Path, capsys) -> None:
    """The scheduler is tried before --overwrite clears the deployment."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    capsys.readouterr()
    folder = tmp_path / "d"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    for address, message in (
        ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
        ("notaurl", "cannot reach the Dask scheduler at notaurl"),
    ):
        code = scan_cli(FEMALE_AND_MALE, out=tmp_path, options=("--overwrite", "--scheduler", address))
        assert code == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1
        assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_service_that_is_not_dask_is_one_line(tmp_path: Path) -> None:
    """Another service on the port: Dask would read its first bytes as a message length."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        connection, _ = server.accept()
        connection.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
        time.sleep(2)
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    # In a fresh process, as a user runs it: clusters started by earlier tests in this
    # process leave Dask's event-loop bookkeeping behind, which made this test flaky.
    command = [sys.executable, "-m", "lfr_batch", *scan_args(MALE_ONLY, out=tmp_path)]
    try:
        done = subprocess.run(
            [*command, "--scheduler", f"tcp://127.0.0.1:{port}"], capture_output=True, text=True, timeout=300
        )
    finally:
        server.close()
    assert done.returncode == 2
    err = done.stderr
    assert f"127.0.0.1:{port}" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@given(
    frame_count=st.integers(1, 10**13),
    fps=st.floats(1e-300, 1e6, allow_nan=False, allow_infinity=False),
    step=st.integers(1, 50),
)
def test_a_video_is_cut_by_its_own_length_alone(frame_count: int, fps: float, step: int) -> None:
    starts = segment_starts(frame_count, fps, step)
    assert starts[0] == 0
    assert all(start % step == 0 for start in starts)
    assert starts == sorted(set(starts))
    assert starts[-1] < frame_count
    assert len(starts) <= MAX_PIECES
    duration_s = frame_count / fps
    if duration_s >= 2 * MIN_SPLIT_SECONDS and frame_count >= 2 * SPLIT_PIECES * step:
        assert len(starts) >= 2  # one file keeps more than one worker busy
    if len(starts) > 1 and duration_s / MAX_PIECE_SECONDS < MAX_PIECES:
        piece_s = starts[1] / fps
        assert piece_s <= MAX_PIECE_SECONDS + step / fps + 1e-9
        assert len(starts) <= SPLIT_PIECES or piece_s >= MAX_PIECE_SECONDS / 2
