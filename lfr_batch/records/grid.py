"""The published grid: one row per deployment, a totals row, and the figures people ask for.

Computes each deployment's row from its state, as its own ``deployment.csv`` is
written, so the grid always agrees with each deployment's record, reviews
included, and a report edited by hand is never read as data. A deployment whose
state cannot be read is left out and named; the grid of the others is made all
the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.errors import ReportError, one_line
from lfr_batch.records.case_report import is_case
from lfr_batch.records.folder import folders_in
from lfr_batch.records.reports import (
    DEPLOYMENT_COLUMNS,
    OUTCOME_COLUMNS,
    deployment_row,
    false_alert_rate,
)
from lfr_batch.records.state import DeploymentState

PUBLISHED_COLUMNS = (
    *DEPLOYMENT_COLUMNS[: DEPLOYMENT_COLUMNS.index("faces_seen") + 1],
    # Beside the measured false alert rate, the rate the threshold was chosen for.
    "expected_false_alert_rate_percent",
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
    "false_alert_rate_percent",
    "expected_false_alert_rate_percent",
)
GRID_MOMENTS = ("start", "end")
GRID_DAYS = ("date",)
GRID_DURATIONS = ("duration",)
DEFAULT_SUPPLIER = "the lfr-batch project (open source)"


def _seconds(duration: str) -> int:
    hours, minutes, seconds = (int(part) for part in duration.split(":"))
    return hours * 3600 + minutes * 60 + seconds


@dataclass
class Grid:
    rows: list[dict[str, Any]]
    folders: list[Path]
    categories: Counter[str] = field(default_factory=Counter)
    subjects_alerted: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)  # "NAME: why", for each that could not be read

    def totals(self) -> dict[str, Any]:
        """The TOTAL row: counts summed, durations added, the false alert rate recomputed and
        the expected rate weighted by faces seen (pandas does the column arithmetic)."""
        frame = pd.DataFrame(self.rows, columns=list(PUBLISHED_COLUMNS), dtype=object).fillna("")
        counts = frame[list(SUMMED_COLUMNS)].replace("", "0").astype(int)
        sums = {column: int(counts[column].sum()) for column in SUMMED_COLUMNS}
        false_alerts = sums["false_alerts_confirmed"] + sums["false_alerts_unconfirmed"]
        dates = sorted(day for day in frame["date"] if day)
        seconds = sum(_seconds(duration) for duration in frame["duration"] if duration)
        expected = pd.to_numeric(frame["expected_false_alert_rate_percent"].replace("", "0"))
        faces = sums["faces_seen"]
        expected_false_alerts = float((expected * counts["faces_seen"]).sum())
        return {
            "deployment": "TOTAL",
            "date": f"{dates[0]}/{dates[-1]}" if dates else "",
            "duration": f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}",
            **sums,
            "false_alert_rate_percent": false_alert_rate(false_alerts, faces),
            # The false alerts each deployment expected, summed, over all faces seen (%).
            "expected_false_alert_rate_percent": round(expected_false_alerts / faces, 6) if faces else 0.0,
        }


def collect(out_dir: Path, since: date | None = None, until: date | None = None) -> Grid:
    """Every deployment under ``out_dir`` whose date lies in [since, until], by date."""
    found = []
    skipped = []
    for paths in folders_in(out_dir):
        try:
            state = DeploymentState(paths.root)
            if not state.exists or is_case(state) or not state.records:
                continue  # a search case, or a deployment whose first scan has no video yet
            row = deployment_row(state, state.reviews())
        except ReportError as error:
            skipped.append(f"{paths.name}: {one_line(error)}")
            continue
        day = date.fromisoformat(row["date"]) if row["date"] else None
        if (since or until) and (day is None or (since and day < since) or (until and day > until)):
            continue
        found.append((row["date"], paths.root, row, state))
    found.sort(key=lambda item: (not item[0], item[0], item[1].name))  # by date; undated last
    grid = Grid(
        rows=[row for _, _, row, _ in found], folders=[folder for _, folder, _, _ in found], skipped=skipped
    )
    for _date, _folder, _row, state in found:
        categories = state.settings.get("watchlist", {}).get("categories", {})
        grid.categories.update({category or "(no category)": count for category, count in categories.items()})
        grid.subjects_alerted.update(alert.subject_id for _video, alert in state.alerts())
    return grid


@dataclass(frozen=True)
class GridFigures:
    """The figures asked for under freedom of information: :meth:`to_json` as numbers,
    :meth:`lines` in words."""

    deployments: int
    dates: str  # first/last, ISO 8601
    time_deployed: str
    faces_seen: int
    alerts: int
    subjects_alerted: int
    outcomes: dict[str, int]  # by OUTCOME_COLUMNS
    false_alert_rate_percent: Any
    expected_false_alert_rate_percent: Any
    watchlist_size_min: int
    watchlist_size_max: int
    watchlist_categories: dict[str, int]
    software_versions: list[str]
    supplier: str

    @classmethod
    def of(cls, grid: Grid, supplier: str = DEFAULT_SUPPLIER) -> GridFigures:
        totals = grid.totals()
        sizes = [int(row["watchlist_size"] or 0) for row in grid.rows]
        return cls(
            deployments=len(grid.rows),
            dates=totals["date"],
            time_deployed=totals["duration"],
            faces_seen=totals["faces_seen"],
            alerts=totals["total_alerts"],
            subjects_alerted=len(grid.subjects_alerted),
            outcomes={column: totals[column] for column in OUTCOME_COLUMNS},
            false_alert_rate_percent=totals["false_alert_rate_percent"],
            expected_false_alert_rate_percent=totals["expected_false_alert_rate_percent"],
            watchlist_size_min=min(sizes, default=0),
            watchlist_size_max=max(sizes, default=0),
            watchlist_categories=dict(sorted(grid.categories.items())),
            software_versions=sorted({row["software_version"] for row in grid.rows}) or [__version__],
            supplier=supplier,
        )

    @property
    def true_alerts(self) -> int:
        return self.outcomes["true_alerts_confirmed"] + self.outcomes["true_alerts_unconfirmed"]

    @property
    def false_alerts(self) -> int:
        return self.outcomes["false_alerts_confirmed"] + self.outcomes["false_alerts_unconfirmed"]

    def to_json(self) -> dict[str, Any]:
        return {
            "deployments": self.deployments,
            "dates": self.dates,
            "time_deployed": self.time_deployed,
            "faces_seen": self.faces_seen,
            "alerts": self.alerts,
            "subjects_alerted": self.subjects_alerted,
            **self.outcomes,
            "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts,
            "false_alert_rate_percent": self.false_alert_rate_percent,
            "expected_false_alert_rate_percent": self.expected_false_alert_rate_percent,
            "watchlist_size_min": self.watchlist_size_min,
            "watchlist_size_max": self.watchlist_size_max,
            "watchlist_categories": self.watchlist_categories,
            "software": SOFTWARE_NAME,
            "software_versions": self.software_versions,
            "supplier": self.supplier,
        }

    def lines(self) -> list[str]:
        """Plain answers to the questions asked of LFR deployments under freedom of information."""
        outcomes = self.outcomes
        sizes = f"{self.watchlist_size_min} to {self.watchlist_size_max} subjects per deployment"
        return [
            f"Deployments: {self.deployments}"
            + (f" ({self.dates.replace('/', ' to ')})" if self.dates else ""),
            f"Total time deployed: {self.time_deployed}",
            f"Faces seen: {self.faces_seen}",
            f"Alerts (people alerted): {self.alerts}, of {self.subjects_alerted} different "
            "watchlist subjects (purged alerts' subjects not counted)",
            f"Reviewed: {self.true_alerts + self.false_alerts}; true alerts: {self.true_alerts} "
            f"({outcomes['true_alerts_confirmed']} confirmed, {outcomes['true_alerts_unconfirmed']} "
            f"unconfirmed); false alerts: {self.false_alerts} ({outcomes['false_alerts_confirmed']} "
            f"confirmed, {outcomes['false_alerts_unconfirmed']} unconfirmed)",
            f"False alert rate: {self.false_alert_rate_percent}% of faces seen "
            f"(expected at the thresholds used: {self.expected_false_alert_rate_percent}%)",
            f"Outcomes: {outcomes['arrests']} arrests, {outcomes['other_disposals']} other disposals, "
            f"{outcomes['no_action']} no action",
            "Watchlist size: " + (sizes if self.deployments else "none"),
            "Watchlist subjects per category (summed over deployments):",
            *[f"  {count:6d}  {category}" for category, count in self.watchlist_categories.items()],
            f"Software: {SOFTWARE_NAME}, version {', '.join(self.software_versions)}; "
            f"supplier: {self.supplier}",
        ]
