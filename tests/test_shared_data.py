"""Scans of the wider data set in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import SAMPLE_WATCHLIST

from lfr_batch.scan import ScanConfig, scan


def run(videos: list[Path], out: Path, **options) -> pd.DataFrame:
    scan(ScanConfig(inputs=tuple(videos), watchlist=SAMPLE_WATCHLIST, deployment="d", out_dir=out, **options))
    return pd.read_csv(out / "d" / "alerts.csv", keep_default_na=False)


def test_cross_clip_reidentification_and_a_near_miss(shared_data: Path, tmp_path: Path) -> None:
    """F1 walks and pauses with two strangers in a clip her reference photos do not
    come from. She is found at 0.40-0.50. One stranger lies at 0.56-0.63 from her
    references in this low-resolution footage: an alert at 0.6, none at 0.5."""
    clip = shared_data / "videos" / "intel_face-demographics-walking-and-pause_preview.mp4"
    strict = run([clip], tmp_path / "strict", threshold=0.5)
    assert strict["subject_id"].tolist() == ["intel_actor_f1"]
    assert strict["distance"].iloc[0] < 0.45
    assert strict["left"].iloc[0] < 200  # the woman on the left
    usual = run([clip], tmp_path / "usual")
    assert len(usual) == 2
    assert sorted(usual["distance"] > 0.55) == [False, True]
    videos = pd.read_csv(tmp_path / "usual" / "d" / "videos.csv")
    assert videos["faces_seen"].iloc[0] == 3  # three people, each one face seen


def test_crowd_and_plaza_footage_gives_no_alert(shared_data: Path, tmp_path: Path) -> None:
    clips = [
        shared_data / "videos" / name
        for name in ("vtest.avi", "MOT20-05-raw_even_shorter.mp4", "MOT20-08-raw_shorter.mp4")
    ]
    alerts = run(clips, tmp_path, sample_fps=2)
    assert len(alerts) == 0
    videos = pd.read_csv(tmp_path / "d" / "videos.csv")
    assert videos["status"].tolist() == ["ok", "ok", "ok"]
    assert videos["frames_decoded"].tolist() == [795, 127, 125]  # files named: in the order given
