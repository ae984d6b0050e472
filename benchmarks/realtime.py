"""Speed and recall of `lfr-batch scan`, beside an exhaustive scan and a naive loop, in one run.

Real-time factor = seconds of video ÷ wall seconds (above 1 is faster than real
time). Methods, all on the same clips in the same run:

- scan (default): `lfr-batch scan` at default settings (BlazeFace, local workers, one
  per core);
- scan, 1 worker: the same in one process;
- scan, hog: the default with ``--detector hog`` (the default before BlazeFace);
- exhaustive scan: every frame, whole frame, every face encoded (`--exhaustive`);
- naive loop: decode every frame, full-frame HOG (upsample 1, the scan's reach),
  encode every face found with dlib's network (as face_recognition does) and match.

Recall: the exhaustive scan's alerts are the watchlisted appearances to find; an
appearance is found when the method alerts on the same subject in the same video
at an overlapping time. Extra alerts are alerts that overlap none of them.

    .venv/bin/python benchmarks/realtime.py [--seconds 20] [--skip-slow]

Clips: the bundled sample (sample_videos/, 480x270, 12.5 fps) and a synthetic
1280x720 25 fps MPEG-4 clip of people walking past one after another (the
watchlisted sample subject among four others), written to a temp folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from common import SAMPLE, WATCHLIST, footage_seconds, machine, naive_loop, synthetic_clip, timed_scan

from lfr_batch.options import default_workers
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.video import find_videos
from lfr_batch.watchlist.store import load_watchlist


def synthetic_720p(folder: Path, seconds: float) -> Path:
    return synthetic_clip(folder / "synthetic_720p.mp4", seconds)


def scanner(**options) -> Callable[[list[Path], Path], tuple[float, pd.DataFrame | None]]:
    def run(paths: list[Path], out: Path) -> tuple[float, pd.DataFrame | None]:
        wall, _ = timed_scan(paths, WATCHLIST, out, **options)
        return wall, pd.read_csv(out / "bench" / "alerts.csv", keep_default_na=False)

    return run


def naive(paths: list[Path], _out: Path) -> tuple[float, pd.DataFrame | None]:
    """Every frame, full-resolution HOG, an encoding per face; no tracking, so no alerts."""
    matcher = WatchlistMatcher(load_watchlist(WATCHLIST), 0.6, at=datetime.now(UTC))
    began = time.perf_counter()
    for path in paths:
        naive_loop(path, matcher)
    return time.perf_counter() - began, None


def recall(found: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, int]:
    """(appearances found, appearances to find, extra alerts)."""

    def overlaps(a, b) -> bool:
        return (
            a.video == b.video
            and a.subject_id == b.subject_id
            and a.first_seen_s <= b.last_seen_s
            and b.first_seen_s <= a.last_seen_s
        )

    hits = sum(any(overlaps(t, f) for f in found.itertuples()) for t in truth.itertuples())
    extra = sum(not any(overlaps(f, t) for t in truth.itertuples()) for f in found.itertuples())
    return hits, len(truth), extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the 720p clip (default 20)")
    parser.add_argument(
        "--skip-slow", action="store_true", help="leave out the exhaustive scan and naive loop"
    )
    args = parser.parse_args()
    print(machine())
    methods = {
        "scan (default)": scanner(workers=default_workers()),
        "scan, 1 worker": scanner(workers=1),
        "scan, hog": scanner(workers=default_workers(), detector="hog"),
    }
    if not args.skip_slow:
        methods["exhaustive scan"] = scanner(workers=default_workers(), exhaustive=True)
        methods["naive loop"] = naive
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clips = {
            "sample 480x270": find_videos([SAMPLE]),
            "synthetic 720p 25 fps": [synthetic_720p(folder, args.seconds)],
        }
        print(
            f"{'clip':<22} {'video s':>7}  {'method':<16} {'wall s':>7} {'x real time':>11} "
            f"{'alerts':>6} {'found/truth':>11} {'extra':>5}"
        )
        for label, paths in clips.items():
            seconds = footage_seconds(paths)
            outcomes = {method: run(paths, folder / "out") for method, run in methods.items()}
            truth = outcomes.get("exhaustive scan", (0, None))[1]
            for method, (wall, alerts) in outcomes.items():
                found = "-"
                if alerts is not None and truth is not None:
                    hits, total, extra = recall(alerts, truth)
                    found = f"{hits}/{total}"
                else:
                    extra = "-"
                count = len(alerts) if alerts is not None else "-"
                print(
                    f"{label:<22} {seconds:>7.1f}  {method:<16} {wall:>7.2f} "
                    f"{seconds / wall:>11.2f} "
                    f"{count!s:>6} {found:>11} {extra!s:>5}"
                )


if __name__ == "__main__":
    main()
