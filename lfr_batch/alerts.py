"""Stage 6, matches → alerts: one alert per track and subject, at its best frame.

Only matched faces reach this stage's state; a face that matches nobody leaves
nothing here, so nothing of it can be written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfr_batch.matches import Matches
from lfr_batch.photos import crop_face, encode_jpeg
from lfr_batch.tracks import Track
from lfr_batch.video import Frame

SNAPSHOT_MARGIN = 0.4  # of the face size around the box, so the reviewer sees the head
SNAPSHOT_QUALITY = 92

SightingKey = tuple[int, int]  # (track_id, subject index)


@dataclass(frozen=True)
class Sighting:
    """A matched face in one frame: the evidence for an alert."""

    frame_index: int
    time_s: float
    distance: float
    box: tuple[int, int, int, int]  # (top, right, bottom, left) in the full frame
    snapshot_jpeg: bytes  # the face with some head around it


@dataclass(frozen=True)
class Alert:
    track: Track  # when the face was first and last seen, matched or not
    subject_index: int
    best: Sighting  # the lowest-distance matched frame


class AlertCollector:
    """Keeps, per (track, subject), the matched sighting with the lowest distance."""

    def __init__(self) -> None:
        self._best: dict[SightingKey, tuple[float, int, float, np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        self._best = {}

    def observe(self, frame: Frame, track_ids: np.ndarray, boxes: np.ndarray, matches: Matches) -> None:
        for row in np.flatnonzero(matches.matched):
            key = (int(track_ids[row]), int(matches.subject_index[row]))
            distance = float(matches.distance[row])
            current = self._best.get(key)
            if current is not None and current[0] <= distance:
                continue
            crop = crop_face(frame.image, boxes[row], margin=SNAPSHOT_MARGIN)
            self._best[key] = (distance, frame.index, frame.time_s, boxes[row].copy(), crop)

    def sightings(self) -> dict[SightingKey, Sighting]:
        """The best sighting per (track, subject), with its snapshot encoded."""
        return {
            key: Sighting(
                frame_index=frame_index,
                time_s=time_s,
                distance=distance,
                box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
                snapshot_jpeg=encode_jpeg(crop, quality=SNAPSHOT_QUALITY),
            )
            for key, (distance, frame_index, time_s, box, crop) in self._best.items()
        }


def build_alerts(tracks: list[Track], sightings: dict[SightingKey, Sighting]) -> list[Alert]:
    """The alerts of one video, in order of first sighting."""
    by_id = {track.track_id: track for track in tracks}
    found = [
        Alert(track=by_id[track_id], subject_index=subject_index, best=sighting)
        for (track_id, subject_index), sighting in sightings.items()
    ]
    return sorted(found, key=lambda a: (a.track.first_seen_s, a.track.track_id, a.subject_index))
