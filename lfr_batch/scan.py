"""The scan: every input video through every stage, then the deployment's reports.

One frame's path: :class:`~lfr_batch.video.VideoReader` decodes it →
:class:`~lfr_batch.faces.FaceDetector` finds boxes → :class:`~lfr_batch.tracks.FaceTracker`
links them to tracks → :class:`~lfr_batch.encodings.FaceEncoder` encodes them →
:class:`~lfr_batch.matches.WatchlistMatcher` finds the nearest subject →
:class:`~lfr_batch.alerts.AlertCollector` keeps the best matched sighting per
track and subject → :mod:`lfr_batch.reports` writes the CSVs.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.alerts import Alert, AlertCollector
from lfr_batch.encodings import FaceEncoder
from lfr_batch.errors import ConfigError, ReportError, VideoError
from lfr_batch.faces import DETECTORS, DetectorName, FaceDetector
from lfr_batch.matches import DEFAULT_THRESHOLD, WatchlistMatcher
from lfr_batch.reports import (
    ALERT_COLUMNS,
    ALERTS_CSV,
    DEPLOYMENT_COLUMNS,
    DEPLOYMENT_CSV,
    SNAPSHOTS_DIR,
    VIDEO_COLUMNS,
    VIDEOS_CSV,
    AlertRow,
    alert_row,
    false_alert_rate,
    hms,
    iso,
    write_csv,
    write_snapshot,
)
from lfr_batch.tracks import FaceTracker
from lfr_batch.video import VideoReader, find_videos
from lfr_batch.watchlist import file_sha256, load_watchlist

logger = logging.getLogger(__name__)

# A walking person (about 1.4 m/s) crosses a CCTV view in a few seconds and faces the
# camera for about one of them; 5 samples a second give several looks in that second.
DEFAULT_SAMPLE_FPS = 5.0
DEFAULT_UPSAMPLE = 1
_DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")
# 20261126T140000, 2026-11-26_14-00-00, 20261126-140000 …: how recorders name exports.
_FILENAME_TIMESTAMP = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})[T _-]?(\d{2})[-:.h]?(\d{2})[-:.m]?(\d{2})"
)


@dataclass(frozen=True)
class ScanConfig:
    inputs: tuple[Path, ...]
    watchlist: Path
    deployment: str
    out_dir: Path = Path("reports")
    location: str = ""
    purpose: str = ""
    start: datetime | None = None
    threshold: float = DEFAULT_THRESHOLD
    sample_fps: float = DEFAULT_SAMPLE_FPS
    upsample: int = DEFAULT_UPSAMPLE
    detector: DetectorName = "hog"
    overwrite: bool = False

    def validate(self) -> None:
        if not _DEPLOYMENT_NAME.match(self.deployment) or ".." in self.deployment:
            raise ConfigError(
                f"deployment name {self.deployment!r} must start with a letter or digit and use "
                "only "
                "letters, digits, spaces, '.', '_' and '-' (it names a folder)"
            )
        if not 0.0 < self.threshold < 2.0:
            raise ConfigError(f"threshold {self.threshold} must lie between 0 and 2 (0.6 is usual)")
        if self.sample_fps <= 0:
            raise ConfigError(f"fps {self.sample_fps} must be positive")
        if not 0 <= self.upsample <= 3:
            raise ConfigError(f"upsample {self.upsample} must be 0, 1, 2 or 3")
        if self.detector not in DETECTORS:
            raise ConfigError(f"detector {self.detector!r} must be one of {', '.join(DETECTORS)}")
        if not self.inputs:
            raise ConfigError("no input videos or folders given")

    @property
    def deployment_dir(self) -> Path:
        return self.out_dir / self.deployment


@dataclass
class VideoResult:
    path: Path
    status: str = "ok"  # ok, partial (stopped early) or failed
    reason: str = ""
    start: datetime | None = None
    duration_s: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frames_decoded: int = 0
    frames_analysed: int = 0
    faces_seen: int = 0
    alerts: list[Alert] = field(default_factory=list)


@dataclass
class ScanResult:
    config: ScanConfig
    videos: list[VideoResult]
    alert_rows: list[AlertRow]
    watchlist_size: int
    watchlist_sha256: str
    watchlist_created: str
    expired_subjects: int
    detector: str
    encoder: str
    scanned_at: datetime
    processing_seconds: float

    @property
    def failed(self) -> list[VideoResult]:
        return [v for v in self.videos if v.status == "failed"]

    @property
    def faces_seen(self) -> int:
        return sum(v.faces_seen for v in self.videos)


@dataclass(frozen=True)
class Progress:
    """What the scan tells its caller: the scan starting (``total`` videos), a video
    starting (``total`` frames expected), frames done (``advance``), a video finished."""

    event: str  # "scan_start", "video_start", "frames", "video_end"
    video: Path
    total: int = 0
    advance: int = 0


ProgressCallback = Callable[[Progress], None]


def start_from_filename(path: Path) -> datetime | None:
    """The recording start encoded in a file name such as ``cam1_20261126T140000.mp4``."""
    found = _FILENAME_TIMESTAMP.search(path.stem)
    if not found:
        return None
    try:
        return datetime(*(int(part) for part in found.groups()))
    except ValueError:
        return None


def _video_start(path: Path, default: datetime | None) -> datetime | None:
    from_name = start_from_filename(path)
    if from_name is None:
        return default
    # Compare like with like: a file-name time is in the zone --start was given in.
    return from_name.replace(tzinfo=default.tzinfo) if default is not None else from_name


def scan(config: ScanConfig, progress: ProgressCallback | None = None) -> ScanResult:
    """Scan every input video against the watchlist and write the deployment's reports."""
    config.validate()
    report = progress or (lambda _event: None)
    deployment_dir = config.deployment_dir
    if (deployment_dir / DEPLOYMENT_CSV).exists() and not config.overwrite:
        raise ReportError(
            f"{deployment_dir} already holds reports; "
            "choose another --deployment or pass --overwrite"
        )
    watchlist = load_watchlist(config.watchlist)
    videos = find_videos(config.inputs)
    if not videos:
        raise VideoError(f"no video files found in {', '.join(str(p) for p in config.inputs)}")

    report(Progress("scan_start", config.deployment_dir, total=len(videos)))
    scanned_at = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    matcher = WatchlistMatcher(watchlist, config.threshold, at=scanned_at)
    detector = FaceDetector(config.detector, config.upsample)
    encoder = FaceEncoder()
    tracker = FaceTracker()
    collector = AlertCollector(watchlist.subjects)

    results = []
    for path in videos:
        tracker.reset()
        collector.reset()
        result = VideoResult(path=path, start=_video_start(path, config.start))
        try:
            _scan_video(
                path, config, result, detector, tracker, encoder, matcher, collector, report
            )
        except (VideoError, cv2.error, RuntimeError) as error:
            result.status, result.reason = "failed", _one_line(error)
            logger.error("%s: skipped: %s", path, result.reason)
        results.append(result)
        report(Progress("video_end", path))

    alert_rows = _number_alerts(results)
    scan_result = ScanResult(
        config=config,
        videos=results,
        alert_rows=alert_rows,
        watchlist_size=watchlist.size,
        watchlist_sha256=file_sha256(config.watchlist),
        watchlist_created=watchlist.created,
        expired_subjects=len(matcher.expired),
        detector=detector.model_name,
        encoder=encoder.model_name,
        scanned_at=scanned_at,
        processing_seconds=round(time.perf_counter() - began, 3),
    )
    write_reports(scan_result)
    return scan_result


def _scan_video(
    path: Path,
    config: ScanConfig,
    result: VideoResult,
    detector: FaceDetector,
    tracker: FaceTracker,
    encoder: FaceEncoder,
    matcher: WatchlistMatcher,
    collector: AlertCollector,
    report: ProgressCallback,
) -> None:
    with VideoReader(path) as reader:
        info = reader.info
        result.fps, result.width, result.height = info.fps, info.width, info.height
        report(Progress("video_start", path, total=info.frame_count))
        reported = 0
        for frame in reader.frames(config.sample_fps):
            boxes = detector(frame.image)
            track_ids = tracker.update(frame.index, frame.time_s, boxes)
            matches = matcher.match(encoder(frame.image, boxes))
            collector.observe(frame, track_ids, boxes, matches)
            result.frames_analysed += 1
            report(Progress("frames", path, advance=reader.frames_decoded - reported))
            reported = reader.frames_decoded
        report(Progress("frames", path, advance=reader.frames_decoded - reported))
        result.frames_decoded = reader.frames_decoded
        result.duration_s = round(reader.duration_s, 3)
    result.faces_seen = len(tracker.tracks)
    result.alerts = collector.alerts(str(path), tracker.tracks)
    if info.frame_count and result.frames_decoded < 0.9 * info.frame_count:
        result.status = "partial"
        result.reason = (
            f"decoding stopped after {result.frames_decoded} of {info.frame_count} frames"
        )
        logger.warning("%s: %s", path, result.reason)
    logger.info(
        "%s: %d frames analysed, %d faces seen, %d alerts",
        path,
        result.frames_analysed,
        result.faces_seen,
        len(result.alerts),
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _number_alerts(results: list[VideoResult]) -> list[AlertRow]:
    rows = []
    for result in results:
        for alert in result.alerts:
            alert_id = f"A{len(rows) + 1:05d}"
            rows.append(AlertRow(alert_id, alert, result.start, f"{SNAPSHOTS_DIR}/{alert_id}.jpg"))
    return rows


def _deployment_row(result: ScanResult) -> dict[str, object]:
    config = result.config
    spans = [
        (v.start, v.start + timedelta(seconds=v.duration_s))
        for v in result.videos
        if v.start is not None
    ]
    start = min(s for s, _ in spans) if spans else None
    end = max(e for _, e in spans) if spans else None
    footage_s = sum(v.duration_s for v in result.videos)
    return {
        "deployment": config.deployment,
        "location": config.location,
        "date": start.date().isoformat() if start else "",
        "start": iso(start),
        "end": iso(end),
        "duration": hms((end - start).total_seconds() if start and end else footage_s),
        "purpose": config.purpose,
        "watchlist_size": result.watchlist_size,
        "threshold": config.threshold,
        "total_alerts": len(result.alert_rows),
        "true_alerts_confirmed": 0,
        "true_alerts_unconfirmed": 0,
        "false_alerts_confirmed": 0,
        "false_alerts_unconfirmed": 0,
        "false_alert_rate": false_alert_rate(0, result.faces_seen),  # nothing reviewed yet
        "arrests": 0,
        "other_disposals": 0,
        "no_action": 0,
        "faces_seen": result.faces_seen,
        "videos": len(result.videos),
        "videos_failed": len(result.failed),
        "frames_decoded": sum(v.frames_decoded for v in result.videos),
        "frames_analysed": sum(v.frames_analysed for v in result.videos),
        "processing_seconds": result.processing_seconds,
        "software": SOFTWARE_NAME,
        "software_version": __version__,
        "detector": result.detector,
        "encoder": result.encoder,
        "footage_seconds": round(footage_s, 3),
        "watchlist": config.watchlist.name,
        "watchlist_sha256": result.watchlist_sha256,
        "watchlist_created": result.watchlist_created,
        "expired_subjects_excluded": result.expired_subjects,
        "sample_fps": config.sample_fps,
        "upsample": config.upsample,
        "scanned_at": iso(result.scanned_at),
    }


def _video_row(video: VideoResult) -> dict[str, object]:
    return {
        "video": str(video.path),
        "status": video.status,
        "reason": video.reason,
        "start": iso(video.start),
        "duration_s": video.duration_s,
        "fps": round(video.fps, 3),
        "width": video.width,
        "height": video.height,
        "frames_decoded": video.frames_decoded,
        "frames_analysed": video.frames_analysed,
        "faces_seen": video.faces_seen,
        "alerts": len(video.alerts),
    }


def write_reports(result: ScanResult) -> None:
    """Write snapshots first and deployment.csv last: a deployment.csv means a complete run."""
    config = result.config
    deployment_dir = config.deployment_dir
    snapshots = deployment_dir / SNAPSHOTS_DIR
    if snapshots.is_dir():
        shutil.rmtree(snapshots)
    for item in result.alert_rows:
        write_snapshot(deployment_dir, item)
    write_csv(deployment_dir / VIDEOS_CSV, VIDEO_COLUMNS, (_video_row(v) for v in result.videos))
    write_csv(
        deployment_dir / ALERTS_CSV,
        ALERT_COLUMNS,
        (alert_row(config.deployment, config.threshold, item) for item in result.alert_rows),
    )
    write_csv(deployment_dir / DEPLOYMENT_CSV, DEPLOYMENT_COLUMNS, [_deployment_row(result)])
