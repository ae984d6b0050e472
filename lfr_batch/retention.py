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
from lfr_batch.reports import (
    OUTCOME_COLUMNS,
    SNAPSHOTS_DIR,
    SUBJECT_PHOTOS_DIR,
    comparable,
    current_reviews,
    write_reports,
)
from lfr_batch.state import STATE_DIR, AlertRecord, DeploymentState, VideoRecord, deployment_lock

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
class PurgeResult:
    deployments: int
    alerts: int
    files: int


def seen_at(record: VideoRecord, alert: AlertRecord) -> datetime:
    """When the alert's face was seen, or when its video was scanned if that is unknown."""
    if record.start:
        moment = datetime.fromisoformat(record.start) + timedelta(seconds=alert.first_seen_s)
    else:
        moment = datetime.fromisoformat(record.scanned_at)
    return comparable(moment)


def purge(out_dir: Path, older_than: timedelta, now: datetime | None = None) -> PurgeResult:
    """Delete the details of every alert under ``out_dir`` older than ``older_than``."""
    now = now or datetime.now(UTC)
    deployments = alerts = files = 0
    for settings in sorted(out_dir.glob(f"*/{STATE_DIR}/settings.json")):
        with deployment_lock(settings.parent.parent, "purge"):
            purged_here, deleted = _purge_deployment(DeploymentState(settings.parent.parent), older_than, now)
        if purged_here:
            deployments += 1
            alerts += purged_here
            files += deleted
    return PurgeResult(deployments, alerts, files)


def _purge_deployment(state: DeploymentState, older_than: timedelta, now: datetime) -> tuple[int, int]:
    """Alerts purged and files deleted in one deployment (held under its lock)."""
    reviews = current_reviews(state)
    files = purged_here = 0
    for record in state.ordered():
        expired = [a for a in record.alerts if now - seen_at(record, a) > older_than]
        if not expired:
            continue
        counts = dict(record.purged)
        for alert in expired:
            review = reviews.get(alert.alert_id, {})
            counts["total_alerts"] = counts.get("total_alerts", 0) + 1
            for column, (key, value) in OUTCOME_COLUMNS.items():
                counts[column] = counts.get(column, 0) + (review.get(key) == value)
            counts["last_alert_number"] = max(counts.get("last_alert_number", 0), int(alert.alert_id[1:]))
        kept = [a for a in record.alerts if a not in expired]
        state.replace_record(replace(record, alerts=kept, purged=counts))
        purged_here += len(expired)
    if not purged_here:
        return 0, 0
    held = {a.alert_id for _v, a in state.alerts()}
    state.save_reviews({key: value for key, value in state.reviews().items() if key in held})
    referenced = {a.snapshot for _v, a in state.alerts()} | {a.subject_photo for _v, a in state.alerts()}
    for folder in (SNAPSHOTS_DIR, SUBJECT_PHOTOS_DIR):
        for path in sorted((state.deployment_dir / folder).glob("*.jpg")):
            if f"{folder}/{path.name}" not in referenced:
                path.unlink()
                files += 1
    write_reports(state)
    return purged_here, files
