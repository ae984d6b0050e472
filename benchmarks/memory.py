"""Peak memory of `lfr-batch scan` on 1 hour and 10 hours of synthetic footage.

    .venv/bin/python benchmarks/memory.py [--hours 1 10]

Each clip (640x360, 5 fps, MPEG-4, a person walking past every 30 s, heads 90-140
px tall, the watchlisted subject every fifth) is scanned by `python -m lfr_batch scan
--workers 1` in a child process, and the child's peak resident set size is
read from the kernel (getrusage). Flat memory means the 10-hour figure is the
1-hour one. Writing 10 hours of footage takes a few minutes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import WATCHLIST, machine, synthetic_clip

MEASURE = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr);"
    "print(f'peak_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(done.returncode)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 10.0])
    args = parser.parse_args()
    print(machine())
    print(
        f"{'footage':>8} {'frames':>8} {'scan s':>8} {'x real time':>11} {'peak RSS MiB':>12} {'alerts':>6}"
    )
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for hours in args.hours:
            seconds = hours * 3600
            # Heads as tall as in the 720p clips: at half that, in proportion to the frame,
            # the subject's face is too small and soft to match the sample list at its auto
            # threshold, and no evidence, which is what grows with the footage, is kept.
            clip = synthetic_clip(
                folder / f"{hours:g}h.mp4",
                seconds,
                width=640,
                height=360,
                fps=5.0,
                every_s=30.0,
                head_heights=(90, 140),
            )
            began = time.perf_counter()
            # A fresh parent per scan, so the peak it reports is this scan's alone.
            command = [
                sys.executable,
                "-m",
                "lfr_batch",
                "scan",
                str(clip),
                "--watchlist",
                str(WATCHLIST),
                "--deployment",
                f"{hours:g}h",
                "--out",
                str(folder / "out"),
                "--quiet",
                "--workers",
                "1",
            ]
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
            )
            wall = time.perf_counter() - began
            peak_kib = int(done.stdout.rsplit("peak_kib=", 1)[1])
            alerts = done.stdout.split(" alerts")[0].rsplit(" ", 1)[-1]
            print(
                f"{hours:>7g}h {int(seconds * 5):>8} {wall:>8.1f} {seconds / wall:>11.1f} "
                f"{peak_kib / 1024:>12.0f} {alerts:>6}"
            )
            clip.unlink()


if __name__ == "__main__":
    main()
