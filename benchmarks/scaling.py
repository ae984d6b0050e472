"""Throughput from 1 to 2 local workers, and from 1 to N Dask workers, in one run.

    .venv/bin/python benchmarks/scaling.py [--seconds 120] [--dask-workers 2]

A synthetic 1280x720 25 fps clip of people walking past, split into 30 s
segments, is scanned with 1 and 2 local worker processes, then on a Dask
LocalCluster (on loopback) of 1..N single-threaded worker processes. The
figure is the real-time factor (video seconds ÷ wall seconds).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import WATCHLIST, machine, synthetic_clip
from distributed import LocalCluster

from lfr_batch.scan import ScanConfig, scan


def timed(clip: Path, out: Path, **options) -> float:
    began = time.perf_counter()
    scan(
        ScanConfig(
            inputs=(clip,),
            watchlist=WATCHLIST,
            deployment="scaling",
            out_dir=out,
            overwrite=True,
            **options,
        )
    )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="clip length (default 120)")
    parser.add_argument("--dask-workers", type=int, default=2, help="largest Dask cluster (default 2)")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clip = synthetic_clip(folder / "clip.mp4", args.seconds)
        print(f"{'how':<22} {'wall s':>7} {'x real time':>11} {'speed-up':>8}")
        baseline = None
        rows = [(f"local, {n} worker{'s' * (n > 1)}", {"workers": n}) for n in (1, 2)]
        for label, options in rows:
            wall = timed(clip, folder / "out", **options)
            baseline = baseline or wall
            print(f"{label:<22} {wall:>7.2f} {args.seconds / wall:>11.2f} {baseline / wall:>8.2f}")
        dask_baseline = None
        for workers in range(1, args.dask_workers + 1):
            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster:
                timed(
                    clip, folder / "warm", scheduler=cluster.scheduler_address
                )  # load models once per worker
                wall = timed(clip, folder / "out", scheduler=cluster.scheduler_address)
            dask_baseline = dask_baseline or wall
            label = f"Dask, {workers} worker{'s' * (workers > 1)}"
            print(f"{label:<22} {wall:>7.2f} {args.seconds / wall:>11.2f} {dask_baseline / wall:>8.2f}")


if __name__ == "__main__":
    main()
