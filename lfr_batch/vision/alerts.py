"""Stage 6, matches → alerts: one decision per track, on all of its views.

A track gathers the encodings of its views (:class:`TrackEvidence`); when it
ends, the mean of those encodings is compared with the watchlist
(:func:`summarise`). Averaging the views of one walk pulls a person's encoding
towards their own face and away from chance resemblances of single frames,
so one decision per track is both the published unit (one face seen, at most
one alert) and the more reliable one.

The decision itself waits for the run's cuts, which rest on every face the run
saw (:mod:`lfr_batch.vision.calibration`): a track keeps the mean of its views
and, if it lies within the loosest cut any subject may get, its views nearest a
subject, with their crops (:class:`TrackMatch`). Once the cuts are known,
:func:`decide` alerts it on the subject whose cut it lies furthest within, and the
view nearest that subject is the alert's evidence.

Evidence lives in memory only, and only while the run does; a face that matches
nobody leaves nothing behind but the numbers ``--keep-distances`` asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lfr_batch.vision.matches import NEAREST_KEPT, NO_SUBJECT, WatchlistMatcher
from lfr_batch.vision.photos import crop_face, encode_jpeg
from lfr_batch.vision.tracks import Track
from lfr_batch.vision.video import Frame
from lfr_batch.watchlist.model import ENCODING_SIZE

SNAPSHOT_MARGIN = 0.4  # of the face size around the box, so the reviewer sees the head
SNAPSHOT_QUALITY = 92
# Views kept (crops in memory) to choose an alert's snapshot from: those nearest a cut.
SNAPSHOT_CANDIDATES = 4


@dataclass(frozen=True)
class Sighting:
    """A view of a face in one frame: the evidence for an alert."""

    frame_index: int
    time_s: float
    distance: float  # this view's own distance to the alerted subject
    box: tuple[int, int, int, int]  # (top, right, bottom, left) in the full frame
    snapshot_jpeg: bytes  # the face with some head around it


@dataclass
class _View:
    frame_index: int
    time_s: float
    box: np.ndarray
    encoding: np.ndarray
    margin: float  # how far beyond the nearest cut (negative: within it)
    crop: np.ndarray


@dataclass
class TrackEvidence:
    """What one track's encoded views say, accumulated as they arrive."""

    encoding_sum: np.ndarray = field(default_factory=lambda: np.zeros(ENCODING_SIZE))
    views: int = 0
    low_quality_views: int = 0  # views not encoded: too small or too blurred to match
    best_view_distance: float = np.inf  # the nearest any single view came to any subject
    candidates: list[_View] = field(default_factory=list)

    def add(
        self, frame: Frame, box: np.ndarray, encoding: np.ndarray, distance: float, margin: float
    ) -> None:
        """One encoded view: its distance to the nearest subject, and its margin to the
        nearest cut (the views with the smallest margins are kept as evidence)."""
        self.encoding_sum = self.encoding_sum + encoding
        self.views += 1
        self.best_view_distance = min(self.best_view_distance, distance)
        if len(self.candidates) == SNAPSHOT_CANDIDATES:
            worst = max(self.candidates, key=lambda v: v.margin)
            if margin >= worst.margin:
                return
            self.candidates.remove(worst)
        crop = crop_face(frame.image, box, margin=SNAPSHOT_MARGIN)
        self.candidates.append(_View(frame.index, frame.time_s, box.copy(), encoding.copy(), margin, crop))

    def merge(self, later: TrackEvidence) -> TrackEvidence:
        """One track's evidence from its parts on either side of a segment seam."""
        views = sorted(self.candidates + later.candidates, key=lambda v: v.margin)
        return TrackEvidence(
            encoding_sum=self.encoding_sum + later.encoding_sum,
            views=self.views + later.views,
            low_quality_views=self.low_quality_views + later.low_quality_views,
            best_view_distance=min(self.best_view_distance, later.best_view_distance),
            candidates=views[:SNAPSHOT_CANDIDATES],
        )


@dataclass(frozen=True)
class KeptView:
    """A view kept in case its track alerts: where and when, its encoding, its crop."""

    frame_index: int
    time_s: float
    box: tuple[int, int, int, int]
    encoding: np.ndarray
    snapshot_jpeg: bytes


@dataclass(frozen=True)
class TrackMatch:
    """A track against the list, before the run's cuts are known: its nearest subjects
    by the mean of its views, that mean (held until the run has counted it, and to the
    end of the run only where it may alert), and the views it would alert on."""

    views: int
    low_quality: bool  # seen, but never sharp or large enough to match
    subjects: tuple[int, ...]  # NEAREST_KEPT subject indices, nearest first (NO_SUBJECT padding)
    distances: tuple[float, ...]
    best_view_distance: float
    encoding: np.ndarray | None = None  # the mean of its views
    kept_views: tuple[KeptView, ...] = ()  # set where it lies within a subject's ceiling

    @property
    def may_alert(self) -> bool:
        return bool(self.kept_views)


def summarise(evidence: TrackEvidence, matcher: WatchlistMatcher) -> TrackMatch:
    """The track's mean against the list; its views are kept (as JPEG crops) where the
    mean lies within the cut the matcher holds for some subject (the ceilings)."""
    if evidence.views == 0:
        empty = (NO_SUBJECT,) * NEAREST_KEPT
        return TrackMatch(0, evidence.low_quality_views > 0, empty, (np.inf,) * NEAREST_KEPT, np.inf)
    mean = evidence.encoding_sum / evidence.views
    matches = matcher.match(mean[None, :])
    kept: tuple[KeptView, ...] = ()
    if matches.matched[0]:
        kept = tuple(
            KeptView(
                view.frame_index,
                view.time_s,
                (int(view.box[0]), int(view.box[1]), int(view.box[2]), int(view.box[3])),
                view.encoding,
                encode_jpeg(view.crop, quality=SNAPSHOT_QUALITY),
            )
            for view in evidence.candidates
        )
    return TrackMatch(
        evidence.views,
        False,
        tuple(int(s) for s in matches.subjects[0]),
        tuple(float(d) for d in matches.distances[0]),
        evidence.best_view_distance,
        mean,
        kept,
    )


@dataclass(frozen=True)
class Alert:
    """A track that lies within a subject's cut: the subject, the distance from the mean
    of the track's views to it, its cut, and the view that shows it best."""

    track: Track  # when the face was first and last seen
    match: TrackMatch
    subject_index: int
    distance: float
    cut: float
    best: Sighting

    @property
    def runner_up(self) -> tuple[int, float]:
        """The nearest other subject, and its distance (``NO_SUBJECT`` where none)."""
        for subject, distance in zip(self.match.subjects, self.match.distances, strict=True):
            if subject != self.subject_index and subject != NO_SUBJECT:
                return subject, distance
        return NO_SUBJECT, np.inf


def decide(track: Track, match: TrackMatch, centroids: np.ndarray, cuts: np.ndarray) -> Alert | None:
    """Alert on the subject whose cut the track's mean lies furthest within, if any;
    ``centroids`` and ``cuts`` are the subjects in force (rows into the watchlist by
    ``in_force``: the caller passes every subject with the expired ones' cuts at -inf)."""
    if not match.may_alert or match.encoding is None:
        return None
    distances = np.linalg.norm(centroids - match.encoding, axis=1)
    margins = distances - cuts
    subject = int(np.argmin(margins))
    if margins[subject] > 0.0:
        return None
    own = np.linalg.norm(centroids[subject] - np.stack([v.encoding for v in match.kept_views]), axis=1)
    nearest = int(np.argmin(own))
    view = match.kept_views[nearest]
    sighting = Sighting(view.frame_index, view.time_s, float(own[nearest]), view.box, view.snapshot_jpeg)
    return Alert(track, match, subject, float(distances[subject]), float(cuts[subject]), sighting)
