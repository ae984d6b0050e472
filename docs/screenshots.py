"""Make the pictures of docs/getting-started.md: the alert sheet of the bundled sample,
scanned and reviewed as the guide does it, in headless Chromium at 1280 px.

    .venv/bin/python docs/screenshots.py

Needs Debian's chromium (or Chrome) on the PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from lfr_batch.cli import main

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent


def shoot(page: Path, target: Path, width: int, height: int, profile: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("no Chromium on this machine")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={target}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main_() -> None:
    os.chdir(REPO)  # paths in the sheet as a user types them: sample_videos/…
    with tempfile.TemporaryDirectory() as temporary:
        out = Path(temporary) / "reports"
        deployment = out / "sample"
        code = main(
            [
                "scan",
                "sample_videos",
                "--watchlist",
                "watchlists/sample.pkl",
                "--deployment",
                "sample",
                "--out",
                str(out),
                "--location",
                "Bundled sample footage",
                "--purpose",
                "Demonstration",
                "--start",
                "2026-11-26T14:00:00+00:00",
                "-q",
            ]
        )
        if code != 0:
            sys.exit(code)
        alerts = pd.read_csv(deployment / "alerts.csv", keep_default_na=False, dtype=str)
        alerts.loc[0, ["outcome", "engagement", "reviewer", "notes"]] = [
            "true_confirmed",
            "no_action",
            "PC 1234",
            "Identity confirmed at the scene; warrant already executed",
        ]
        alerts.to_csv(Path(temporary) / "edited.csv", index=False)
        main(["review", str(deployment), "--import", str(Path(temporary) / "edited.csv"), "-q"])
        shoot(deployment / "report.html", DOCS / "alert-sheet.png", 1280, 1100, Path(temporary) / "profile")
        print(DOCS / "alert-sheet.png")


if __name__ == "__main__":
    main_()
