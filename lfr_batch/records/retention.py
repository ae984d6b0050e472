"""Retention: deleting alert evidence past its retention period, keeping the figures.

An alert older than the period (from the wall-clock time it was seen, or, when
that is unknown, from when its video was scanned) loses its snapshot, its row
in alerts.csv and its review details; its counts (alert, outcome, engagement)
stay in its video's record, so the deployment's published figures do not
change. Each video record is rewritten atomically, so a purge killed half-way
leaves every figure right and can simply be run again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lfr_batch.errors import ConfigError
from lfr_batch.records.folder import DeploymentFolder, folders_in
from lfr_batch.records.reports import (
    OUTCOME_COLUMNS,
    current_reviews,
)
from lfr_batch.records.review import write_folder_reports
from lfr_batch.records.state import AlertRecord, DeploymentState, VideoRecord
from lfr_batch.times import comparable

_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_age(text: str) -> timedelta:
    """``31d``, ``12h`` or ``2w``."""
    found = _AGE.match(text)
    if not found:
        raise ConfigError(
            f"age {text!r} must be a whole number of hours, days or weeks, such as 31d, 12h or 2w"
        )
    try:
        return int(found.group(1)) * _UNITS[found.group(2)]
    except OverflowError:
        raise ConfigError(f"age {text!r} is longer than any retention period can be") from None


@dataclass(frozen=True)
class PurgeCandidate:
    deployment: str
    alert_id: str
    subject_id: str
    seen: datetime


@dataclass(frozen=True)
class PurgeResult:
    deployments: int
    alerts: int
    files: int
    candidates: list[PurgeCandidate]  # what was (or, in a dry run, would be) purged
    arrests_kept: int  # past retention, kept as evidence of an arrest


def seen_at(record: VideoRecord, alert: AlertRecord) -> datetime:
    """When the alert's face was seen, or when its video was scanned if that is unknown."""
    if record.start is not None:
        return comparable(record.start + timedelta(seconds=alert.first_seen_s))
    # A record without even its scan time (written by hand) is never taken as old.
    return comparable(record.scanned_at or datetime.now(UTC))


def purge(
    out_dir: Path,
    older_than: timedelta,
    now: datetime | None = None,
    *,
    include_arrests: bool = False,
    dry_run: bool = False,
    wait: bool = False,
) -> PurgeResult:
    """Delete the details of every alert under ``out_dir`` older than ``older_than``;
    alerts reviewed as leading to an arrest are kept unless ``include_arrests``.
    ``dry_run`` lists what would go and changes nothing; ``wait`` waits for a
    deployment held by another command instead of stopping."""
    now = now or datetime.now(UTC)
    deployments = files = arrests_kept = 0
    candidates: list[PurgeCandidate] = []
    for paths in folders_in(out_dir):
        folder = paths.root
        with paths.lock("purge", wait=wait):
            state = DeploymentState(folder)
            reviews = current_reviews(state)
            expired: dict[str, list[AlertRecord]] = {}
            for record in state.ordered():
                for alert in record.alerts:
                    if now - seen_at(record, alert) <= older_than:
                        continue
                    if not include_arrests and reviews.get(alert.alert_id, {}).get("engagement") == "arrest":
                        arrests_kept += 1
                        continue
                    expired.setdefault(record.sha256, []).append(alert)
                    candidates.append(
                        PurgeCandidate(folder.name, alert.alert_id, alert.subject_id, seen_at(record, alert))
                    )
            if expired and not dry_run:
                files += _purge_deployment(state, reviews, expired)
            deployments += bool(expired)
    return PurgeResult(deployments, len(candidates), files, candidates, arrests_kept)


def _purge_deployment(
    state: DeploymentState, reviews: dict[str, dict[str, str]], expired: dict[str, list[AlertRecord]]
) -> int:
    """Remove the expired alerts' details and files (under the deployment's lock);
    their counts stay in each video's record. Returns the files deleted."""
    # The records and their reviews change together, or (on a crash) not at all.
    with state.transaction():
        for record in state.ordered():
            gone = expired.get(record.sha256, [])
            if not gone:
                continue
            counts = dict(record.purged)
            for alert in gone:
                review = reviews.get(alert.alert_id, {})
                counts["total_alerts"] = counts.get("total_alerts", 0) + 1
                for column, (key, value) in OUTCOME_COLUMNS.items():
                    counts[column] = counts.get(column, 0) + (review.get(key) == value)
                counts["last_alert_number"] = max(counts.get("last_alert_number", 0), int(alert.alert_id[1:]))
            kept = [a for a in record.alerts if a not in gone]
            state.replace_record(replace(record, alerts=kept, purged=counts))
        held = {a.alert_id for _v, a in state.alerts()}
        state.save_reviews({key: value for key, value in state.reviews().items() if key in held})
    referenced = {a.snapshot for _v, a in state.alerts()} | {a.subject_photo for _v, a in state.alerts()}
    files = 0
    for folder in (DeploymentFolder.SNAPSHOTS, DeploymentFolder.SUBJECT_PHOTOS):
        for path in sorted(state.paths.file(folder).glob("*.jpg")):
            if f"{folder}/{path.name}" not in referenced:
                path.unlink()
                files += 1
    write_folder_reports(state)
    return files
