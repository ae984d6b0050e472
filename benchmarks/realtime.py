"""Real-time factor of `lfr-batch scan` beside a naive loop, measured in the same run.

Real-time factor = seconds of video ÷ wall seconds (above 1 is faster than real
time). The naive loop is what a first script does: decode every frame, run
HOG on the full frame (upsample 1, the detection reach of the scan's default),
and encode and match every face it finds.

    .venv/bin/python benchmarks/realtime.py [--seconds 8]

Clips: the bundled sample (sample_videos/, 480x270 at 12.5 fps) and a synthetic
1280x720 25 fps clip of three people walking past, written to a temp folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from lfr_batch.encodings import FaceEncoder
from lfr_batch.faces import FaceDetector
from lfr_batch.matches import WatchlistMatcher
from lfr_batch.photos import crop_face, load_photo
from lfr_batch.scan import ScanConfig, scan
from lfr_batch.synthetic import Walker, background_from_video, write_video
from lfr_batch.video import find_videos, to_rgb
from lfr_batch.watchlist import load_watchlist

REPO = Path(__file__).resolve().parents[1]
WATCHLIST = REPO / "watchlists" / "sample.pkl"
SAMPLE = REPO / "sample_videos"


def face(photo: Path) -> np.ndarray:
    image = load_photo(photo)
    return crop_face(image, FaceDetector()(image)[0], margin=0.35)


def synthetic_720p(folder: Path, seconds: float) -> Path:
    background = background_from_video(
        SAMPLE / "intel_face-demographics-walking_preview.mp4", 1280, 720
    )
    f1 = face(REPO / "watchlists" / "sample_photos" / "intel_actor_f1" / "1.png")
    m1 = face(REPO / "tests" / "data" / "photos" / "intel_actor_m1" / "1.png")
    orl = face(REPO / "tests" / "data" / "photos" / "orl_s01" / "1.png")
    span = seconds
    walkers = [
        Walker("f1", f1, 0.1 * span, 0.7 * span, (100, 260), (1180, 300), 120),
        Walker("m1", m1, 0.3 * span, 0.9 * span, (1180, 420), (120, 400), 100),
        Walker("orl", orl, 0.5 * span, 0.95 * span, (300, 560), (900, 540), 90),
    ]
    return write_video(folder / "synthetic_720p.avi", background, walkers, seconds, fps=25.0)


def footage_seconds(paths: list[Path]) -> float:
    total = 0.0
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        total += capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
        capture.release()
    return total


def run_scan(paths: list[Path], out: Path) -> tuple[float, int]:
    began = time.perf_counter()
    result = scan(
        ScanConfig(
            inputs=tuple(paths),
            watchlist=WATCHLIST,
            deployment="bench",
            out_dir=out,
            overwrite=True,
        )
    )
    return time.perf_counter() - began, len(result.alert_rows)


def run_naive(paths: list[Path]) -> tuple[float, int]:
    """Every frame, full-resolution HOG, an encoding per face; counts matched faces."""
    detector, encoder = FaceDetector("hog", upsample=1), FaceEncoder()
    matcher = WatchlistMatcher(load_watchlist(WATCHLIST), 0.6, at=datetime.now(UTC))
    matched = 0
    began = time.perf_counter()
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            image = to_rgb(bgr)
            boxes = detector(image)
            matched += int(matcher.match(encoder(image, boxes)).matched.sum())
        capture.release()
    return time.perf_counter() - began, matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="length of the 720p clip (default 8)"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, OpenCV {cv2.__version__}"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clips = {
            "sample (480x270)": find_videos([SAMPLE]),
            "synthetic 720p 25 fps": [synthetic_720p(folder, args.seconds)],
        }
        print(
            f"{'clip':<24} {'video s':>8} {'method':<22} {'wall s':>8} "
            f"{'x real time':>12} {'alerts/matches':>15}"
        )
        for label, paths in clips.items():
            seconds = footage_seconds(paths)
            for method, runner in (
                ("lfr-batch scan", lambda p: run_scan(p, folder / "out")),
                ("naive every-frame loop", run_naive),
            ):
                wall, found = runner(paths)
                print(
                    f"{label:<24} {seconds:>8.1f} {method:<22} {wall:>8.2f} "
                    f"{seconds / wall:>12.2f} {found:>15}"
                )


if __name__ == "__main__":
    main()
