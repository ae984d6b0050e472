"""One segment of one video through every stage, frame by frame.

:func:`analyse_segment` is the unit of work that runs inline, in a local worker
process or on a Dask worker: it takes a picklable :class:`SegmentTask` and
returns a picklable :class:`SegmentResult` holding only tracks (times and
boxes) and the evidence of matched faces. :class:`VideoAssembly` stitches the
segments of one video back together at their seams.

One frame's path: :class:`~lfr_batch.vision.video.VideoReader` decodes it →
:class:`~lfr_batch.vision.motion.MotionRegions` says where to look →
:class:`~lfr_batch.vision.faces.FaceDetector` finds faces there, one
:class:`~lfr_batch.vision.detections.Detections` a frame, which every later stage takes →
:class:`~lfr_batch.vision.tracks.FaceTracker` links them to tracks by position →
:class:`~lfr_batch.vision.encodings.EncodingPolicy` picks the views worth encoding,
:func:`~lfr_batch.vision.encodings.whole_in_view` drops faces cut by the frame's edge and
:func:`~lfr_batch.vision.encodings.good_enough_to_match` those too small or blurred →
:class:`~lfr_batch.vision.encodings.FaceEncoder` encodes them, and the tracker checks
those links by appearance →
:class:`~lfr_batch.vision.matches.WatchlistMatcher` ranks the subjects →
:class:`~lfr_batch.vision.alerts.TrackEvidence` gathers each track's views, and when the
track ends :func:`~lfr_batch.vision.alerts.summarise` compares their mean with the
watchlist, and keeps the views of a track that may alert.

A track that may run over a segment's seam is summarised only once both sides are
joined (:class:`VideoAssembly`); every other track is summarised in its segment, and
its views' encodings are dropped there. The alert itself is decided once the run's
cuts are known (:meth:`VideoAssembly.alerts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from lfr_batch.errors import VideoError, one_line
from lfr_batch.vision import DetectorName
from lfr_batch.vision.alerts import Alert, TrackEvidence, TrackMatch, decide, summarise
from lfr_batch.vision.calibration import Calibration, DistanceHistograms, load_reference
from lfr_batch.vision.detections import Detections
from lfr_batch.vision.encodings import (
    EncodingPolicy,
    FaceEncoder,
    face_landmarks,
    good_enough_to_match,
    whole_in_view,
)
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.motion import MotionRegions
from lfr_batch.vision.tracks import (
    DEFAULT_MAX_GAP_S,
    FaceTracker,
    Track,
    continues,
    join_at_seam,
    merged,
)
from lfr_batch.vision.video import Frame, VideoReader
from lfr_batch.watchlist.model import Watchlist

if TYPE_CHECKING:
    import dlib

    Landmarks = list[dlib.full_object_detection]  # one per face, in its order

EVERY_FRAME_FPS = 1e6  # a sampling rate above any video's: analyse every frame
# In a busy frame, new faces are looked for everywhere at least once per this much
# footage (a passer-by stays in view for several seconds); tracked faces every frame.
NEW_FACE_SWEEP_S = 1.0
MIN_DETECTIONS = 2


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything a worker needs besides the video: small and picklable."""

    watchlist: str  # path, readable by every worker
    watchlist_stamp: tuple[int, int]  # size and modification time, to notice a changed file
    fixed_threshold: float | None  # None: each subject's cut is calibrated (--threshold auto)
    max_false_alert_rate: float
    sample_fps: float
    upsample: int
    detector: DetectorName
    exhaustive: bool  # every frame, whole frame, every face encoded
    scanned_at: datetime  # subjects expired by then are not matched
    keep_distances: bool = False  # keep every track's nearest subjects (test footage only)


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
    start_time_s: float = 0.0
    end_time_s: float = 0.0
    tracks: list[Track] = field(default_factory=list)
    matches: dict[int, TrackMatch] = field(default_factory=dict)  # by track id
    open_evidence: dict[int, TrackEvidence] = field(default_factory=dict)  # tracks at a seam
    error: str = ""
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # by stage, see StageClock


class StageClock:
    """Where a segment's time goes, stage by stage (printed with -v): each call to
    :meth:`lap` charges the time since the previous one to the stage named."""

    STAGES = ("decode", "motion", "detect", "track", "quality", "encode", "match")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.STAGES, 0.0)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now


def evidence_ceilings(watchlist: Watchlist, fixed_threshold: float | None, max_rate: float) -> np.ndarray:
    """The loosest cut each subject may get in this run: the fixed threshold, or the
    reference's cut plus the margin the run's own faces may loosen it by. A track whose
    mean lies within one keeps its views until the run's cuts are known."""
    if fixed_threshold is not None:
        return np.full(watchlist.size, fixed_threshold)
    return Calibration.for_list(watchlist.centroids(), max_rate, load_reference()).ceilings


class FrameStages:
    """The stages one segment runs each analysed frame through, and what they carry
    from frame to frame: motion's last frame, the tracks, the views each track has had
    encoded, and each track's evidence."""

    def __init__(self, settings: AnalysisSettings, matcher: WatchlistMatcher) -> None:
        self.exhaustive = settings.exhaustive
        self.matcher = matcher
        self.detector = face_detector(
            settings.detector, settings.upsample, max(round(settings.sample_fps * NEW_FACE_SWEEP_S), 1)
        )
        self.encoder = FaceEncoder()
        self.motion = MotionRegions()
        self.tracker = FaceTracker()
        self.policy = EncodingPolicy(every=settings.exhaustive)
        self.evidence: dict[int, TrackEvidence] = {}
        self.clock = StageClock()

    def analyse(self, frame: Frame) -> None:
        """Find, track, choose, check, encode and match the faces of one frame."""
        faces = self._find(frame)
        chosen = faces[self.policy.select(faces, frame.time_s) & whole_in_view(frame.image, faces)]
        self.clock.lap("track")
        chosen, landmarks = self._good_enough(frame, chosen)
        self.clock.lap("quality")
        if len(chosen):
            self._encode_and_match(frame, chosen, landmarks)

    def _find(self, frame: Frame) -> Detections:
        """The frame's faces, linked to tracks: looked for where something moved and
        where tracked faces should be, or in the whole frame."""
        tracker = self.tracker
        regions = (
            None
            if self.exhaustive
            else self.motion.regions(frame.image, frame.time_s, tracker.expected_boxes(frame.time_s))
        )
        self.clock.lap("motion")
        detector = self.detector
        faces = detector(frame.image) if regions is None else detector.next_frame(frame.image, regions)
        self.clock.lap("detect")
        return tracker.update(frame.index, frame.time_s, faces)

    def _good_enough(self, frame: Frame, chosen: Detections) -> tuple[Detections, Landmarks]:
        """The chosen faces large and sharp enough to encode, with their landmarks; each
        one that is not counts against its track as a low-quality view."""
        if not len(chosen):
            return chosen, []
        chosen = replace(chosen, boxes=self.detector.boxes_to_describe(frame.image, chosen.boxes))
        landmarks = face_landmarks(frame.image, chosen.boxes)
        usable = good_enough_to_match(frame.image, chosen, landmarks)
        for track_id in chosen.track_ids[~usable].tolist():
            self.evidence.setdefault(track_id, TrackEvidence()).low_quality_views += 1
        return chosen[usable], [marks for marks, keep in zip(landmarks, usable, strict=True) if keep]

    def _encode_and_match(self, frame: Frame, chosen: Detections, landmarks: Landmarks) -> None:
        encodings = self.encoder.encode(frame.image, landmarks)
        self.clock.lap("encode")
        chosen = self.tracker.confirm(frame.index, frame.time_s, chosen, encodings)
        matches = self.matcher.match(encodings)
        self.policy.record(chosen, frame.time_s, matches.margins)
        for row, track_id in enumerate(chosen.track_ids.tolist()):
            self.evidence.setdefault(track_id, TrackEvidence()).add(
                frame, chosen.boxes[row], encodings[row], matches.distance[row], matches.margins[row]
            )
        self.clock.lap("match")


def analyse_segment(
    task: SegmentTask, matcher: WatchlistMatcher, on_frames: Callable[[int], None] | None = None
) -> SegmentResult:
    """Run every stage over one segment, matching faces with ``matcher``; ``on_frames(n)``
    reports frames decoded."""
    began = time.perf_counter()
    settings = task.settings
    result = SegmentResult(video=task.video, index=task.index, start_frame=task.start_frame)
    sample_fps = EVERY_FRAME_FPS if settings.exhaustive else settings.sample_fps
    stages = FrameStages(settings, matcher)
    try:
        with VideoReader(Path(task.video)) as reader:
            info = reader.info
            result.fps, result.width, result.height = info.fps, info.width, info.height
            result.frame_count = info.frame_count
            stages.tracker.frame_size = (info.height, info.width)
            reported = 0
            for frame in reader.frames(sample_fps, task.start_frame, task.end_frame):
                stages.clock.lap("decode")
                if result.frames_analysed == 0:
                    result.start_time_s = frame.time_s
                stages.analyse(frame)
                result.frames_analysed += 1
                if on_frames is not None:
                    on_frames(reader.frames_decoded - reported)
                    reported = reader.frames_decoded
                stages.clock.lap("decode")
            result.frames_decoded = reader.frames_decoded
            result.end_time_s = reader.duration_s
    except (VideoError, cv2.error, RuntimeError) as error:
        result.error = one_line(error)
    _summarise_tracks(result, task, stages)
    stages.clock.lap("match")
    result.stage_seconds = stages.clock.seconds
    result.seconds = time.perf_counter() - began
    return result


def _summarise_tracks(result: SegmentResult, task: SegmentTask, stages: FrameStages) -> None:
    """The segment's faces seen, each summarised here, or (where it may go on over a
    seam) left open for the assembly to join with the other side."""
    # A face seen is a track found in two analysed frames at least: one detection is a
    # glimpse too brief to judge, and most often a false detection in a busy scene.
    result.tracks = [
        track
        for track in stages.tracker.tracks
        if track.detections >= MIN_DETECTIONS or at_seam(track, task, result)
    ]
    for track in result.tracks:
        evidence = stages.evidence.get(track.track_id)
        if evidence is None:
            continue
        if at_seam(track, task, result):
            result.open_evidence[track.track_id] = evidence
        else:
            result.matches[track.track_id] = summarise(evidence, stages.matcher)


def at_seam(track: Track, task: SegmentTask, result: SegmentResult) -> bool:
    """Whether the track may continue into the segment before or after this one."""
    after_start = task.index > 0 and track.first_seen_s - result.start_time_s <= DEFAULT_MAX_GAP_S
    before_end = task.end_frame is not None and result.end_time_s - track.last_seen_s <= DEFAULT_MAX_GAP_S
    return after_start or before_end


class VideoAssembly:
    """One video's segments folded together in order as they arrive.

    A track that runs over a seam is one track (one face seen), summarised once on
    the views of both sides. Each face seen adds its distances to every subject to
    the run's ``faces`` (:class:`~lfr_batch.vision.calibration.DistanceHistograms`),
    and its mean is dropped there unless it may alert. Only what a later seam, an
    alert or ``--keep-distances`` still needs is kept (the tracks of the last folded
    segment, the evidence of tracks open at its end, and the tracks that may alert
    or are to be reported), so memory stays flat however long the video. Once the
    run's cuts are known, :meth:`alerts` decides."""

    def __init__(
        self,
        matcher: WatchlistMatcher,
        timeline_bin_s: float,
        faces: DistanceHistograms,
        keep_distances: bool = False,
        keep_evidence: bool = True,
    ) -> None:
        self.matcher = matcher
        self.faces = faces
        self.keep_distances = keep_distances
        self.keep_evidence = keep_evidence  # False: footage whose faces only calibrate
        self.faces_seen = 0
        self.timeline_bin_s = timeline_bin_s
        self.faces_seen_by_bin: list[int] = []  # new faces per timeline_bin_s of video: counts only
        self._next_id = 0
        self._counted: set[int] = set()  # tracks found often enough to be faces seen
        self._summarised: set[int] = set()  # faces seen whose distances are in ``faces``
        self.faces_low_quality = 0
        self.faces_calibrating = 0  # faces seen that were encoded, and so are in ``faces``
        self.matches: dict[int, TrackMatch] = {}  # by id in the video: those that may alert (or all, to keep)
        self.fps, self.width, self.height, self.frame_count = 0.0, 0, 0, 0  # as the first segment saw them
        self.end_time_s = 0.0  # where the last segment ended
        self.frames_decoded = 0
        self.frames_analysed = 0
        self.seconds = 0.0
        self.stage_seconds = dict.fromkeys(StageClock.STAGES, 0.0)
        self.errors: list[tuple[int, str]] = []
        self.folded = 0
        self._tracks: dict[int, Track] = {}  # by id in the video
        self._previous: list[Track] = []
        self._previous_ids: dict[int, int] = {}
        self._pending: dict[int, TrackEvidence] = {}  # tracks that may go on in the next segment
        self._waiting: dict[int, SegmentResult] = {}

    def add(self, segment: SegmentResult) -> None:
        self._waiting[segment.index] = segment
        while self.folded in self._waiting:
            self._fold(self._waiting.pop(self.folded))
            self.folded += 1

    def finish(self) -> None:
        """Summarise the tracks still open when the last segment ended."""
        for global_id, evidence in self._pending.items():
            self._record(global_id, summarise(evidence, self.matcher))
        self._pending = {}

    def alerts(self, cuts: np.ndarray) -> list[Alert]:
        """The video's alerts at the run's ``cuts`` (one per subject, expired subjects'
        cuts at -inf), in order of first sighting. An alerted track counts as a face
        seen however unsure its boxes were: it was matched as a face."""
        found: dict[int, Alert] = {}
        for track_id, match in self.matches.items():
            alert = decide(self._tracks[track_id], match, self.matcher.centroids, cuts)
            if alert is not None:
                found[track_id] = alert
                self._count(track_id, alerted=True)
        kept = self._one_alert_per_passage(found)
        return sorted(kept.values(), key=lambda a: (a.track.first_seen_s, a.track.track_id))

    def _one_alert_per_passage(self, found: dict[int, Alert]) -> dict[int, Alert]:
        """Two alerts on one subject, where the later track starts about where and when
        the earlier one ended (:func:`~lfr_batch.vision.tracks.continues`), are one
        person's passage that the tracker split in two (two people crossing, a seam):
        one alert, the nearer, and one face seen. Two tracks seen side by side are two
        people, and stay two alerts."""
        kept: dict[int, Alert] = {}
        for track_id in sorted(found, key=lambda i: found[i].track.first_seen_s):
            later = found[track_id]
            earlier_id = next(
                (
                    earlier_id
                    for earlier_id, earlier in kept.items()
                    if earlier.subject_index == later.subject_index and continues(earlier.track, later.track)
                ),
                None,
            )
            if earlier_id is None:
                kept[track_id] = later
                continue
            earlier = kept[earlier_id]
            nearer = earlier if earlier.distance <= later.distance else later
            kept[earlier_id] = replace(nearer, track=merged(earlier.track, later.track))
            self.faces_seen -= 1
            self.faces_seen_by_bin[int(later.track.first_seen_s // self.timeline_bin_s)] -= 1
        return kept

    def _count(self, global_id: int, alerted: bool = False) -> None:
        """A face seen once its track, joined over seams, has MIN_DETECTIONS detections,
        one of them surely a face (``Detections.sure``): a
        glimpse kept only because it touched a seam counts if it goes on over it. A
        track that alerted was matched as a face, and counts however unsure its boxes."""
        track = self._tracks[global_id]
        if global_id in self._counted or track.detections < MIN_DETECTIONS or not (track.sure or alerted):
            return
        self._counted.add(global_id)
        self.faces_seen += 1
        time_bin = int(track.first_seen_s // self.timeline_bin_s)
        self.faces_seen_by_bin += [0] * (time_bin + 1 - len(self.faces_seen_by_bin))
        self.faces_seen_by_bin[time_bin] += 1

    def _record(self, global_id: int, match: TrackMatch) -> None:
        """A summarised track: a face seen adds its distances to the run's faces; what
        may alert, or is to be reported, is kept (its mean only where it may alert)."""
        self._count(global_id)
        counted = global_id in self._counted
        may_alert = (
            self.keep_evidence and match.may_alert and self._tracks[global_id].detections >= MIN_DETECTIONS
        )
        if not (counted or may_alert):
            return  # a glimpse at a seam that went no further, or not a face
        if counted and global_id not in self._summarised:
            self._summarised.add(global_id)
            self.faces_low_quality += match.low_quality
            if match.encoding is not None:
                self.faces.add(self.matcher.distances_to_all(match.encoding), self.matcher.cuts)
                self.faces_calibrating += 1
        earlier = self.matches.get(global_id)
        if earlier is not None and earlier.views >= match.views:
            return  # summarised on both sides of a seam: the one with more views stands
        if may_alert:
            self.matches[global_id] = match
        elif self.keep_evidence and self.keep_distances and match.views:
            self.matches[global_id] = replace(match, encoding=None, kept_views=())

    def _fold(self, segment: SegmentResult) -> None:
        if self.folded == 0:
            self.fps, self.width, self.height = segment.fps, segment.width, segment.height
            self.frame_count = segment.frame_count
        self.end_time_s = segment.end_time_s
        self.frames_decoded += segment.frames_decoded
        self.frames_analysed += segment.frames_analysed
        self.seconds += segment.seconds
        for stage, seconds in segment.stage_seconds.items():
            self.stage_seconds[stage] += seconds
        if segment.error:
            self.errors.append((segment.index, segment.error))
        continues = join_at_seam(self._previous, segment.tracks)
        local_to_global: dict[int, int] = {}
        still_open: dict[int, TrackEvidence] = {}
        for track in segment.tracks:
            evidence = segment.open_evidence.get(track.track_id)
            if track.track_id in continues:
                global_id = self._previous_ids[continues[track.track_id]]
                self._tracks[global_id] = merged(self._tracks[global_id], track)
                earlier = self._pending.pop(global_id, None)
                if earlier is not None:
                    evidence = earlier if evidence is None else earlier.merge(evidence)
            else:
                global_id = self._next_id
                self._next_id += 1
                self._tracks[global_id] = replace(track, track_id=global_id)
            self._count(global_id)
            local_to_global[track.track_id] = global_id
            if evidence is not None:
                still_open[global_id] = evidence
            if track.track_id in segment.matches:
                self._record(global_id, segment.matches[track.track_id])
        for global_id, evidence in self._pending.items():  # ended at the seam
            self._record(global_id, summarise(evidence, self.matcher))
        self._pending = still_open
        self._previous, self._previous_ids = segment.tracks, local_to_global
        needed = set(local_to_global.values()) | set(self.matches)
        self._tracks = {track_id: track for track_id, track in self._tracks.items() if track_id in needed}

    def track(self, track_id: int) -> Track:
        return self._tracks[track_id]
