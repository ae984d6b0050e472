"""The scan: plan the work, run it, record each video, and write the reports.

Each input video is split into time segments (so one long file keeps every
worker busy); each segment runs through :func:`~lfr_batch.vision.pipeline.analyse_segment`
inline, in local worker processes or on a Dask cluster; the segments of a video
are joined at their seams. When every video of the run is analysed, the run's
faces calibrate each subject's cut (:mod:`lfr_batch.vision.calibration`), and each
video's alerts are decided and the video committed to the deployment's state
(:mod:`lfr_batch.records.state`) in input order, before the reports
(:mod:`lfr_batch.records.reports`) are written from everything the deployment holds.
Re-running a scan into the same deployment skips files already scanned; a run
killed before its commits is done again in full.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lfr_batch import __version__
from lfr_batch.errors import ConfigError, NothingScannedError, VideoError, WatchlistError, one_line
from lfr_batch.executors import check_scheduler, file_stamp, run_segments, settings_matcher, shared_watchlist
from lfr_batch.files import file_sha256, write_atomic
from lfr_batch.options import check_all, is_auto, on_value
from lfr_batch.records.folder import DeploymentFolder, check_folder_name
from lfr_batch.records.reports import write_reports
from lfr_batch.records.state import TIMELINE_BIN_S, DeploymentState, Finding, ScanSettings, VideoRecord
from lfr_batch.signing import signing_key
from lfr_batch.times import FILENAME_TIMESTAMP, RANGE_TEXT, in_range, iso
from lfr_batch.vision import DetectorName
from lfr_batch.vision.alerts import Alert
from lfr_batch.vision.calibration import Calibration, DistanceHistograms, load_reference
from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.pipeline import (
    AnalysisSettings,
    SegmentTask,
    VideoAssembly,
)
from lfr_batch.vision.video import VideoReader, find_videos
from lfr_batch.watchlist.model import Subject, Watchlist
from lfr_batch.watchlist.store import load_watchlist, warn_about_file

logger = logging.getLogger(__name__)

# The rows of lfr_batch.options a scan takes (a search takes those that read footage).
SCAN_OPTIONS = (
    "threshold",
    "max_false_alert_rate",
    "sample_fps",
    "upsample",
    "detector",
    "workers",
    "segment_seconds",
    "watchlist_max_age_h",
)

# A video is cut by its own length, frame rate and sampling step alone, never by the
# worker count, the batch it comes in or where the work runs: where a segment starts
# shapes what its tracks keep (each piece starts its motion, tracking and encoding
# policy afresh, and its tracks meet at a seam), so a cut that moved with the machine or
# the command line would move the alerts. Up to SPLIT_PIECES pieces keep that many
# workers busy on one file; none shorter than MIN_SPLIT_SECONDS, where a piece's start
# costs more than a worker gains (busy 720p crowd, 2 workers: four 7.5 s pieces 3 %
# slower than two of 15 s, six of 5 s 15 %); none longer than MAX_PIECE_SECONDS, so
# that a long file feeds every worker of a cluster.
SPLIT_PIECES = 8
MIN_SPLIT_SECONDS = 7.5
MAX_PIECE_SECONDS = 30.0
# However long a file's header says it is: a day at 30 s a piece is 2,880, and a
# header declaring a trillion frames must not plan a billion tasks.
MAX_PIECES = 4_000


@dataclass(frozen=True)
class ScanConfig:
    inputs: tuple[Path, ...]
    watchlist: Path
    deployment: str
    out_dir: Path = Path("reports")
    location: str = ""
    purpose: str = ""
    start: datetime | None = None
    threshold: float | None = field(default_factory=on_value("threshold"))  # None: auto
    background: tuple[Path, ...] = ()  # footage of the site whose faces only calibrate
    # The tunable options take their defaults and ranges from lfr_batch.options.
    max_false_alert_rate: float = field(default_factory=on_value("max_false_alert_rate"))
    sample_fps: float = field(default_factory=on_value("sample_fps"))
    upsample: int = field(default_factory=on_value("upsample"))
    detector: DetectorName = field(default_factory=on_value("detector"))
    exhaustive: bool = False
    workers: int = field(default_factory=on_value("workers"))
    scheduler: str | None = None
    segment_seconds: float | None = None  # no longer used: checked, and ignored with a warning
    watchlist_max_age_h: float = field(default_factory=on_value("watchlist_max_age_h"))
    keep_distances: bool = False
    overwrite: bool = False
    wait: bool = False  # for a deployment another command holds, instead of stopping

    def __post_init__(self) -> None:
        if is_auto(self.threshold):  # as the command line and the config file write None
            object.__setattr__(self, "threshold", None)

    def validate(self) -> None:
        check_folder_name(self.deployment, "deployment")
        if self.start is not None and not in_range(self.start):
            raise ConfigError(f"--start {self.start.isoformat()} is not {RANGE_TEXT}")
        check_all(self, SCAN_OPTIONS)
        if not self.inputs:
            raise ConfigError("no input videos or folders given")

    @property
    def deployment_dir(self) -> Path:
        return self.out_dir / self.deployment

    def scan_settings(self, watchlist_sha256: str) -> ScanSettings:
        """The settings every run into one deployment must share for its figures to add up."""
        return ScanSettings(
            watchlist_sha256=watchlist_sha256,
            threshold="auto" if self.threshold is None else self.threshold,
            threshold_mode="auto" if self.threshold is None else "fixed",
            max_false_alert_rate=self.max_false_alert_rate,
            keep_distances=self.keep_distances,
            sample_fps=self.sample_fps,
            upsample=self.upsample,
            detector=self.detector,
            exhaustive=self.exhaustive,
            detector_model=face_detector(self.detector).model_name,
            encoder_model=FaceEncoder.model_name,
        )


@dataclass(frozen=True)
class Progress:
    """What the scan tells its caller: the scan starting (``total`` videos to scan,
    ``frames`` expected), frames decoded (``advance``), or a video finished."""

    event: str  # "scan_start", "frames", "video_end"
    video: Path | None = None
    total: int = 0
    frames: int = 0
    advance: int = 0


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class RunCuts:
    """The cuts a run decided its alerts at, and what they rest on."""

    cuts: np.ndarray  # one per subject of the list, expired ones' too
    mode: str  # "auto": each subject's calibrated; "fixed": --threshold
    source: str  # what measured where strangers lie from the subjects, in words
    faces: int  # faces from footage the calibration rests on, besides the reference
    background_faces: int  # of which from --background footage
    expected_false_alert_rate: float  # per face seen, against the whole list
    expected_missed_share: float | None  # the list's own footage-like probes beyond their cut
    calibration: Calibration  # where strangers lie from each subject, as measured

    def to_payload(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "source": self.source,
            "faces": self.faces,
            "background_faces": self.background_faces,
            "cut_median": round(float(np.median(self.cuts)), 3),
            "cut_min": round(float(self.cuts.min()), 3),
            "cut_max": round(float(self.cuts.max()), 3),
            "expected_false_alert_rate": self.expected_false_alert_rate,
            "expected_missed_share": self.expected_missed_share,
        }


def run_cuts(
    watchlist: Watchlist, config: ScanConfig, faces: DistanceHistograms, background_faces: int
) -> RunCuts:
    """Calibrate on the faces the run saw (and the reference), and cut each subject."""
    if faces.faces:
        # Faces too small or blurred to encode are seen but not measured: "encoded" says why
        # this count can fall short of faces_seen.
        source = f"this run's footage ({faces.faces} {'face' if faces.faces == 1 else 'faces'} encoded"
        source += f", {background_faces} of them background)" if background_faces else ")"
        source += " weighed with the reference"
    else:
        source = "the reference (no face in this run was large and sharp enough to encode)"
    calibration = Calibration.for_list(
        watchlist.centroids(), config.max_false_alert_rate, load_reference(), faces, source
    )
    if config.threshold is None:
        cuts, mode = calibration.cuts(config.max_false_alert_rate), "auto"
    else:
        cuts, mode = np.full(watchlist.size, config.threshold), "fixed"
    return RunCuts(
        cuts,
        mode,
        calibration.source,
        faces.faces,
        background_faces,
        calibration.expected_false_alert_rate(cuts),
        watchlist.missed_share(cuts),
        calibration,
    )


@dataclass
class ScanResult:
    deployment_dir: Path
    records: list[VideoRecord]  # every video of the deployment, this run's and earlier ones
    scanned: list[VideoRecord] = field(default_factory=list)  # this run's
    skipped: list[Path] = field(default_factory=list)  # already scanned (same content)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # every video found, with its SHA-256
    watchlist_sha256: str = ""
    cuts: RunCuts | None = None  # what this run matched at (None: it scanned nothing)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # this run's processing time by stage

    @property
    def failed(self) -> list[VideoRecord]:
        return [r for r in self.scanned if r.status == "failed"]

    @property
    def faces_seen(self) -> int:
        return sum(r.faces_seen for r in self.records)

    @property
    def total_alerts(self) -> int:
        return sum(len(r.alerts) for r in self.records)


def start_from_filename(path: Path) -> datetime | None:
    """The recording start encoded in a file name such as ``cam1_20261126T140000.mp4``."""
    found = FILENAME_TIMESTAMP.search(path.stem)
    if not found:
        return None
    try:
        moment = datetime(*(int(part) for part in found.groups()))
    except ValueError:
        return None
    return moment if in_range(moment) else None


def _warn_about_start(start: datetime | None, videos: list[Path]) -> None:
    """Once per scan: a --start that cannot be what the user meant for every file."""
    if start is None:
        return
    unnamed = [path for path in videos if start_from_filename(path) is None]
    if len(unnamed) > 1:
        logger.warning(
            "--start %s is taken as the first frame of each of %d files whose names carry no time: "
            "they overlap in time, so the deployment's duration counts them once; name files like "
            "cam1_20261126T140000.mp4 to give each its own start",
            start.isoformat(),
            len(unnamed),
        )
    if start.tzinfo is None:
        zone = datetime.now().astimezone().strftime("UTC%z")
        logger.warning(
            "--start %s has no time zone: taken as this machine's local time (%s); add one, "
            "e.g. %s+01:00, to be sure",
            start.isoformat(),
            zone,
            start.isoformat(),
        )


def _video_start(path: Path, default: datetime | None) -> datetime | None:
    from_name = start_from_filename(path)
    if from_name is None:
        return default
    # Compare like with like: a file-name time is in the zone --start was given in.
    return from_name.replace(tzinfo=default.tzinfo) if default is not None else from_name


def content_id(path: Path) -> str:
    """What identifies a video across runs: its content, or its path if unreadable or
    empty (empty files share no content: each is a failed video of its own, not a copy
    of the first)."""
    try:
        if path.stat().st_size == 0:
            return "empty:" + path.as_posix()
        return file_sha256(path)
    except OSError:
        return "unreadable:" + path.as_posix()


@dataclass
class _Planned:
    """A video being scanned in this run, and its segments as they come back."""

    path: Path
    sha256: str
    assembly: VideoAssembly
    frame_count: int = 0
    segments: int = 0
    error: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.error) or self.assembly.folded == self.segments


def segment_starts(frame_count: int, fps: float, step: int) -> list[int]:
    """Where each segment of a video starts, from the video alone: up to SPLIT_PIECES
    equal pieces of at least MIN_SPLIT_SECONDS, more where a piece would be longer than
    MAX_PIECE_SECONDS (never more than MAX_PIECES); every start on the grid of ``step``
    frames that sampling takes, so every cut samples the same frames."""
    if fps <= 0 or frame_count <= 0:
        return [0]
    duration_s = frame_count / fps
    pieces = int(min(max(duration_s / MIN_SPLIT_SECONDS, 1.0), SPLIT_PIECES))
    pieces = max(pieces, math.ceil(min(duration_s / MAX_PIECE_SECONDS, MAX_PIECES)))
    length = -(-frame_count // (pieces * step)) * step
    return list(range(0, frame_count, length))


def _plan(
    path: Path,
    sha256: str,
    settings: AnalysisSettings,
    faces: DistanceHistograms,
    keep_evidence: bool = True,
) -> tuple[_Planned, list[SegmentTask]]:
    assembly = VideoAssembly(
        settings_matcher(settings), TIMELINE_BIN_S, faces, settings.keep_distances, keep_evidence
    )
    planned = _Planned(path, sha256, assembly)
    try:
        with VideoReader(path) as reader:
            fps, frame_count = reader.info.fps, reader.info.frame_count
            planned.frame_count = frame_count
    except VideoError as error:
        planned.error = one_line(error)
        return planned, []
    step = max(round(fps / settings.sample_fps), 1) if fps > 0 and not settings.exhaustive else 1
    boundaries = segment_starts(frame_count, fps, step)
    ends: list[int | None] = [*boundaries[1:], None]
    tasks = [
        SegmentTask(str(path), index, start, end, settings)
        for index, (start, end) in enumerate(zip(boundaries, ends, strict=True))
    ]
    planned.segments = len(tasks)
    return planned, tasks


def _warn_about(
    watchlist: Watchlist, expired: list[Subject], config: ScanConfig, scanned_at: datetime
) -> None:
    """Once per scan: a stale watchlist, and subjects that will not be matched."""
    created = watchlist.created
    if created is None or scanned_at - created > timedelta(hours=config.watchlist_max_age_h):
        logger.warning(
            "watchlist %s was created %s, more than %g hours ago: policy asks for a fresh one",
            config.watchlist,
            iso(watchlist.created) or "at an unknown time",
            config.watchlist_max_age_h,
        )
    if expired:
        logger.warning(
            "%d expired watchlist subject(s) will not be matched: %s",
            len(expired),
            ", ".join(s.subject_id for s in expired),
        )


class Evidence(Protocol):
    """What a run keeps of the tracks that matched, and the reports it writes: a
    deployment's alerts (:class:`AlertEvidence`) or a case's candidates
    (:class:`lfr_batch.search.CandidateEvidence`)."""

    outputs: tuple[Path, ...]  # files and folders that ``--overwrite`` removes besides the state

    def calibrated(self, state: DeploymentState, cuts: RunCuts) -> None:
        """Called once the run's cuts are known, before its first video is committed."""
        ...

    def keep(self, state: DeploymentState, alerts: list[Alert], watchlist: Watchlist) -> list[Finding]:
        """The findings (alerts, or candidates), with their evidence on disk, that the
        folder keeps of one video's matched tracks."""
        ...

    def committed(self, state: DeploymentState) -> None:
        """Called after each video is committed, and before a run starts."""
        ...

    def write_reports(self, state: DeploymentState) -> None: ...


@dataclass(frozen=True)
class LoadedWatchlist:
    watchlist: Watchlist
    path: str  # resolved, for every worker to load
    stamp: tuple[int, int]
    sha256: str


def load_for_scan(path: Path) -> LoadedWatchlist:
    if not path.is_file():
        load_watchlist(path)  # says why: not found, or a folder
    key = signing_key()
    resolved, stamp = str(path.resolve()), file_stamp(path)
    loaded = LoadedWatchlist(shared_watchlist(resolved, stamp, key), resolved, stamp, file_sha256(path))
    warn_about_file(path, key)
    return loaded


def refuse_if_all_expired(watchlist: Watchlist, path: Path) -> None:
    """A list every subject of which has lapsed can alert on nobody; scanned, it would
    publish a deployment against a list of that size, and expected false alerts."""
    now = datetime.now(UTC)
    if all(subject.is_expired(now) for subject in watchlist.subjects):
        last = max(moment for subject in watchlist.subjects if (moment := subject.expires_at()) is not None)
        raise WatchlistError(
            f"every subject of watchlist {path} has expired (the last at {iso(last)}): nobody could "
            "be alerted on; build the list again with current entries"
        )


def find_footage(inputs: tuple[Path, ...], option: str = "") -> list[Path]:
    for item in inputs:
        if item.is_symlink() and not item.exists():
            raise VideoError(f"input {item} is a link that leads nowhere, or round in a loop")
        if item.exists() and not (item.is_dir() or item.is_file()):
            raise VideoError(f"input {item} is not a file or a folder (a pipe, socket or device)")
    videos = find_videos(inputs, option)
    if not videos:
        raise NothingScannedError(f"no video files found in {', '.join(str(p) for p in inputs)}")
    return videos


def find_background(inputs: tuple[Path, ...]) -> list[Path]:
    """The site's ordinary footage (--background), its errors named as its own."""
    if not inputs:
        return []
    try:
        return find_footage(inputs, "--background")
    except (VideoError, NothingScannedError) as error:
        raise type(error)(f"--background: {one_line(error)}") from None


def scan(config: ScanConfig, progress: ProgressCallback | None = None) -> ScanResult:
    """Scan the inputs not yet scanned into the deployment, then write its reports."""
    config.validate()
    began = time.perf_counter()
    loaded = load_for_scan(config.watchlist)
    watchlist = loaded.watchlist
    refuse_if_all_expired(watchlist, config.watchlist)
    videos = find_footage(config.inputs)
    background = find_background(config.background)
    if config.scheduler:
        check_scheduler(config.scheduler)  # before --overwrite clears anything
    paths = DeploymentFolder(config.deployment_dir)
    evidence = AlertEvidence(paths)
    created = not config.deployment_dir.exists()  # before the lock makes the folder
    with paths.lock("scan", wait=config.wait):
        scan_settings = config.scan_settings(loaded.sha256)
        state = open_state(config.deployment_dir, scan_settings, config.overwrite, evidence.outputs)

        scanned_at = datetime.now(UTC).replace(microsecond=0)
        expired = [subject for subject in watchlist.subjects if subject.is_expired(scanned_at)]
        _warn_about(watchlist, expired, config, scanned_at)
        expired_ids = {subject.subject_id for subject in expired}
        state.start(
            scan_settings,
            {"location": config.location, "purpose": config.purpose},
            {
                "file": config.watchlist.name,
                # Where it was read, so evaluate can check a truth's subject ids against it.
                "path": loaded.path,
                "size": watchlist.size,
                "created": iso(watchlist.created),
                "expired_subjects": len(expired),
                "categories": dict(
                    Counter(s.category for s in watchlist.subjects if s.subject_id not in expired_ids)
                ),
            },
        )
        result = ScanResult(deployment_dir=config.deployment_dir, records=[], watchlist_sha256=loaded.sha256)
        run = FootageRun(state, loaded, config, evidence, result, scanned_at, began, progress)
        run.scan(videos, background)
        run.finish(created, "deployment")
        if result.cuts is not None:
            _warn_about_cuts(watchlist, config, result.cuts)
        return result


@dataclass
class FootageRun:
    """One run of footage into one folder (a deployment, or a search's case), under the
    folder's lock: what each of its steps reads, held once. :meth:`scan` analyses the
    videos the folder has not scanned (and any background footage, whose faces only
    calibrate), calibrates on their faces and commits each video, keeping what
    ``evidence`` keeps of its matches; :meth:`finish` records the run and writes the
    reports."""

    state: DeploymentState
    loaded: LoadedWatchlist
    config: ScanConfig
    evidence: Evidence
    result: ScanResult
    scanned_at: datetime  # when the run began, as every record of it says
    began: float  # time.perf_counter() when the command began, for processing_seconds
    progress: ProgressCallback | None = None

    def scan(self, videos: list[Path], background: Sequence[Path] = ()) -> None:
        config, result = self.config, self.result
        report = self.progress or (lambda _event: None)
        settings = AnalysisSettings(
            watchlist=self.loaded.path,
            watchlist_stamp=self.loaded.stamp,
            fixed_threshold=config.threshold,
            max_false_alert_rate=config.max_false_alert_rate,
            sample_fps=config.sample_fps,
            upsample=config.upsample,
            detector=config.detector,
            exhaustive=config.exhaustive,
            scanned_at=self.scanned_at,
            keep_distances=config.keep_distances,
        )
        if config.segment_seconds is not None:
            logger.warning(
                "--segment-seconds is no longer used, and was ignored: each file is cut by its "
                "own length alone, so that how the work is split never changes a face's views or distance"
            )
        faces = DistanceHistograms(self.loaded.watchlist.size)
        planned, tasks = _plan_videos(videos, self.state, settings, config, result, faces)
        calibrating, calibrating_tasks = _plan_background(background, settings, config, faces, planned)
        _warn_about_start(config.start, [video.path for video in planned])
        if not planned:
            return
        frames = sum(video.frame_count for video in planned + calibrating)
        report(Progress("scan_start", total=len(planned), frames=frames))
        _analyse(planned + calibrating, tasks + calibrating_tasks, config, report)
        background_faces = sum(video.assembly.faces_calibrating for video in calibrating)
        result.cuts = run_cuts(self.loaded.watchlist, config, faces, background_faces)
        self.evidence.calibrated(self.state, result.cuts)
        for video in planned:
            result.scanned.append(self._commit(video, result.cuts))
            for stage, seconds in video.assembly.stage_seconds.items():
                result.stage_seconds[stage] = result.stage_seconds.get(stage, 0.0) + seconds
            report(Progress("video_end", video=video.path))

    def finish(self, created: bool, noun: str) -> None:
        """Record the run and write the reports; a ``noun`` (deployment or case) this run
        created, none of whose videos could be read, is removed instead."""
        refuse_if_nothing_scanned(created, self.result, noun)
        result = self.result
        self.state.finish_run(
            {
                "started": iso(self.scanned_at),
                "finished": iso(datetime.now(UTC).replace(microsecond=0)),
                "processing_seconds": round(time.perf_counter() - self.began, 3),
                "videos_scanned": len(result.scanned),
                "videos_skipped": len(result.skipped),
                "software_version": __version__,
                **({"cuts": result.cuts.to_payload()} if result.cuts else {}),
            }
        )
        result.records = self.state.ordered()
        self.evidence.write_reports(self.state)

    def _commit(self, video: _Planned, cuts: RunCuts) -> VideoRecord:
        """Turn a finished video's segments into its record: its alerts at the run's
        cuts, their evidence kept (snapshots written), then the record stored
        (atomically, last)."""
        assembly, state, watchlist = video.assembly, self.state, self.loaded.watchlist
        common = {
            "sha256": video.sha256,
            "video": str(video.path),
            "sequence": state.next_sequence(),
            "start": _video_start(video.path, self.config.start),
            "scanned_at": self.scanned_at,
            "processing_seconds": round(assembly.seconds, 3),
        }
        first_error = video.error or next((error for index, error in assembly.errors if index == 0), "")
        if first_error:
            logger.error("%s: skipped: %s", video.path, first_error)
            record = VideoRecord(**common, status="failed", reason=first_error)
            state.commit(record)
            return record
        in_force = np.array([not subject.is_expired(self.scanned_at) for subject in watchlist.subjects])
        alerts = self.evidence.keep(state, assembly.alerts(np.where(in_force, cuts.cuts, -np.inf)), watchlist)
        broken = _broken(assembly)
        if broken:
            logger.warning("%s: %s", video.path, "; ".join(broken))
        record = VideoRecord(
            **common,
            status="partial" if broken else "ok",
            reason="; ".join(broken),
            duration_s=round(assembly.end_time_s, 3),
            fps=round(assembly.fps, 3),
            width=assembly.width,
            height=assembly.height,
            frames_decoded=assembly.frames_decoded,
            frames_analysed=assembly.frames_analysed,
            faces_seen=assembly.faces_seen,
            faces_low_quality=assembly.faces_low_quality,
            faces_seen_by_bin=assembly.faces_seen_by_bin,
            alerts=alerts,
            distances=_distance_rows(assembly, watchlist) if assembly.keep_distances else [],
        )
        state.commit(record)
        self.evidence.committed(state)
        _log_video(video, record)
        return record


def _broken(assembly: VideoAssembly) -> list[str]:
    """What went wrong in a video read in part: a segment's error, or decoding that stopped early."""
    broken = [f"segment {index + 1}: {error}" for index, error in assembly.errors]
    if not broken and assembly.frame_count and assembly.frames_decoded < 0.9 * assembly.frame_count:
        broken.append(f"decoding stopped after {assembly.frames_decoded} of {assembly.frame_count} frames")
    return broken


def _log_video(video: _Planned, record: VideoRecord) -> None:
    logger.info(
        "%s: %d frames analysed, %d faces seen, %d alerts",
        video.path,
        record.frames_analysed,
        record.faces_seen,
        len(record.alerts),
    )
    logger.info(
        "%s: processing seconds by stage: %s",
        video.path,
        ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in video.assembly.stage_seconds.items()),
    )


def refuse_if_nothing_scanned(created: bool, result: ScanResult, noun: str) -> None:
    """A deployment (or case) created by this run, none of whose videos could be read, is
    removed again: the published grid would count a deployment of nothing."""
    if created and result.scanned and all(record.status == "failed" for record in result.scanned):
        shutil.rmtree(result.deployment_dir, ignore_errors=True)
        count = len(result.scanned)
        which = "the one file given could not" if count == 1 else f"none of the {count} files could"
        raise NothingScannedError(
            f"nothing scanned: {which} be read as video (see above); "
            f"{noun} {result.deployment_dir.name} was not created"
        )


def _warn_about_cuts(watchlist: Watchlist, config: ScanConfig, cuts: RunCuts) -> None:
    """Once per scan: a fixed threshold looser than the false alert rate allows."""
    rate = cuts.expected_false_alert_rate
    if cuts.mode == "fixed" and rate > config.max_false_alert_rate:
        logger.warning(
            "threshold %g is looser than a false alert rate of %s allows against %d subjects: "
            "expect about %s false alerts per 10,000 faces seen",
            config.threshold,
            f"{config.max_false_alert_rate:g}",
            watchlist.size,
            f"{rate * 10_000:.3g}",
        )


def open_state(
    folder: Path, scan_settings: ScanSettings, overwrite: bool, outputs: tuple[Path, ...]
) -> DeploymentState:
    """The folder's state, checked against these settings; for --overwrite, a new one in
    place of whatever it held (readable or not), its ``outputs`` removed."""
    if not overwrite:
        state = DeploymentState(folder)
        if state.exists:
            state.check_same_scan(scan_settings)
        return state
    state = DeploymentState.cleared(folder)
    for path in outputs:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return state


def _plan_videos(
    videos: list[Path],
    state: DeploymentState,
    settings: AnalysisSettings,
    config: ScanConfig,
    result: ScanResult,
    faces: DistanceHistograms,
) -> tuple[list[_Planned], list[SegmentTask]]:
    """The videos to scan now (not scanned before, nor twice in this run) and their segments."""
    planned: list[_Planned] = []
    tasks: list[SegmentTask] = []
    seen: set[str] = set()
    for path in videos:
        sha256 = content_id(path.resolve())
        result.inputs.append((str(path), sha256))
        if state.done(sha256) is not None or sha256 in seen:
            logger.info("%s: already scanned (same content), skipped", path)
            result.skipped.append(path)
            continue
        seen.add(sha256)
        video, video_tasks = _plan(path.resolve(), sha256, settings, faces)
        video.path = path
        planned.append(video)
        tasks.extend(video_tasks)
    return planned, tasks


def _plan_background(
    videos: Sequence[Path],
    settings: AnalysisSettings,
    config: ScanConfig,
    faces: DistanceHistograms,
    scanning: list[_Planned],
) -> tuple[list[_Planned], list[SegmentTask]]:
    """Footage of the site whose faces calibrate the run and nothing else: no alert, no
    record, and scanned again by every run it is given to. A file this run scans
    anyway (by content) calibrates as it is scanned, once."""
    planned: list[_Planned] = []
    tasks: list[SegmentTask] = []
    seen = {video.sha256 for video in scanning}
    for path in videos:
        sha256 = content_id(path.resolve())
        if sha256 in seen:
            logger.info("background %s: scanned in this run already, its faces counted once", path)
            continue
        seen.add(sha256)
        video, video_tasks = _plan(path.resolve(), sha256, settings, faces, keep_evidence=False)
        if video.error:
            logger.warning("background footage %s: skipped: %s", path, video.error)
            continue
        video.path = path
        planned.append(video)
        tasks.extend(video_tasks)
    return planned, tasks


def _analyse(
    planned: list[_Planned], tasks: list[SegmentTask], config: ScanConfig, report: ProgressCallback
) -> None:
    """Run every segment and fold each into its video; each video is finished once its
    last segment is in."""
    by_video = {str(video.path.resolve()): video for video in planned}
    results = run_segments(
        tasks, config.workers, config.scheduler, lambda n: report(Progress("frames", advance=n))
    )
    try:
        for segment in results:
            video = by_video[segment.video]
            video.assembly.add(segment)
            if video.complete and not video.error:
                video.assembly.finish()
    finally:
        results.close()


class AlertEvidence:
    """A deployment keeps each alert: a snapshot of the face at its best frame and the
    subject's watchlist photo beside it, numbered A00001, A00002, … in commit order."""

    def __init__(self, paths: DeploymentFolder) -> None:
        self.paths = paths
        self.outputs = paths.deployment_outputs

    def keep(self, state: DeploymentState, alerts: list[Alert], watchlist: Watchlist) -> list[Finding]:
        records = []
        number = state.next_alert_number()
        for alert in alerts:
            alert_id = f"A{number:05d}"
            number += 1
            snapshot = self.paths.snapshot(alert_id)
            write_atomic(self.paths.file(snapshot), alert.best.snapshot_jpeg)
            subject = watchlist.subjects[alert.subject_index]
            subject_photo = ""
            if subject.photo_jpeg:
                # Only subjects with an alert: the reviewer compares the two faces.
                subject_photo = self.paths.subject_photo(subject.subject_id)
                write_atomic(self.paths.file(subject_photo), subject.photo_jpeg)
            runner_up, runner_up_distance = alert.runner_up
            records.append(
                stored_finding(
                    alert,
                    alert_id,
                    snapshot,
                    subject,
                    subject_photo=subject_photo,
                    runner_up_subject_id=watchlist.subjects[runner_up].subject_id if runner_up >= 0 else "",
                    runner_up_distance=round(runner_up_distance, 4) if runner_up >= 0 else None,
                )
            )
        return records

    def calibrated(self, state: DeploymentState, cuts: RunCuts) -> None:
        """Nothing to do: each alert records its own cut, the run its cuts."""

    def committed(self, state: DeploymentState) -> None:
        """Nothing to tidy: a deployment keeps every alert until it is purged."""

    def write_reports(self, state: DeploymentState) -> None:
        write_reports(state)


def stored_finding(alert: Alert, finding_id: str, snapshot: str, subject: Subject, **extra: Any) -> Finding:
    """The stored record of a matched track (an alert, or a candidate), its snapshot
    already written."""
    top, right, bottom, left = alert.best.box
    return Finding(
        alert_id=finding_id,
        track_id=alert.track.track_id,
        first_seen_s=round(alert.track.first_seen_s, 3),
        last_seen_s=round(alert.track.last_seen_s, 3),
        best_frame=alert.best.frame_index,
        best_time_s=round(alert.best.time_s, 3),
        subject_id=subject.subject_id,
        subject_name=subject.name,
        category=subject.category,
        distance=round(alert.distance, 4),
        cut=round(alert.cut, 4),
        top=top,
        right=right,
        bottom=bottom,
        left=left,
        snapshot=snapshot,
        views=alert.match.views,
        view_distance=round(alert.best.distance, 4),
        **extra,
    )


def _distance_rows(assembly: VideoAssembly, watchlist: Watchlist) -> list[dict[str, Any]]:
    """Every summarised track's nearest subjects and distances: numbers and ids only."""
    rows = []
    for track_id, decision in sorted(assembly.matches.items()):
        track = assembly.track(track_id)
        row: dict[str, Any] = {
            "track_id": track_id,
            "first_seen_s": round(track.first_seen_s, 3),
            "last_seen_s": round(track.last_seen_s, 3),
            "views": decision.views,
            "best_view_distance": round(decision.best_view_distance, 4),
        }
        for rank, (subject, distance) in enumerate(
            zip(decision.subjects, decision.distances, strict=True), 1
        ):
            row[f"subject_{rank}"] = watchlist.subjects[subject].subject_id if subject >= 0 else ""
            row[f"distance_{rank}"] = round(distance, 4) if subject >= 0 else None
        rows.append(row)
    return rows
