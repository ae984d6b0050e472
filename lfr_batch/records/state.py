"""What a deployment has scanned so far, so re-runs add only new footage.

``OUT/NAME/.lfr-batch/`` holds ``settings.json`` (the scan settings every run of
the deployment must share, its published details, facts of its watchlist and a
line per run), ``reviews.json`` (the reviewers'
verdicts by alert id) and one ``videos/<sha256>.json`` per scanned file, named
by the file's content so a renamed or moved file is recognised. Each record is
written atomically once its
snapshots are on disk, so a run killed at any moment loses at most the video it
was on, and the next run picks up from there.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lfr_batch.errors import ConfigError, ReportError
from lfr_batch.files import write_atomic
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.times import iso, parse_time

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    track_id: int
    first_seen_s: float
    last_seen_s: float
    best_frame: int
    best_time_s: float
    subject_id: str
    subject_name: str
    category: str
    distance: float  # from the mean of the track's views to the subject
    top: int
    right: int
    bottom: int
    left: int
    snapshot: str  # relative to the deployment folder
    subject_photo: str = ""  # the subject's watchlist photo, relative to the deployment folder
    views: int = 1  # encoded views of the track the decision was made on
    view_distance: float = 0.0  # the snapshot view's own distance to the subject
    runner_up_subject_id: str = ""  # the next nearest subject, and its distance
    runner_up_distance: float | None = None


TIMELINE_BIN_S = 2.0  # faces seen are counted per this much video, for the alert sheet's timeline


@dataclass(frozen=True)
class VideoRecord:
    sha256: str
    video: str
    sequence: int  # order of commitment: reports list videos and alerts in this order
    status: str  # ok, partial or failed
    reason: str = ""
    start: datetime | None = None  # wall-clock time of the first frame, if known
    duration_s: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frames_decoded: int = 0
    frames_analysed: int = 0
    faces_seen: int = 0
    faces_low_quality: int = 0  # faces seen but never large or sharp enough to match
    faces_seen_by_bin: list[int] = field(default_factory=list)  # per TIMELINE_BIN_S: counts only
    processing_seconds: float = 0.0
    scanned_at: datetime | None = None
    alerts: list[AlertRecord] = field(default_factory=list)
    # Figures of alerts deleted at the end of their retention period (see lfr_batch.records.retention).
    purged: dict[str, int] = field(default_factory=dict)
    # Every decided track's nearest subjects, numbers only (``scan --keep-distances``).
    distances: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoRecord:
        alerts = [AlertRecord(**alert) for alert in data.pop("alerts", [])]
        times = {name: parse_time(data.pop(name, None)) for name in ("start", "scanned_at")}
        return cls(**data, **times, alerts=alerts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "start": iso(self.start), "scanned_at": iso(self.scanned_at)}


class DeploymentState:
    """The scan state of one deployment folder."""

    def __init__(self, deployment_dir: Path) -> None:
        self.deployment_dir = deployment_dir
        self.paths = DeploymentFolder(deployment_dir)
        self.settings: dict[str, Any] = {}
        self.records: dict[str, VideoRecord] = {}
        self._load()

    @property
    def exists(self) -> bool:
        return bool(self.settings)

    def _load(self) -> None:
        settings_path = self.paths.settings
        if not settings_path.is_file():
            return
        try:
            self.settings = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ReportError(
                f"the scan state in {self.paths.state_dir} is unreadable ({error}); rerun with --overwrite"
            ) from None
        if not isinstance(self.settings, dict) or self.settings.get("version") != STATE_VERSION:
            raise ReportError(
                f"the scan state in {self.paths.state_dir} is of another version; rerun with --overwrite"
            )
        for path in sorted(self.paths.records.glob("*.json")):
            try:
                record = VideoRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, AttributeError) as error:
                # One damaged record must not hide the rest; without it, its video is
                # simply not yet scanned, and the next scan of it writes it afresh.
                logger.warning(
                    "%s is unreadable (%s): its video is left out until it is scanned again", path, error
                )
                continue
            if path.stem != record.sha256:
                logger.warning("%s holds the record of another file: left out", path)
                continue
            self.records[record.sha256] = record

    def check_same_scan(self, scan_settings: dict[str, Any]) -> None:
        """Refuse to add footage scanned in another way: the figures would not add up."""
        stored = self.settings.get("scan", {})
        differing = [key for key, value in scan_settings.items() if stored.get(key) != value]
        if differing:
            described = ", ".join(
                f"{key} {stored.get(key)!r} (now {scan_settings[key]!r})" for key in differing
            )
            raise ConfigError(
                f"deployment {self.deployment_dir.name} was scanned with {described}; "
                "scan with the same settings, use another --deployment, or --overwrite"
            )

    def start(
        self, scan_settings: dict[str, Any], details: dict[str, str], watchlist: dict[str, Any]
    ) -> None:
        """Record the settings (first run), the published details given now and the
        watchlist's facts, so reports can be rewritten later without the watchlist."""
        stored_details = self.settings.get("deployment", {})
        merged = {key: value or stored_details.get(key, "") for key, value in details.items()}
        self.settings = {
            **self.settings,
            "version": STATE_VERSION,
            "scan": scan_settings,
            "deployment": merged,
            "watchlist": watchlist,
            "runs": self.settings.get("runs", []),
        }
        self.save_settings()

    def finish_run(self, run: dict[str, Any]) -> None:
        self.settings["runs"].append(run)
        self.save_settings()

    def reviews(self) -> dict[str, dict[str, str]]:
        """The reviewers' entries, by alert id."""
        path = self.paths.reviews
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ReportError(f"{path} is unreadable ({error})") from None

    def save_reviews(self, reviews: dict[str, dict[str, str]]) -> None:
        text = json.dumps(reviews, indent=1, sort_keys=True)
        write_atomic(self.paths.reviews, text.encode("utf-8"))

    def alerts(self) -> list[tuple[VideoRecord, AlertRecord]]:
        """Every alert the deployment holds, in alert-id order."""
        return [(record, alert) for record in self.ordered() for alert in record.alerts]

    def replace_record(self, record: VideoRecord) -> None:
        """Rewrite a stored record (after a purge removed its alert details)."""
        write_atomic(self.paths.record(record.sha256), json.dumps(record.to_json(), indent=1).encode("utf-8"))
        self.records[record.sha256] = record

    def save_settings(self) -> None:
        text = json.dumps(self.settings, indent=2, sort_keys=True)
        write_atomic(self.paths.settings, text.encode("utf-8"))

    def done(self, sha256: str) -> VideoRecord | None:
        """The record of a file with this content that needs no rescan (failed ones are retried)."""
        record = self.records.get(sha256)
        return record if record is not None and record.status != "failed" else None

    def next_sequence(self) -> int:
        return max((r.sequence for r in self.records.values()), default=0) + 1

    def next_alert_number(self) -> int:
        """Alert ids are never reused, purged ones included."""
        numbers = [int(a.alert_id[1:]) for r in self.records.values() for a in r.alerts]
        numbers += [r.purged.get("last_alert_number", 0) for r in self.records.values()]
        return max(numbers, default=0) + 1

    def commit(self, record: VideoRecord) -> None:
        """Store a video's record; a failed record of the same path is replaced by it."""
        self.replace_record(record)
        for stale in [
            r for r in self.records.values() if r.video == record.video and r.sha256 != record.sha256
        ]:
            if stale.status == "failed":
                self.paths.record(stale.sha256).unlink(missing_ok=True)
                del self.records[stale.sha256]

    def ordered(self) -> list[VideoRecord]:
        return sorted(self.records.values(), key=lambda r: r.sequence)

    def clear(self) -> None:
        """Forget everything scanned (``--overwrite``)."""
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        self.settings, self.records = {}, {}
