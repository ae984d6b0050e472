"""One segment of one video through every stage, frame by frame.

:func:`analyse_segment` is the unit of work that runs inline, in a local worker
process or on a Dask worker: it takes a picklable :class:`SegmentTask` and
returns a picklable :class:`SegmentResult` holding only tracks (times and
boxes) and the evidence of matched faces. :class:`VideoAssembly` stitches the
segments of one video back together at their seams.

One frame's path: :class:`~lfr_batch.video.VideoReader` decodes it →
:class:`~lfr_batch.motion.MotionRegions` says where to look →
:class:`~lfr_batch.faces.FaceDetector` finds faces there →
:class:`~lfr_batch.tracks.FaceTracker` links them to tracks →
:class:`~lfr_batch.encodings.EncodingPolicy` picks the views worth encoding →
:class:`~lfr_batch.encodings.FaceEncoder` encodes them →
:class:`~lfr_batch.matches.WatchlistMatcher` finds the nearest subject →
:class:`~lfr_batch.alerts.AlertCollector` keeps the best matched sighting.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import cv2

from lfr_batch.alerts import AlertCollector, Sighting, SightingKey
from lfr_batch.encodings import EncodingPolicy, FaceEncoder
from lfr_batch.errors import VideoError, WatchlistError
from lfr_batch.faces import DetectorName, FaceDetector
from lfr_batch.matches import WatchlistMatcher
from lfr_batch.motion import MotionRegions
from lfr_batch.tracks import FaceTracker, Track, join_at_seam, merged
from lfr_batch.video import VideoReader
from lfr_batch.watchlist import Watchlist, load_watchlist

EVERY_FRAME_FPS = 1e6  # a sampling rate above any video's: analyse every frame


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything a worker needs besides the video: small and picklable."""

    watchlist: str  # path, readable by every worker
    watchlist_stamp: tuple[int, int]  # size and modification time, to notice a changed file
    threshold: float
    sample_fps: float
    upsample: int
    detector: DetectorName
    exhaustive: bool  # every frame, whole frame, every face encoded
    at: datetime  # subjects expired by then are not matched


@dataclass(frozen=True)
class SegmentTask:
    video: str
    index: int
    start_frame: int
    end_frame: int | None  # None: to the end of the video
    settings: AnalysisSettings


@dataclass
class SegmentResult:
    video: str
    index: int
    start_frame: int
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frame_count: int = 0
    frames_decoded: int = 0
    frames_analysed: int = 0
    end_time_s: float = 0.0
    tracks: list[Track] = field(default_factory=list)
    sightings: dict[SightingKey, Sighting] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0


def file_stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=2)
def shared_watchlist(path: str, stamp: tuple[int, int]) -> Watchlist:
    """A watchlist loaded once per process (the scan and its inline work share it)."""
    if file_stamp(Path(path)) != stamp:
        raise WatchlistError(f"watchlist {path} changed while the scan was running")
    return load_watchlist(Path(path))


@functools.lru_cache(maxsize=2)
def shared_matcher(path: str, stamp: tuple[int, int], threshold: float, at: datetime) -> WatchlistMatcher:
    """One matcher per process and watchlist, reused by every task."""
    return WatchlistMatcher(shared_watchlist(path, stamp), threshold, at)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def analyse_segment(task: SegmentTask, on_frames: Callable[[int], None] | None = None) -> SegmentResult:
    """Run every stage over one segment; ``on_frames(n)`` reports frames decoded."""
    began = time.perf_counter()
    settings = task.settings
    result = SegmentResult(video=task.video, index=task.index, start_frame=task.start_frame)
    matcher = shared_matcher(settings.watchlist, settings.watchlist_stamp, settings.threshold, settings.at)
    detector = FaceDetector(settings.detector, settings.upsample)
    encoder = FaceEncoder()
    motion = MotionRegions()
    tracker = FaceTracker()
    policy = EncodingPolicy(every=settings.exhaustive)
    collector = AlertCollector()
    sample_fps = EVERY_FRAME_FPS if settings.exhaustive else settings.sample_fps
    try:
        with VideoReader(Path(task.video)) as reader:
            info = reader.info
            result.fps, result.width, result.height = info.fps, info.width, info.height
            result.frame_count = info.frame_count
            reported = 0
            for frame in reader.frames(sample_fps, task.start_frame, task.end_frame):
                regions = (
                    None
                    if settings.exhaustive
                    else motion.regions(frame.image, frame.time_s, tracker.expected_boxes(frame.time_s))
                )
                faces = detector(frame.image, regions)
                track_ids = tracker.update(frame.index, frame.time_s, faces.boxes)
                chosen = policy.select(track_ids, faces.sizes, faces.scores, frame.time_s)
                if chosen.any():
                    boxes = faces.boxes[chosen]
                    matches = matcher.match(encoder(frame.image, boxes))
                    policy.record_matches(track_ids[chosen], matches.matched)
                    collector.observe(frame, track_ids[chosen], boxes, matches)
                result.frames_analysed += 1
                if on_frames is not None:
                    on_frames(reader.frames_decoded - reported)
                    reported = reader.frames_decoded
            result.frames_decoded = reader.frames_decoded
            result.end_time_s = reader.duration_s
    except (VideoError, cv2.error, RuntimeError) as error:
        result.error = one_line(error)
    result.tracks = tracker.tracks
    result.sightings = collector.sightings()
    result.seconds = time.perf_counter() - began
    return result


class VideoAssembly:
    """One video's segments folded together in order as they arrive.

    A track that runs over a seam is one track (one face seen), and its alert
    keeps the better of the two segments' sightings. Only what a later seam or
    an alert can still need is kept (the tracks of the last folded segment and
    the tracks with sightings), so memory stays flat however long the video."""

    def __init__(self) -> None:
        self.faces_seen = 0
        self.sightings: dict[SightingKey, Sighting] = {}
        self.fps, self.width, self.height, self.frame_count = 0.0, 0, 0, 0  # as the first segment saw them
        self.end_time_s = 0.0  # where the last segment ended
        self.frames_decoded = 0
        self.frames_analysed = 0
        self.seconds = 0.0
        self.errors: list[tuple[int, str]] = []
        self.folded = 0
        self._tracks: dict[int, Track] = {}  # by id in the video
        self._previous: list[Track] = []
        self._previous_ids: dict[int, int] = {}
        self._waiting: dict[int, SegmentResult] = {}

    def add(self, segment: SegmentResult) -> None:
        self._waiting[segment.index] = segment
        while self.folded in self._waiting:
            self._fold(self._waiting.pop(self.folded))
            self.folded += 1

    def _fold(self, segment: SegmentResult) -> None:
        if self.folded == 0:
            self.fps, self.width, self.height = segment.fps, segment.width, segment.height
            self.frame_count = segment.frame_count
        self.end_time_s = segment.end_time_s
        self.frames_decoded += segment.frames_decoded
        self.frames_analysed += segment.frames_analysed
        self.seconds += segment.seconds
        if segment.error:
            self.errors.append((segment.index, segment.error))
        continues = join_at_seam(self._previous, segment.tracks)
        local_to_global: dict[int, int] = {}
        for track in segment.tracks:
            if track.track_id in continues:
                global_id = self._previous_ids[continues[track.track_id]]
                self._tracks[global_id] = merged(self._tracks[global_id], track)
            else:
                global_id = self.faces_seen
                self.faces_seen += 1
                self._tracks[global_id] = replace(track, track_id=global_id)
            local_to_global[track.track_id] = global_id
        for (local_id, subject_index), sighting in segment.sightings.items():
            key = (local_to_global[local_id], subject_index)
            if key not in self.sightings or sighting.distance < self.sightings[key].distance:
                self.sightings[key] = sighting
        self._previous, self._previous_ids = segment.tracks, local_to_global
        needed = set(local_to_global.values()) | {track_id for track_id, _subject in self.sightings}
        self._tracks = {track_id: track for track_id, track in self._tracks.items() if track_id in needed}

    def alert_tracks(self) -> list[Track]:
        """The tracks that matched someone, with their first and last sightings."""
        matched = {track_id for track_id, _subject in self.sightings}
        return [self._tracks[track_id] for track_id in sorted(matched)]
