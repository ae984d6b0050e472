"""What a deployment has scanned so far, so re-runs add only new footage.

``OUT/NAME/.lfr-batch/state.sqlite`` holds the settings (those every run of the
deployment must share, its published details, facts of its watchlist and a line
per run), the reviewers' verdicts by alert id, and one record per scanned file,
keyed by the file's content so a renamed or moved file is recognised. A video's
record is committed once its snapshots are on disk, so a run killed at any
moment loses at most the video it was on, and the next run picks up from there.

The store is read as input like any other file: every value is checked against
the record it becomes (:mod:`lfr_batch.records.shapes`), a damaged record is left
out with a warning, and every SQLite failure (a damaged, locked, read-only, full,
deleted or replaced file) becomes one line saying what to do, so one folder's
damage never stops a command on the others.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import operator
import os
import re
import secrets
import shutil
import socket
import sqlite3
import types
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from lfr_batch.errors import ConfigError, ReportError
from lfr_batch.files import make_folder, protect, read_regular
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.shapes import Fields, problem, record_fields
from lfr_batch.times import iso, parse_time

logger = logging.getLogger(__name__)

STATE_VERSION = 2  # one SQLite file
LEGACY_VERSION = 1  # one JSON file per video, settings.json, reviews.json


@dataclass(frozen=True)
class Finding:
    """A matched track a person reviews, as stored: a deployment's alert (A00001: the
    nearest subject within its cut) or a search case's candidate (C00001: ranked
    against the person searched for). ``alert_id`` keeps the name the stored JSON and
    the reports' columns have always had."""

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
    alerts: list[Finding] = field(default_factory=list)
    # Figures of alerts deleted at the end of their retention period (see lfr_batch.records.retention).
    purged: dict[str, int] = field(default_factory=dict)
    # Every decided track's nearest subjects, numbers only (``scan --keep-distances``).
    distances: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> VideoRecord:
        """A stored record, checked: ValueError says what is wrong with it."""
        trouble = problem(data, VIDEO_FIELDS, "the record")
        if trouble:
            raise ValueError(trouble)
        if data["status"] not in STATUSES:
            raise ValueError(f"the record's status {data['status']!r} is not one of {', '.join(STATUSES)}")
        alerts = [Finding(**alert) for alert in data["alerts"]] if "alerts" in data else []
        for alert in alerts:
            if not _FINDING_ID.fullmatch(alert.alert_id):
                raise ValueError(f"alert id {alert.alert_id[:40]!r} is not a letter and a number")
        times = {name: parse_time(data.get(name)) for name in ("start", "scanned_at")}
        plain = {key: value for key, value in data.items() if key not in ("alerts", "start", "scanned_at")}
        return cls(**plain, **times, alerts=alerts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "start": iso(self.start), "scanned_at": iso(self.scanned_at)}


STATUSES = ("ok", "partial", "failed")
_FINDING_ID = re.compile(r"[AC][0-9]{1,15}")  # A00001 (an alert) or C00001 (a candidate)
_DISTANCE_CELL = str | int | float | None
VIDEO_FIELDS = record_fields(
    VideoRecord,
    start=str | None,
    scanned_at=str | None,
    alerts=list[record_fields(Finding)],
    distances=list[dict[str, _DISTANCE_CELL]],
)
# What a run matched at (lfr_batch.scan.RunCuts), as reports read it.
RUN_CUTS = Fields(
    {
        "mode": str,
        "source": str,
        "faces": int,
        "background_faces": int,
        "cut_median": float,
        "cut_min": float,
        "cut_max": float,
        "expected_false_alert_rate": float,
        "expected_missed_share": float | None,
    },
    frozenset({"mode", "source", "faces", "cut_median", "cut_min", "cut_max", "expected_false_alert_rate"}),
)


@dataclass(frozen=True)
class ScanSettings:
    """How a folder's footage is scanned: what every run into one deployment (or case)
    must share for its figures to add up, stored as the state's ``scan`` settings. A
    field at its default of None (or a scan's empty ``kind``) is not stored, so the
    settings of a folder written before a field existed read back as they were."""

    watchlist_sha256: str
    threshold: float | Literal["auto"]  # a fixed distance, or a cut per subject
    sample_fps: float
    upsample: int
    threshold_mode: str = "fixed"  # "auto" or "fixed"; folders scanned before cuts per subject: fixed
    max_false_alert_rate: float | None = None
    keep_distances: bool = False
    detector: str = ""
    exhaustive: bool = False
    segment_seconds: float | None = None  # retired: kept as earlier runs stored it, never set or compared
    detector_model: str = ""
    encoder_model: str = ""
    kind: str = ""  # "" for a scan's deployment, "case" for a search's case
    cut: float | None = None  # a case's cut, where an early search kept it here
    top: int | None = None
    below: int | None = None
    max_false_candidate_rate: float | None = None

    # The shape the store holds them in: every field may be missing (a folder whose
    # first scan was killed), none may be null.
    STORED: ClassVar[Fields]

    def to_payload(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in asdict(self).items()
            if value is not None and not (name == "kind" and value == "")
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScanSettings:
        """Settings as the store holds them (checked against :attr:`STORED`)."""
        return cls(**{f.name: payload[f.name] for f in fields(cls) if f.name in payload})


def _not_null(hint: Any) -> Any:
    """The hint without None: a field not set is left out of the store, not null."""
    kept = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(kept) < len(typing.get_args(hint)):
        return functools.reduce(operator.or_, kept)
    return hint


ScanSettings.STORED = Fields(
    {name: _not_null(hint) for name, hint in typing.get_type_hints(ScanSettings).items() if name != "STORED"}
)


# The settings as the store holds them. Every field is optional here (a folder whose
# first scan was killed holds only some); what the reports need is checked by
# DeploymentState.report_settings().
SETTINGS_FIELDS = Fields(
    {
        "version": int,
        "scan": ScanSettings.STORED,
        "deployment": dict[str, str],
        "watchlist": Fields(
            {
                "file": str,
                "path": str,  # resolved (lfr_batch.scan.LoadedWatchlist.path)
                "size": int,
                "created": str,
                "expired_subjects": int,
                "categories": dict[str, int],
                "expected_false_alert_rate": float,
                "expected_false_candidate_rate": float,
                "calibration": str,
                "cut": float,
                "probe_photos": list[Fields({"photo": str, "sha256": str, "face": str}, frozenset({"face"}))],
            }
        ),
        "runs": list[
            Fields(
                {"started": str, "processing_seconds": float, "cuts": RUN_CUTS},
                frozenset({"started", "processing_seconds"}),
            )
        ],
        "evaluation": Fields(
            {"scan": dict[str, float | int | str], "hindsight": dict[str, float | int | str] | None}
        ),
    }
)
# What every report reads of the settings: the fields a ScanSettings cannot do without.
REPORT_SETTINGS = tuple(f.name for f in fields(ScanSettings) if f.default is MISSING)
# A review entry: its answers, who gave them and when, all text.
REVIEW_ENTRY = dict[str, str]
# The audit log's length and last hash after the last command on a folder, signed with
# the key when one is set (lfr_batch.records.audit).
AUDIT_MARK = Fields({"lines": int, "hash": str, "hmac": str}, frozenset({"lines", "hash"}), closed=True)
# A change not yet in the audit log: when the first was made, and by which process (to
# tell one still at work from one that ended without its line). The run is in its key.
UNAUDITED_MARK = Fields(
    {"since": str, "pid": int, "host": str}, frozenset({"since", "pid", "host"}), closed=True
)
# Each run marks under a key of its own, so two commands in turn on one folder never
# clear each other's mark.
UNAUDITED_KEY = "unaudited:"
_THIS_RUN = UNAUDITED_KEY + secrets.token_hex(8)


@dataclass(frozen=True)
class UnrecordedChange:
    """A change that a command no longer running made here and wrote no audit line for."""

    mark: str  # the meta key of the run's mark
    since: datetime  # its first change


def _running(pid: int, host: str) -> bool:
    """Whether the process that made a mark may still be at work (on another host: assume so)."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


# Each report file's SHA-256 as last written (the one before too: a run killed between
# recording a new hash and writing its file leaves the old file), so one edited by hand
# is found before it is overwritten (lfr_batch.records.outputs).
OUTPUT_HASHES = dict[str, list[str]]
# SQLite's wait for a store another program holds, before it says so.
BUSY_TIMEOUT_S = 30.0


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
        self._carried: list[tuple[str, str]] = []  # marks of unrecorded changes that outlive a clear
        self._load()

    @classmethod
    def cleared(cls, deployment_dir: Path) -> DeploymentState:
        """An empty state in place of whatever the folder held, readable or not (``--overwrite``)."""
        state = cls.__new__(cls)
        state.deployment_dir, state.paths = deployment_dir, DeploymentFolder(deployment_dir)
        state.settings, state.records, state._db, state._depth = {}, {}, None, 0
        state._carried = _unaudited_marks(state.paths.store)
        state.clear()
        return state

    @property
    def exists(self) -> bool:
        return bool(self.settings)

    def _unreadable(self, error: object) -> ReportError:
        return ReportError(
            f"the scan state in {self.paths.state_dir} is unreadable ({error}); scan the deployment "
            "again with --overwrite (which forgets what it held)"
        )

    def _failure(self, error: sqlite3.Error) -> ReportError:
        """One line for any SQLite failure, naming the store and what to do."""
        reason = " ".join(str(error).split()) or type(error).__name__
        store = self.paths.store
        if not store.is_file() or store.is_symlink():
            return ReportError(
                f"the scan state {store} was deleted or replaced while this command ran ({reason}); "
                "run the command again"
            )
        lowered = reason.lower()
        if "locked" in lowered or "busy" in lowered:
            return ReportError(
                f"the scan state {store} is held by another program ({reason}); close any program "
                "that has it open and run this again"
            )
        if any(word in lowered for word in ("readonly", "read-only", "full", "i/o", "unable to open")):
            return ReportError(
                f"the scan state {store} cannot be written ({reason}): check the disk's free space and "
                "the folder's permissions, then run this again; nothing of this command was recorded"
            )
        return self._unreadable(reason)

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise self._failure(error) from None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            make_folder(self.paths.state_dir)
            store = self.paths.store
            if store.is_symlink() or (store.exists() and not store.is_file()):
                raise self._unreadable(f"{store.name} is not a file of its own")
            with self._guarded():
                self._db = _open_store(store)
            protect(store)
        return self._db

    def _load(self) -> None:
        store = self.paths.store
        if not store.exists() and not store.is_symlink():
            if not self.paths.legacy_settings.is_file():
                return
            self._migrate_from_json()
        with self._guarded():
            db = self._connection()
            row = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
            rows = db.execute("SELECT sha256, record FROM videos").fetchall()
        try:
            settings = json.loads(row[0]) if row else {}
        except (ValueError, TypeError, RecursionError) as error:
            raise self._unreadable(f"its settings are not JSON: {error}") from None
        trouble = problem(settings, SETTINGS_FIELDS, "settings")
        if trouble:
            raise self._unreadable(trouble)
        if settings.get("version") not in (None, STATE_VERSION):
            raise self._unreadable("it is of another version")
        self.settings = settings
        for sha256, text in rows:
            try:
                record = VideoRecord.from_json(json.loads(text))
            except (ValueError, TypeError, RecursionError) as error:
                # One damaged record must not hide the rest; without it, its video is
                # simply not yet scanned, and the next scan of it writes it afresh.
                logger.warning(
                    "the record of %s in %s is unreadable (%s): its video is left out until it is "
                    "scanned again",
                    str(sha256)[:80],
                    self.paths.store,
                    str(error)[:200],
                )
                continue
            if record.sha256 != sha256:
                logger.warning("the record filed under %s holds another file's: left out", str(sha256)[:80])
                continue
            self.records[sha256] = record

    def _migrate_from_json(self) -> None:
        """Read a folder written before the state moved to SQLite (one JSON file per
        video, settings.json, reviews.json) into a new store, then delete the JSON, so
        a later purge leaves no copy of what it deletes.

        What cannot be read (a truncated record, a reviews.json that holds no table)
        is left out, said, and moved to ``.lfr-batch/unreadable/`` rather than deleted;
        the store is built under another name and renamed into place whole, so a
        migration that fails leaves the JSON as it was and no empty store behind."""
        paths = self.paths
        try:
            settings = json.loads(read_regular(paths.legacy_settings, "settings file", LEGACY_FILE_LIMIT))
        except (OSError, ValueError, RecursionError) as error:
            raise self._unreadable(f"{paths.legacy_settings.name}: {error}") from None
        trouble = problem(settings, SETTINGS_FIELDS, "settings")
        if trouble or settings.get("version") != LEGACY_VERSION:
            raise self._unreadable(f"{paths.legacy_settings.name}: {trouble or 'it is of another version'}")
        settings["version"] = STATE_VERSION
        unreadable: list[Path] = []
        records: dict[str, VideoRecord] = {}
        for path in sorted(paths.legacy_records.glob("*.json")):
            try:
                record = VideoRecord.from_json(json.loads(read_regular(path, "record", LEGACY_FILE_LIMIT)))
                if record.sha256 != path.stem:
                    raise ValueError("it holds another file's record")
            except (OSError, ValueError, TypeError, RecursionError) as error:
                logger.warning("%s cannot be read (%s)", path, str(error)[:200])
                unreadable.append(path)
                continue
            records[record.sha256] = record
        reviews = self._legacy_reviews(unreadable)
        building = paths.store.with_name(paths.store.name + ".migrating")
        building.unlink(missing_ok=True)
        with self._guarded():
            db = _open_store(building)
            try:
                with db:
                    db.execute("INSERT INTO meta VALUES ('settings', ?)", (json.dumps(settings),))
                    db.executemany(
                        "INSERT INTO videos VALUES (?, ?, ?)",
                        [(sha, r.sequence, json.dumps(r.to_json())) for sha, r in records.items()],
                    )
                    db.executemany(
                        "INSERT INTO reviews VALUES (?, ?)",
                        [(finding, json.dumps(entry, sort_keys=True)) for finding, entry in reviews.items()],
                    )
            finally:
                db.close()
        protect(building)
        os.replace(building, paths.store)
        if unreadable:
            aside = paths.state_dir / "unreadable"
            make_folder(aside)
            for path in unreadable:
                os.replace(path, aside / path.name)
            logger.warning(
                "%d file(s) of deployment %s's earlier layout could not be read and are kept in %s; "
                "the rest was moved into %s (the videos of unreadable records are scanned again by the "
                "next scan)",
                len(unreadable),
                paths.name,
                aside,
                paths.store,
            )
        for path in (paths.legacy_settings, paths.legacy_reviews, *paths.legacy_records.glob("*.json")):
            path.unlink(missing_ok=True)
        logger.info("the scan state in %s was moved from JSON files into %s", paths.state_dir, paths.store)

    def _legacy_reviews(self, unreadable: list[Path]) -> dict[str, dict[str, str]]:
        """The readable entries of an earlier version's reviews.json."""
        path = self.paths.legacy_reviews
        if not path.is_file():
            return {}
        try:
            reviews = json.loads(read_regular(path, "reviews file", LEGACY_FILE_LIMIT))
        except (OSError, ValueError, RecursionError) as error:
            reviews = error
        if not isinstance(reviews, dict):
            logger.warning("%s holds no table of reviews (%s)", path, str(reviews)[:200])
            unreadable.append(path)
            return {}
        kept = {key: entry for key, entry in reviews.items() if problem(entry, REVIEW_ENTRY, "") is None}
        if len(kept) < len(reviews):
            logger.warning("%s: %d review(s) of the wrong shape left out", path, len(reviews) - len(kept))
            unreadable.append(path)
        return kept

    @contextmanager
    def transaction(self, audited: bool = False) -> Iterator[sqlite3.Connection]:
        """Changes made inside it reach the disk together, or (on an error or a crash)
        not at all. Nested blocks join the outermost one. Each change is marked as not
        yet in the audit log until the log's line for it is recorded here (``audited``:
        the block that records it), so a command killed between its work and its line
        leaves a mark that the next line, and ``audit verify``, name."""
        db = self._connection()
        if self._depth == 0:
            with self._guarded():
                db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            with self._guarded():
                yield db
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                # SQLite may have rolled back already (a full disk does): nothing to undo then.
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            try:
                with self._guarded():
                    # Another run's unrecorded change is the log's to hear of, whatever
                    # --overwrite forgets of the folder.
                    for key, value in self._carried:
                        db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
                    self._carried = []
                    if not audited:  # the first change since this run's last line is the one to name
                        mark = {
                            "since": iso(datetime.now(UTC)),
                            "pid": os.getpid(),
                            "host": socket.gethostname(),
                        }
                        db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (_THIS_RUN, json.dumps(mark)))
                    db.execute("COMMIT")
            except ReportError:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def check_same_scan(self, settings: ScanSettings) -> None:
        """Refuse to add footage scanned in another way: the figures would not add up."""
        stored, wanted = self.settings.get("scan", {}), settings.to_payload()
        differing = [key for key, value in wanted.items() if stored.get(key) != value]
        if differing:
            described = ", ".join(f"{key} {stored.get(key)!r} (now {wanted[key]!r})" for key in differing)
            raise ConfigError(
                f"deployment {self.deployment_dir.name} was scanned with {described}; "
                "scan with the same settings, use another --deployment, or --overwrite"
            )

    def report_settings(self) -> ScanSettings:
        """The scan settings every report needs, or one line saying which are missing."""
        scan = self.settings.get("scan", {})
        missing = [key for key in REPORT_SETTINGS if key not in scan]
        if missing:
            raise self._unreadable(f"its settings lack scan.{', scan.'.join(missing)}")
        return ScanSettings.from_payload(scan)

    @property
    def kind(self) -> str:
        """What scanned the folder: "" for a scan's deployment, "case" for a search's case."""
        return str(self.settings.get("scan", {}).get("kind", ""))

    def start(self, settings: ScanSettings, details: dict[str, str], watchlist: dict[str, Any]) -> None:
        """Record the settings (first run), the published details given now and the
        watchlist's facts, so reports can be rewritten later without the watchlist."""
        stored_details = self.settings.get("deployment", {})
        merged = {key: value or stored_details.get(key, "") for key, value in details.items()}
        self.settings = {
            **self.settings,
            "version": STATE_VERSION,
            # A setting an earlier version stored and this one no longer sets (the retired
            # segment_seconds) stays: it says how the folder's earlier files were scanned.
            "scan": {**self.settings.get("scan", {}), **settings.to_payload()},
            "deployment": merged,
            "watchlist": watchlist,
            "runs": self.settings.get("runs", []),
        }
        self.save_settings()

    def finish_run(self, run: dict[str, Any]) -> None:
        self.settings["runs"].append(run)
        self.save_settings()

    def reviews(self) -> dict[str, dict[str, str]]:
        """The reviewers' entries, by alert id; an entry edited out of shape is left out
        (and left in the store), with a warning."""
        if not self.exists:
            return {}
        with self._guarded():
            rows = self._connection().execute("SELECT finding_id, entry FROM reviews").fetchall()
        reviews = {}
        for finding_id, text in rows:
            try:
                entry = json.loads(text)
            except (ValueError, TypeError, RecursionError):
                entry = None
            if not isinstance(finding_id, str) or problem(entry, REVIEW_ENTRY, "") is not None:
                logger.warning(
                    "the review of %s in %s is unreadable: left out", str(finding_id)[:40], self.paths.store
                )
                continue
            reviews[finding_id] = entry
        return reviews

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

    def forget_reviews(self, keep: Iterable[str]) -> None:
        """Delete every stored review but those of ``keep`` (ids), unreadable ones included."""
        kept = set(keep)
        with self.transaction() as db:
            stored = [finding for (finding,) in db.execute("SELECT finding_id FROM reviews")]
            db.executemany(
                "DELETE FROM reviews WHERE finding_id = ?", [(f,) for f in stored if f not in kept]
            )

    def alerts(self) -> list[tuple[VideoRecord, Finding]]:
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

    def _meta(self, key: str, shape: Any) -> Any:
        """A stored meta value of the given shape; None if absent or out of shape."""
        if not self.exists:
            return None
        with self._guarded():
            row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            value = json.loads(row[0]) if row else None
        except (ValueError, TypeError, RecursionError):
            return None
        return value if value is not None and problem(value, shape, key) is None else None

    def _save_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def audit_mark(self) -> dict[str, Any] | None:
        """The audit log's length and last hash after the last command on this folder."""
        return self._meta("audit", AUDIT_MARK)

    def save_audit_mark(self, mark: dict[str, Any], recorded: Iterable[UnrecordedChange] = ()) -> None:
        """The log's length and last hash, once a line for this folder is written: this
        run's changes, and the ``recorded`` ones of runs that ended without a line, are
        now on record. Another running command's mark stays for its own line."""
        with self.transaction(audited=True) as db:
            self._save_meta("audit", mark)  # joins this block: the mark and the clearing are one
            for key in [_THIS_RUN, *(change.mark for change in recorded)]:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def output_hashes(self) -> dict[str, list[str]]:
        """Each report file's SHA-256 as this tool last wrote it (see OUTPUT_HASHES)."""
        return self._meta("outputs", OUTPUT_HASHES) or {}

    def save_output_hashes(self, hashes: dict[str, list[str]]) -> None:
        self._save_meta("outputs", hashes)

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
        """Forget everything scanned (``--overwrite``), however damaged the state was."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        state_dir = self.paths.state_dir
        if state_dir.is_symlink() or state_dir.is_file():
            state_dir.unlink()
        shutil.rmtree(state_dir, ignore_errors=True)
        if state_dir.exists():
            raise ReportError(
                f"cannot remove {state_dir} to start afresh: remove it by hand and run this again"
            )
        self.settings, self.records = {}, {}


def _unaudited_marks(store: Path) -> list[tuple[str, str]]:
    """The other runs' marks of changes not yet in the audit log, as a store holds them;
    none where it cannot be read (a damaged store is reported where it is opened)."""
    if not store.is_file() or store.is_symlink():
        return []
    try:
        with contextlib.closing(sqlite3.connect(store.absolute().as_uri() + "?mode=ro", uri=True)) as db:
            return [(key, value) for key, value in _unaudited_rows(db) if key != _THIS_RUN]
    except sqlite3.Error:
        return []


def unrecorded_changes(store: Path) -> list[UnrecordedChange]:
    """The changes made in the folder of this store by commands that ended (killed, most
    likely) before writing the audit line for them; a command still running is not one.
    Read from the store's marks alone, without loading its records (a grid writes a line
    for every deployment); a malformed mark raises ReportError."""
    changes = []
    for key, value in _unaudited_marks(store):
        try:
            mark = json.loads(value)
            since = parse_time(mark["since"]) if problem(mark, UNAUDITED_MARK, key) is None else None
        except (ValueError, TypeError, RecursionError):
            since = None
        if since is None:
            raise ReportError(
                f"the scan state {store} holds a malformed mark of a change not in the audit log"
            )
        if not _running(mark["pid"], mark["host"]):
            changes.append(UnrecordedChange(key, since))
    return sorted(changes, key=lambda change: change.since)


def _unaudited_rows(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every run's mark of a change not yet in the audit log: its key and its value."""
    rows = db.execute("SELECT key, value FROM meta WHERE key LIKE ? ORDER BY key", (UNAUDITED_KEY + "%",))
    return [(str(key), str(value)) for key, value in rows]


# Files of the layout before the store: a settings or reviews file, or one video's record.
LEGACY_FILE_LIMIT = 64 * 1024 * 1024


def _open_store(path: Path) -> sqlite3.Connection:
    # Autocommit: transaction() opens and closes each transaction itself.
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    for pragma in _PRAGMAS:
        db.execute(pragma)
    db.executescript(_SCHEMA)
    return db


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
