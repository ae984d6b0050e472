"""The same scans with this working tree and with an earlier commit, side by side: do
they give the same alerts, distances, faces seen and figures? For changes meant to
move code without changing what it does (issue 27's restructuring).

    .venv/bin/python benchmarks/same_results.py --base REV [--scene VIDEOS:WATCHLIST ...]
        [--work DIR] [--workers N] [--repeat N]

The earlier commit is checked out into a temporary git worktree and run with this
environment's packages (PYTHONPATH), so both sides use the same OpenCV, dlib and
numpy. Scenes, each scanned by both sides with --keep-distances into --work:

- the bundled sample (sample_videos/ against watchlists/sample.pkl), always;
- each --scene given (a video file or folder, a colon, a watchlist file);
- where benchmarks/crowd.py has made them in /tmp/lfr-crowd (needs ../shared/data):
  its busy 720p crowd against its 70-subject list.

For each scene and report (alerts.csv, distances.csv, videos.csv, deployment.csv) it
prints the rows and the cells that differ, the times of day and durations of the
scan aside (SCAN_TIME_COLUMNS), and each side's wall time and processing seconds by
stage (the scan's own -v figures, summed over its videos and workers). This machine's
speed drifts by up to a quarter between runs minutes apart, so ``--repeat N`` scans
each scene N times with each code, alternately (base, here, here, base, ...), and
gives the median and the range; every repeat must give the same reports as the first,
or the scan is not reproducible. Exits 0 when every report is the same, 1 when one
differs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAMPLE = (REPO / "sample_videos", REPO / "watchlists" / "sample.pkl")
CROWD = (Path("/tmp/lfr-crowd/busy_720p_30s_seed11_v4.mp4"), Path("/tmp/lfr-crowd/crowd_watchlist.pkl"))
REPORTS = ("alerts.csv", "distances.csv", "videos.csv", "deployment.csv")
# When the scan ran and how long it took: the only cells two runs of one scan may differ in.
SCAN_TIME_COLUMNS = frozenset({"scanned_at", "processing_seconds"})


def differences(before: Path, after: Path) -> list[str]:
    """The differences between two deployment folders' reports, one line each (none: the same)."""
    found = []
    for report in REPORTS:
        old, new = before / report, after / report
        if not old.exists() or not new.exists():
            if old.exists() != new.exists():
                found.append(f"{report}: only in {'the base' if old.exists() else 'this tree'}")
            continue
        old_table = pd.read_csv(old, dtype=str, keep_default_na=False)
        new_table = pd.read_csv(new, dtype=str, keep_default_na=False)
        if list(old_table.columns) != list(new_table.columns):
            found.append(f"{report}: columns differ")
            continue
        if len(old_table) != len(new_table):
            found.append(f"{report}: {len(old_table)} rows in the base, {len(new_table)} here")
            continue
        compared = [column for column in old_table.columns if column not in SCAN_TIME_COLUMNS]
        unequal = old_table[compared] != new_table[compared]
        for column in unequal.columns[unequal.any()]:
            rows = unequal.index[unequal[column]].tolist()
            found.append(f"{report}: {column} differs in {len(rows)} row(s), first row {rows[0] + 1}")
    return found


STAGE_LINE = re.compile(r"processing seconds by stage: (.*)$", re.MULTILINE)


def stage_seconds(log: str) -> dict[str, float]:
    """Processing seconds by stage, summed over the videos of a scan's -v log."""
    total: dict[str, float] = {}
    for line in STAGE_LINE.findall(log):
        for part in line.split(", "):
            stage, _, seconds = part.rpartition(" ")
            total[stage] = total.get(stage, 0.0) + float(seconds)
    return total


@dataclass(frozen=True)
class Timed:
    wall_s: float
    stages: dict[str, float]


def scan(tree: Path, videos: Path, watchlist: Path, out: Path, workers: int) -> Timed:
    """One scan with the code in ``tree``: its wall time and its seconds by stage."""
    command = [
        sys.executable,
        "-m",
        "lfr_batch",
        "scan",
        str(videos.resolve()),
        "--watchlist",
        str(watchlist.resolve()),
        "--deployment",
        "same",
        "--out",
        str(out.resolve()),
        "--keep-distances",
        "--overwrite",
        "--watchlist-max-age",
        "1000000",
        "--workers",
        str(workers),
        "-v",
    ]
    environment = {**os.environ, "PYTHONPATH": str(tree), "TQDM_DISABLE": "1"}
    began = time.perf_counter()
    # Run from the tree: ``python -m`` puts the working folder first on the path.
    done = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 3):
        raise SystemExit(f"scan with {tree} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return Timed(time.perf_counter() - began, stage_seconds(done.stderr))


def summary(runs: list[Timed]) -> str:
    """Median wall time (and range, over repeats), then the median seconds of each stage."""
    walls = [run.wall_s for run in runs]
    spread = f" ({min(walls):.1f}-{max(walls):.1f})" if len(runs) > 1 else ""
    stages = ", ".join(
        f"{stage} {statistics.median(run.stages.get(stage, 0.0) for run in runs):.1f}"
        for stage in runs[0].stages
    )
    return f"{statistics.median(walls):.1f} s{spread}" + (f" [{stages}]" if stages else "")


def scenes(given: list[str]) -> list[tuple[str, Path, Path]]:
    found = [("sample", *SAMPLE)]
    for text in given:
        videos, _, watchlist = text.rpartition(":")
        if not videos or not Path(videos).exists() or not Path(watchlist).is_file():
            raise SystemExit(f"--scene {text!r}: give an existing VIDEOS:WATCHLIST")
        found.append((Path(videos).stem, Path(videos), Path(watchlist)))
    if all(path.exists() for path in CROWD):
        found.append(("busy 720p crowd", *CROWD))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. HEAD~1, a hash)")
    parser.add_argument("--scene", action="append", default=[], help="VIDEOS:WATCHLIST, again for more")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lfr-same-results"), help="scratch folder")
    parser.add_argument("--workers", type=int, default=2, help="workers for every scan (default 2)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="scans of each scene with each code, alternately (default 1)"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    chosen = scenes(args.scene)
    same = True
    with tempfile.TemporaryDirectory() as checkout:
        base = Path(checkout) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(base), args.base], cwd=REPO, check=True
        )
        try:
            print(
                f"base {args.base} against this working tree; {args.workers} workers; {args.repeat} run(s) each"
            )
            for label, videos, watchlist in chosen:
                folder = args.work / label.replace(" ", "_")
                runs: dict[str, list[Timed]] = {"base": [], "here": []}
                found: list[str] = []
                for repeat in range(args.repeat):
                    for side in ("base", "here") if repeat % 2 == 0 else ("here", "base"):
                        out = folder / f"{side}{repeat}"
                        runs[side].append(
                            scan(base if side == "base" else REPO, videos, watchlist, out, args.workers)
                        )
                    found += [
                        f"run {repeat + 1}: {line}"
                        for line in differences(folder / "base0" / "same", folder / f"here{repeat}" / "same")
                    ]
                    if repeat:
                        found += [
                            f"base run {repeat + 1} against run 1: {line}"
                            for line in differences(
                                folder / "base0" / "same", folder / f"base{repeat}" / "same"
                            )
                        ]
                verdict = "same reports" if not found else f"{len(found)} difference(s)"
                print(
                    f"{label}: {verdict}; wall {summary(runs['base'])} (base), {summary(runs['here'])} (here)"
                )
                for line in found:
                    print(f"  {line}")
                same = same and not found
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
