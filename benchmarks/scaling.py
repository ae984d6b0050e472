"""Throughput as local workers are added, and from 1 to N Dask workers, in one run.

    .venv/bin/python benchmarks/scaling.py [--seconds 120] [--workers 1,2] [--dask-workers 2]
    .venv/bin/python benchmarks/scaling.py --video /tmp/lfr-crowd/busy_720p_30s_seed11_v4.mp4 \\
        --watchlist /tmp/lfr-crowd/crowd_watchlist.pkl --loops 4 --workers 2,4,8,16 --dask-workers 0

By default a synthetic 1280x720 25 fps clip of people walking past over a still
frame (the easy case), which a scan cuts into eight segments of 15 s. ``--video`` scans a clip of
your own instead, such as the busy crowd that ``crowd.py`` writes: played
``--loops`` times over as one long file, or as ``--files`` files, each starting
at its own point of the clip (content of its own, so none is skipped as already
scanned). Each row scans the same footage with the same watchlist, so its alerts
and faces seen should not change with the workers. The figure is the real-time
factor (video seconds ÷ wall seconds); the speed-up is against the first row.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
from common import WATCHLIST, footage_seconds, machine, synthetic_clip, timed_scan

from lfr_batch.scan import ScanResult
from lfr_batch.vision.synthetic import MovingBackground, write_video

# a benchmark's list (--watchlist) may be older than a deployment's may
ANY_AGE = {"watchlist_max_age_h": 10**6}


def played_over(video: Path, path: Path, loops: int, start_frame: int = 0) -> Path:
    """``video`` played ``loops`` times over from ``start_frame``, as one MPEG-4 file,
    frame by frame through the synthetic footage's own looping background (no noise
    added, no walkers)."""
    capture = cv2.VideoCapture(str(video))
    fps, frame_count = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    if fps <= 0 or frame_count <= 0:
        raise SystemExit(f"{video}: not a video OpenCV can read")
    clip = MovingBackground(video, width, height, noise=0.0)
    try:
        for _ in range(start_frame % frame_count):
            next(clip)
        return write_video(path, clip, [], loops * frame_count / fps, fps)
    finally:
        clip.close()


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of 1 or more")
    return value


def worker_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(count) for count in text.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers of 1 or more, such as 1,2,4")
    return counts


def footage(args: argparse.Namespace, folder: Path) -> list[Path]:
    if args.video is None:
        return [synthetic_clip(folder / "clip.mp4", args.seconds)]
    capture = cv2.VideoCapture(str(args.video))
    frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return [
        played_over(args.video, folder / f"clip{index}.mp4", args.loops, index * frame_count // args.files)
        for index in range(args.files)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="synthetic clip's length (default 120)")
    parser.add_argument("--video", type=Path, help="scan this clip instead of the synthetic one")
    parser.add_argument("--watchlist", type=Path, default=WATCHLIST, help="default: the sample list")
    parser.add_argument(
        "--loops", type=at_least_one, default=1, help="--video played this many times over (default 1)"
    )
    parser.add_argument(
        "--files", type=at_least_one, default=1, help="--video as this many files (default 1)"
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=(1, 2),
        help="local worker counts, comma-separated (default 1,2)",
    )
    parser.add_argument(
        "--dask-workers", type=int, default=2, help="largest Dask cluster; 0: none (default 2)"
    )
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clips = footage(args, folder)
        seconds = footage_seconds(clips)
        print(f"{len(clips)} file(s), {seconds:.0f} s of footage in all")
        print(
            f"{'how':<22} {'wall s':>7} {'x real time':>11} {'speed-up':>8} {'alerts':>6} {'faces seen':>10}"
        )

        def row(label: str, wall: float, result: ScanResult, baseline: float) -> None:
            print(
                f"{label:<22} {wall:>7.2f} {seconds / wall:>11.2f} {baseline / wall:>8.2f} "
                f"{result.total_alerts:>6} {result.faces_seen:>10}"
            )

        baseline = None
        for workers in args.workers:
            wall, result = timed_scan(clips, args.watchlist, folder / "out", workers=workers, **ANY_AGE)
            baseline = baseline or wall
            row(f"local, {workers} worker{'s' * (workers > 1)}", wall, result, baseline)
        dask_baseline = None
        for workers in range(1, args.dask_workers + 1):
            from distributed import LocalCluster  # only here: a Dask-less machine runs the rest

            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster:
                # load models once per worker
                timed_scan(
                    clips, args.watchlist, folder / "warm", scheduler=cluster.scheduler_address, **ANY_AGE
                )
                wall, result = timed_scan(
                    clips, args.watchlist, folder / "out", scheduler=cluster.scheduler_address, **ANY_AGE
                )
            dask_baseline = dask_baseline or wall
            row(f"Dask, {workers} worker{'s' * (workers > 1)}", wall, result, dask_baseline)


if __name__ == "__main__":
    main()
