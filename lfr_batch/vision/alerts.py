"""Stage 6, matches → alerts: one decision per track, on all of its views.

A track gathers the encodings of its views (:class:`TrackEvidence`); when it
ends, the mean of those encodings is compared with the watchlist, and the
track alerts on its nearest subject if that lies within the threshold
(:func:`decide`). Averaging the views of one walk pulls a person's encoding
towards their own face and away from chance resemblances of single frames,
so one decision per track is both the published unit (one face seen, at most
one alert) and the more reliable one. The evidence kept for an alert is its
view nearest the subject.

Evidence lives in memory only while its track does; a face that matches
nobody leaves nothing behind but the numbers ``--keep-distances`` asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lfr_batch.vision.encodings import ENCODING_SIZE
from lfr_batch.vision.matches import NEAREST_KEPT, NO_SUBJECT, WatchlistMatcher
from lfr_batch.vision.photos import crop_face, encode_jpeg
from lfr_batch.vision.tracks import Track
from lfr_batch.vision.video import Frame

SNAPSHOT_MARGIN = 0.4  # of the face size around the box, so the reviewer sees the head
SNAPSHOT_QUALITY = 92
# Views kept (crops in memory) to choose an alert's snapshot from: those nearest a subject.
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
    nearest_distance: float
    crop: np.ndarray


@dataclass
class TrackEvidence:
    """What one track's encoded views say, accumulated as they arrive."""

    encoding_sum: np.ndarray = field(default_factory=lambda: np.zeros(ENCODING_SIZE))
    views: int = 0
    low_quality_views: int = 0  # views not encoded: too small or too blurred to match
    best_view_distance: float = np.inf  # the nearest any single view came to any subject
    candidates: list[_View] = field(default_factory=list)

    def add(self, frame: Frame, box: np.ndarray, encoding: np.ndarray, nearest_distance: float) -> None:
        self.encoding_sum = self.encoding_sum + encoding
        self.views += 1
        self.best_view_distance = min(self.best_view_distance, nearest_distance)
        if len(self.candidates) == SNAPSHOT_CANDIDATES:
            worst = max(self.candidates, key=lambda v: v.nearest_distance)
            if nearest_distance >= worst.nearest_distance:
                return
            self.candidates.remove(worst)
        crop = crop_face(frame.image, box, margin=SNAPSHOT_MARGIN)
        self.candidates.append(
            _View(frame.index, frame.time_s, box.copy(), encoding.copy(), nearest_distance, crop)
        )

    def merge(self, later: TrackEvidence) -> TrackEvidence:
        """One track's evidence from its parts on either side of a segment seam."""
        views = sorted(self.candidates + later.candidates, key=lambda v: v.nearest_distance)
        return TrackEvidence(
            encoding_sum=self.encoding_sum + later.encoding_sum,
            views=self.views + later.views,
            low_quality_views=self.low_quality_views + later.low_quality_views,
            best_view_distance=min(self.best_view_distance, later.best_view_distance),
            candidates=views[:SNAPSHOT_CANDIDATES],
        )


@dataclass(frozen=True)
class TrackDecision:
    """A track's verdict: its nearest subjects (by the mean of its views) and, when
    the nearest lies within the threshold, the alert's evidence."""

    views: int
    low_quality: bool  # seen, but never sharp or large enough to match
    subjects: tuple[int, ...]  # NEAREST_KEPT subject indices, nearest first (NO_SUBJECT padding)
    distances: tuple[float, ...]
    best_view_distance: float
    sighting: Sighting | None  # set when the track alerts

    @property
    def alerts(self) -> bool:
        return self.sighting is not None


def decide(evidence: TrackEvidence, matcher: WatchlistMatcher) -> TrackDecision:
    if evidence.views == 0:
        empty = (NO_SUBJECT,) * NEAREST_KEPT
        return TrackDecision(0, evidence.low_quality_views > 0, empty, (np.inf,) * NEAREST_KEPT, np.inf, None)
    matches = matcher.match((evidence.encoding_sum / evidence.views)[None, :])
    subjects = tuple(int(s) for s in matches.subjects[0])
    distances = tuple(float(d) for d in matches.distances[0])
    sighting = None
    if matches.matched[0]:
        views = evidence.candidates
        own = matcher.distances_to(np.stack([v.encoding for v in views]), subjects[0])
        best = int(np.argmin(own))
        view = views[best]
        sighting = Sighting(
            frame_index=view.frame_index,
            time_s=view.time_s,
            distance=float(own[best]),
            box=(int(view.box[0]), int(view.box[1]), int(view.box[2]), int(view.box[3])),
            snapshot_jpeg=encode_jpeg(view.crop, quality=SNAPSHOT_QUALITY),
        )
    return TrackDecision(evidence.views, False, subjects, distances, evidence.best_view_distance, sighting)


@dataclass(frozen=True)
class Alert:
    track: Track  # when the face was first and last seen
    decision: TrackDecision

    @property
    def subject_index(self) -> int:
        return self.decision.subjects[0]

    @property
    def best(self) -> Sighting:
        assert self.decision.sighting is not None
        return self.decision.sighting


def build_alerts(tracks: list[Track], decisions: dict[int, TrackDecision]) -> list[Alert]:
    """The alerts of one video, in order of first sighting."""
    by_id = {track.track_id: track for track in tracks}
    found = [
        Alert(track=by_id[track_id], decision=decision)
        for track_id, decision in decisions.items()
        if decision.alerts
    ]
    return sorted(found, key=lambda a: (a.track.first_seen_s, a.track.track_id))
