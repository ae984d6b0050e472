"""The published grid: one row per deployment, a totals row, and the figures people ask for.

Reads the ``deployment.csv`` (and scan state) of every deployment under OUT, so
the grid always agrees with each deployment's own record, reviews included.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.reports import (
    ALERTS_CSV,
    DEPLOYMENT_COLUMNS,
    DEPLOYMENT_CSV,
    OUTCOME_COLUMNS,
    false_alert_rate,
)
from lfr_batch.state import SETTINGS_FILE, STATE_DIR

PUBLISHED_COLUMNS = (
    *DEPLOYMENT_COLUMNS[: DEPLOYMENT_COLUMNS.index("faces_seen") + 1],
    # Beside the measured false alert rate, the rate the threshold was chosen for.
    "expected_false_alert_rate",
    "threshold_mode",
    "software",
    "software_version",
)
SUMMED_COLUMNS = ("total_alerts", *OUTCOME_COLUMNS, "faces_seen")
# How the grid's columns are typed in grid.xlsx (any other column is text).
GRID_NUMBERS = (
    "watchlist_size",
    "threshold",
    *SUMMED_COLUMNS,
    "false_alert_rate",
    "expected_false_alert_rate",
)
GRID_MOMENTS = ("start", "end")
GRID_DAYS = ("date",)
DEFAULT_SUPPLIER = "the lfr-batch project (open source)"


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _seconds(duration: str) -> int:
    hours, minutes, seconds = (int(part) for part in duration.split(":"))
    return hours * 3600 + minutes * 60 + seconds


@dataclass
class Grid:
    rows: list[dict[str, str]]
    folders: list[Path]
    categories: Counter[str] = field(default_factory=Counter)
    subjects_alerted: set[str] = field(default_factory=set)

    def totals(self) -> dict[str, Any]:
        sums = {column: sum(int(row[column] or 0) for row in self.rows) for column in SUMMED_COLUMNS}
        false_alerts = sums["false_alerts_confirmed"] + sums["false_alerts_unconfirmed"]
        dates = sorted(row["date"] for row in self.rows if row["date"])
        seconds = sum(_seconds(row["duration"]) for row in self.rows if row["duration"])
        return {
            "deployment": "TOTAL",
            "date": f"{dates[0]}/{dates[-1]}" if dates else "",
            "duration": f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}",
            **sums,
            "false_alert_rate": false_alert_rate(false_alerts, sums["faces_seen"]),
            "expected_false_alert_rate": self._expected_rate(sums["faces_seen"]),
        }

    def _expected_rate(self, faces_seen: int) -> float:
        """The false alerts each deployment expected, summed, over all faces seen (%)."""
        expected = sum(
            float(row.get("expected_false_alert_rate") or 0) * int(row["faces_seen"] or 0)
            for row in self.rows
        )
        return round(expected / faces_seen, 6) if faces_seen else 0.0


def collect(out_dir: Path, since: date | None = None, until: date | None = None) -> Grid:
    """Every deployment under ``out_dir`` whose date lies in [since, until], by date."""
    found = []
    for path in sorted(out_dir.glob(f"*/{DEPLOYMENT_CSV}")):
        row = _read_rows(path)[0]
        day = date.fromisoformat(row["date"]) if row["date"] else None
        if (since or until) and (day is None or (since and day < since) or (until and day > until)):
            continue
        found.append((row["date"], path.parent, row))
    found.sort(key=lambda item: (not item[0], item[0], item[1].name))  # by date; undated last
    grid = Grid(rows=[row for _, _, row in found], folders=[folder for _, folder, _ in found])
    for folder in grid.folders:
        settings_path = folder / STATE_DIR / SETTINGS_FILE
        if settings_path.is_file():
            categories = (
                json.loads(settings_path.read_text(encoding="utf-8"))
                .get("watchlist", {})
                .get("categories", {})
            )
            grid.categories.update(
                {category or "(no category)": count for category, count in categories.items()}
            )
        if (folder / ALERTS_CSV).is_file():
            grid.subjects_alerted.update(row["subject_id"] for row in _read_rows(folder / ALERTS_CSV))
    return grid


def summary(grid: Grid, supplier: str = DEFAULT_SUPPLIER) -> list[str]:
    """Plain answers to the questions asked of LFR deployments under freedom of information."""
    totals = grid.totals()
    true_alerts = totals["true_alerts_confirmed"] + totals["true_alerts_unconfirmed"]
    false_alerts = totals["false_alerts_confirmed"] + totals["false_alerts_unconfirmed"]
    sizes = [int(row["watchlist_size"] or 0) for row in grid.rows]
    versions = sorted({row["software_version"] for row in grid.rows}) or [__version__]
    reviewed = true_alerts + false_alerts
    lines = [
        f"Deployments: {len(grid.rows)}"
        + (f" ({totals['date'].replace('/', ' to ')})" if totals["date"] else ""),
        f"Total time deployed: {totals['duration']}",
        f"Faces seen: {totals['faces_seen']}",
        f"Alerts (people alerted): {totals['total_alerts']}, "
        f"of {len(grid.subjects_alerted)} different watchlist subjects (purged alerts' subjects not counted)",
        f"Reviewed: {reviewed}; true alerts: {true_alerts} ({totals['true_alerts_confirmed']} confirmed, "
        f"{totals['true_alerts_unconfirmed']} unconfirmed); false alerts: {false_alerts} "
        f"({totals['false_alerts_confirmed']} confirmed, {totals['false_alerts_unconfirmed']} unconfirmed)",
        f"False alert rate: {totals['false_alert_rate']}% of faces seen "
        f"(expected at the thresholds used: {totals['expected_false_alert_rate']}%)",
        f"Outcomes: {totals['arrests']} arrests, {totals['other_disposals']} other disposals, "
        f"{totals['no_action']} no action",
        "Watchlist size: " + (f"{min(sizes)} to {max(sizes)} subjects per deployment" if sizes else "none"),
        "Watchlist subjects per category (summed over deployments):",
        *[f"  {count:6d}  {category}" for category, count in sorted(grid.categories.items())],
        f"Software: {SOFTWARE_NAME}, version {', '.join(versions)}; supplier: {supplier}",
    ]
    return lines
