"""Scan time with the sample watchlist and with one of 100,000 encodings, in one run.

    .venv/bin/python benchmarks/watchlist_size.py [--encodings 100000] [--seconds 60]

The large watchlist holds the sample subject's three real encodings plus
random 128-d vectors spread like dlib's (one subject each), so it matches the
same people. Both scans run on the same synthetic 720p clip, twice each,
alternating; the best of each is compared.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import WATCHLIST, machine, synthetic_clip

from lfr_batch.options import default_workers
from lfr_batch.scan import ScanConfig, scan
from lfr_batch.watchlist.model import Subject, Watchlist
from lfr_batch.watchlist.store import load_watchlist, save_watchlist


def large_watchlist(path: Path, encodings: int) -> Path:
    sample = load_watchlist(WATCHLIST)
    extra = encodings - len(sample.encodings)
    rng = np.random.default_rng(0)
    random_rows = rng.normal(0.0, 0.09, (extra, 128))  # dlib encodings: components ~N(0, 0.09)
    subjects = sample.subjects + [Subject(f"synthetic-{i:06d}", f"Synthetic {i}") for i in range(extra)]
    watchlist = Watchlist(
        subjects=subjects,
        encodings=np.vstack([sample.encodings, random_rows]),
        encoding_subject=np.concatenate([sample.encoding_subject, np.arange(extra) + len(sample.subjects)]),
        created=sample.created,
        models=sample.models,
    )
    save_watchlist(watchlist, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encodings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clip = synthetic_clip(folder / "clip.mp4", args.seconds)
        lists = {
            "sample (3 encodings)": WATCHLIST,
            f"{args.encodings:,} encodings": large_watchlist(folder / "large.pkl", args.encodings),
        }
        best: dict[str, float] = {}
        alerts: dict[str, int] = {}
        for _round in range(2):
            for label, watchlist in lists.items():
                began = time.perf_counter()
                result = scan(
                    ScanConfig(
                        inputs=(clip,),
                        watchlist=watchlist,
                        deployment="size",
                        out_dir=folder / "out",
                        overwrite=True,
                        workers=default_workers(),
                    )
                )
                best[label] = min(best.get(label, np.inf), time.perf_counter() - began)
                alerts[label] = result.total_alerts
        base = best[next(iter(lists))]
        print(f"{'watchlist':<22} {'best wall s':>11} {'x real time':>11} {'added':>7} {'alerts':>6}")
        for label, wall in best.items():
            print(
                f"{label:<22} {wall:>11.2f} {args.seconds / wall:>11.2f} "
                f"{100 * (wall - base) / base:>6.1f}% {alerts[label]:>6}"
            )


if __name__ == "__main__":
    main()
