"""Stage 6, matches → alerts: one alert per track and subject, at its best frame.

Only matched faces reach this stage's state; a face that matches nobody leaves
nothing here, so nothing of it can be written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfr_batch.matches import Matches
from lfr_batch.photos import crop_face
from lfr_batch.tracks import Track
from lfr_batch.video import Frame
from lfr_batch.watchlist import Subject

SNAPSHOT_MARGIN = 0.4  # of the face size around the box, so the reviewer sees the head


@dataclass(frozen=True)
class Sighting:
    """A matched face in one frame: the candidate evidence for an alert."""

    frame_index: int
    time_s: float
    distance: float
    box: tuple[int, int, int, int]  # (top, right, bottom, left) in the full frame
    crop: np.ndarray  # RGB pixels around the face


@dataclass(frozen=True)
class Alert:
    video: str
    track_id: int
    subject: Subject
    first_seen_s: float  # the track's first and last sighting, matched or not
    last_seen_s: float
    best: Sighting  # the lowest-distance matched frame


class AlertCollector:
    """Keeps, per (track, subject), the matched sighting with the lowest distance."""

    def __init__(self, subjects: list[Subject]) -> None:
        self.subjects = subjects
        self._best: dict[tuple[int, int], Sighting] = {}

    def reset(self) -> None:
        self._best = {}

    def observe(
        self, frame: Frame, track_ids: np.ndarray, boxes: np.ndarray, matches: Matches
    ) -> None:
        for row in np.flatnonzero(matches.matched):
            key = (int(track_ids[row]), int(matches.subject_index[row]))
            distance = float(matches.distance[row])
            current = self._best.get(key)
            if current is not None and current.distance <= distance:
                continue
            box = boxes[row]
            self._best[key] = Sighting(
                frame_index=frame.index,
                time_s=frame.time_s,
                distance=distance,
                box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
                crop=crop_face(frame.image, box, margin=SNAPSHOT_MARGIN),
            )

    def alerts(self, video: str, tracks: list[Track]) -> list[Alert]:
        """The alerts of the finished video, in order of first sighting."""
        by_id = {track.track_id: track for track in tracks}
        found = [
            Alert(
                video=video,
                track_id=track_id,
                subject=self.subjects[subject_index],
                first_seen_s=by_id[track_id].first_seen_s,
                last_seen_s=by_id[track_id].last_seen_s,
                best=sighting,
            )
            for (track_id, subject_index), sighting in self._best.items()
        ]
        return sorted(found, key=lambda a: (a.first_seen_s, a.track_id, a.subject.subject_id))
