"""What a deployment has scanned so far, so re-runs add only new footage.

``OUT/NAME/.lfr-batch/state.sqlite`` holds the settings (those every run of the
deployment must share, its published details, facts of its watchlist and a line
per run), the reviewers' verdicts by alert id, and one record per scanned file,
keyed by the file's content so a renamed or moved file is recognised. A video's
record is committed once its snapshots are on disk, so a run killed at any
moment loses at most the video it was on, and the next run picks up from there.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lfr_batch.errors import ConfigError, ReportError
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.times import iso, parse_time

logger = logging.getLogger(__name__)

STATE_VERSION = 2  # one SQLite file
LEGACY_VERSION = 1  # one JSON file per video, settings.json, reviews.json


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
    cut: float | None = None  # the subject's cut it lay within (None: scanned before cuts per subject)


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
    """The scan state of one deployment (or case) folder, in one SQLite file.

    SQLite gives what the state needs and files alone did not: several changes as
    one transaction (a purge of many records and their reviews, a case's re-ranking),
    crash safety for each, and one file. ``secure_delete`` overwrites what a purge
    deletes, so no alert outlives its retention in the file's free pages."""

    def __init__(self, deployment_dir: Path) -> None:
        self.deployment_dir = deployment_dir
        self.paths = DeploymentFolder(deployment_dir)
        self.settings: dict[str, Any] = {}
        self.records: dict[str, VideoRecord] = {}
        self._db: sqlite3.Connection | None = None
        self._depth = 0  # open transaction() blocks
        self._load()

    @property
    def exists(self) -> bool:
        return bool(self.settings)

    def _unreadable(self, error: object) -> ReportError:
        return ReportError(
            f"the scan state in {self.paths.state_dir} is unreadable ({error}); rerun with --overwrite"
        )

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.paths.state_dir.mkdir(parents=True, exist_ok=True)
            # Autocommit: transaction() opens and closes each transaction itself.
            self._db = sqlite3.connect(self.paths.store, isolation_level=None, timeout=30)
            for pragma in _PRAGMAS:
                self._db.execute(pragma)
            self._db.executescript(_SCHEMA)
        return self._db

    def _load(self) -> None:
        if not self.paths.store.is_file():
            if not self.paths.legacy_settings.is_file():
                return
            self._migrate_from_json()
        try:
            db = self._connection()
            row = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
            self.settings = json.loads(row[0]) if row else {}
            rows = db.execute("SELECT sha256, record FROM videos").fetchall()
        except (sqlite3.Error, ValueError) as error:
            raise self._unreadable(error) from None
        if not isinstance(self.settings, dict) or self.settings.get("version") not in (None, STATE_VERSION):
            raise self._unreadable("it is of another version")
        for sha256, text in rows:
            try:
                record = VideoRecord.from_json(json.loads(text))
            except (ValueError, TypeError, AttributeError) as error:
                # One damaged record must not hide the rest; without it, its video is
                # simply not yet scanned, and the next scan of it writes it afresh.
                logger.warning(
                    "the record of %s in %s is unreadable (%s): its video is left out until it is "
                    "scanned again",
                    sha256,
                    self.paths.store,
                    error,
                )
                continue
            if record.sha256 != sha256:
                logger.warning("the record filed under %s holds another file's: left out", sha256)
                continue
            self.records[sha256] = record

    def _migrate_from_json(self) -> None:
        """Read a folder written before the state moved to SQLite (one JSON file per
        video, settings.json, reviews.json) into a new store, then delete the JSON,
        so a later purge leaves no copy of what it deletes."""
        paths = self.paths
        try:
            settings = json.loads(paths.legacy_settings.read_text(encoding="utf-8"))
            reviews = (
                json.loads(paths.legacy_reviews.read_text(encoding="utf-8"))
                if paths.legacy_reviews.is_file()
                else {}
            )
            records = {
                path.stem: path.read_text(encoding="utf-8")
                for path in sorted(paths.legacy_records.glob("*.json"))
            }
        except (OSError, ValueError) as error:
            raise self._unreadable(error) from None
        if not isinstance(settings, dict) or settings.get("version") != LEGACY_VERSION:
            raise self._unreadable("it is of another version")
        settings["version"] = STATE_VERSION
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('settings', ?)", (json.dumps(settings),))
            for sha256, text in records.items():
                sequence = json.loads(text).get("sequence", 0) if text.strip().startswith("{") else 0
                db.execute("INSERT OR REPLACE INTO videos VALUES (?, ?, ?)", (sha256, sequence, text))
            db.executemany(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?)",
                [(finding, json.dumps(entry)) for finding, entry in reviews.items()],
            )
        for path in (paths.legacy_settings, paths.legacy_reviews, *paths.legacy_records.glob("*.json")):
            path.unlink(missing_ok=True)
        logger.info("the scan state in %s was moved from JSON files into %s", paths.state_dir, paths.store)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Changes made inside it reach the disk together, or (on an error or a crash)
        not at all. Nested blocks join the outermost one."""
        db = self._connection()
        if self._depth == 0:
            db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield db
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            db.execute("COMMIT")

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
        if not self.exists:
            return {}
        try:
            rows = self._connection().execute("SELECT finding_id, entry FROM reviews").fetchall()
            return {finding_id: json.loads(entry) for finding_id, entry in rows}
        except (sqlite3.Error, ValueError) as error:
            raise self._unreadable(error) from None

    def save_review(self, finding_id: str, entry: dict[str, str]) -> None:
        """Store one reviewer's answer, leaving every other as it is."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?)",
                (finding_id, json.dumps(entry, sort_keys=True)),
            )

    def save_reviews(self, reviews: dict[str, dict[str, str]]) -> None:
        """Store the reviews as given: only the entries that changed are written."""
        stored = self.reviews()
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM reviews WHERE finding_id = ?",
                [(finding,) for finding in stored.keys() - reviews.keys()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?)",
                [
                    (finding, json.dumps(entry, sort_keys=True))
                    for finding, entry in reviews.items()
                    if stored.get(finding) != entry
                ],
            )

    def alerts(self) -> list[tuple[VideoRecord, AlertRecord]]:
        """Every alert the deployment holds, in alert-id order."""
        return [(record, alert) for record in self.ordered() for alert in record.alerts]

    def replace_record(self, record: VideoRecord) -> None:
        """Rewrite a stored record (after a purge removed its alert details)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO videos VALUES (?, ?, ?)",
                (record.sha256, record.sequence, json.dumps(record.to_json())),
            )
        self.records[record.sha256] = record

    def audit_mark(self) -> dict[str, Any] | None:
        """The audit log's length and last hash after the last command on this folder."""
        if not self.exists:
            return None
        row = self._connection().execute("SELECT value FROM meta WHERE key = 'audit'").fetchone()
        try:
            mark = json.loads(row[0]) if row else None
        except ValueError:
            return None
        valid = (
            isinstance(mark, dict)
            and isinstance(mark.get("lines"), int)
            and isinstance(mark.get("hash"), str)
        )
        return mark if valid else None

    def save_audit_mark(self, mark: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('audit', ?)", (json.dumps(mark),))

    def save_settings(self) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('settings', ?)", (json.dumps(self.settings),))

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
        with self.transaction() as db:
            self.replace_record(record)
            for stale in [
                r for r in self.records.values() if r.video == record.video and r.sha256 != record.sha256
            ]:
                if stale.status == "failed":
                    db.execute("DELETE FROM videos WHERE sha256 = ?", (stale.sha256,))
                    del self.records[stale.sha256]

    def ordered(self) -> list[VideoRecord]:
        return sorted(self.records.values(), key=lambda r: r.sequence)

    def clear(self) -> None:
        """Forget everything scanned (``--overwrite``)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.paths.state_dir, ignore_errors=True)
        self.settings, self.records = {}, {}


_PRAGMAS = (
    "PRAGMA secure_delete = ON",  # a purged alert's bytes are overwritten, not left in free pages
    "PRAGMA synchronous = FULL",
    # A rollback journal, not WAL: WAL needs shared memory, which network folders lack.
    "PRAGMA journal_mode = DELETE",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (sha256 TEXT PRIMARY KEY, sequence INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (finding_id TEXT PRIMARY KEY, entry TEXT NOT NULL);
"""
