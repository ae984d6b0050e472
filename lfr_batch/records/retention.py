"""Retention: deleting alert evidence past its retention period, keeping the figures.

An alert older than the period (from the wall-clock time it was seen, or, when
that is unknown, from when its video was scanned) loses its snapshot, its row
in alerts.csv, its track's row in distances.csv and its review details; its
counts (alert, outcome, engagement) stay in its video's record, so the
deployment's published figures do not change. Each video record is rewritten
atomically, so a purge killed half-way leaves every figure right and can simply
be run again. A deployment whose state cannot be read is left out and named,
and the others are purged all the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lfr_batch.errors import ConfigError, ReportError, one_line
from lfr_batch.records.folder import DeploymentFolder, folders_in
from lfr_batch.records.outputs import edited_copies
from lfr_batch.records.reports import OUTCOME_COLUMNS
from lfr_batch.records.review import write_folder_reports
from lfr_batch.records.state import DeploymentState, Finding, VideoRecord
from lfr_batch.times import comparable

logger = logging.getLogger(__name__)

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


@dataclass
class PurgeResult:
    deployments: int
    alerts: int
    files: int
    candidates: list[PurgeCandidate]  # what was (or, in a dry run, would be) purged
    arrests_kept: int  # past retention, kept as evidence of an arrest
    examined: list[str] = field(default_factory=list)  # every deployment read (and changed)
    skipped: list[str] = field(default_factory=list)  # "NAME: why", for each that could not be read


def seen_at(record: VideoRecord, alert: Finding) -> datetime:
    """When the alert's face was seen, or when its video was scanned if that is unknown."""
    scanned = comparable(record.scanned_at) if record.scanned_at is not None else None
    if record.start is not None:
        seen = comparable(record.start + timedelta(seconds=alert.first_seen_s))
        # Nothing is filmed after it is scanned: footage dated in the future (a recorder's
        # clock, a file name) counts from its scan, or its alerts would be kept for ever.
        return min(seen, scanned) if scanned is not None else seen
    # A record without even its scan time (written by hand) is never taken as old.
    return scanned or datetime.now(UTC)


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
    result = PurgeResult(0, 0, 0, [], 0)
    for paths in folders_in(out_dir):
        try:
            with paths.lock("purge", wait=wait):
                _purge_folder(paths, now, older_than, include_arrests, dry_run, result)
        except (ReportError, OSError) as error:
            # One folder's damage (or its lock) must not keep another's evidence past its time.
            result.skipped.append(f"{paths.name}: {one_line(error)}")
    result.alerts = len(result.candidates)
    return result


def _purge_folder(
    paths: DeploymentFolder,
    now: datetime,
    older_than: timedelta,
    include_arrests: bool,
    dry_run: bool,
    result: PurgeResult,
) -> None:
    """Purge one folder under its lock, adding what it found to ``result``."""
    state = DeploymentState(paths.root)
    if state.exists:
        state.report_settings()  # reports that cannot be rewritten would keep what is purged
    result.examined.append(paths.name)
    reviews = state.reviews()
    expired: dict[str, list[Finding]] = {}
    for record in state.ordered():
        for alert in record.alerts:
            if now - seen_at(record, alert) <= older_than:
                continue
            if not include_arrests and reviews.get(alert.alert_id, {}).get("engagement") == "arrest":
                result.arrests_kept += 1
                continue
            expired.setdefault(record.sha256, []).append(alert)
            result.candidates.append(
                PurgeCandidate(paths.name, alert.alert_id, alert.subject_id, seen_at(record, alert))
            )
    if expired and not dry_run:
        result.files += _purge_deployment(state, reviews, expired)
    result.deployments += bool(expired)
    for copy in [] if dry_run else edited_copies(paths.root):
        logger.warning(
            "%s is a hand-edited copy of a report: it may hold alerts past retention, which purge "
            "does not open; import its reviews (review --import) and delete it",
            copy,
        )


def _purge_deployment(
    state: DeploymentState, reviews: dict[str, dict[str, str]], expired: dict[str, list[Finding]]
) -> int:
    """Remove the expired alerts' details and files (under the deployment's lock);
    their counts stay in each video's record. Returns the files deleted."""
    # The records and their reviews change together, or (on a crash) not at all.
    with state.transaction():
        for record in state.ordered():
            gone = expired.get(record.sha256, [])
            if not gone:
                continue
            tracks = {alert.track_id for alert in gone}
            counts = dict(record.purged)
            for alert in gone:
                review = reviews.get(alert.alert_id, {})
                counts["total_alerts"] = counts.get("total_alerts", 0) + 1
                for column, (key, value) in OUTCOME_COLUMNS.items():
                    counts[column] = counts.get(column, 0) + (review.get(key) == value)
                counts["last_alert_number"] = max(counts.get("last_alert_number", 0), int(alert.alert_id[1:]))
            kept = [a for a in record.alerts if a not in gone]
            # The alert's track in distances.csv names its subject, video, times and distance too.
            distances = [row for row in record.distances if row.get("track_id") not in tracks]
            state.replace_record(replace(record, alerts=kept, purged=counts, distances=distances))
        state.forget_reviews(a.alert_id for _v, a in state.alerts())
    referenced = {a.snapshot for _v, a in state.alerts()} | {a.subject_photo for _v, a in state.alerts()}
    files = 0
    for folder in (DeploymentFolder.SNAPSHOTS, DeploymentFolder.SUBJECT_PHOTOS):
        for path in sorted(state.paths.file(folder).glob("*.jpg")):
            if f"{folder}/{path.name}" not in referenced:
                path.unlink()
                files += 1
    write_folder_reports(state)
    return files
