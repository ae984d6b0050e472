"""Stage 3, faces → tracks: link detections of one person across sampled frames.

One person walking past the camera is one face seen, however many frames show
them. The tracker links each new box to the nearest live track whose last box
is close enough in position and size, allowing more movement the longer the
track has gone unseen; a track unseen for ``max_gap_s`` ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_GAP_S = 1.0
# How far a face may move between sightings, in face sizes: a fixed allowance for
# detector jitter plus an allowance per second for walking towards or past the camera.
MOTION_ALLOWANCE = 1.0
MOTION_ALLOWANCE_PER_S = 4.0
MAX_SCALE_CHANGE = 1.6


@dataclass
class Track:
    track_id: int
    first_seen_s: float
    last_seen_s: float
    first_frame: int
    last_frame: int
    last_box: np.ndarray  # (top, right, bottom, left)
    detections: int = 1


def box_centres_and_sizes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N×2, x then y) and sizes (geometric mean of width and height)."""
    top, right, bottom, left = (boxes[:, i].astype(np.float64) for i in range(4))
    centres = np.stack([(left + right) / 2.0, (top + bottom) / 2.0], axis=1)
    sizes = np.sqrt(np.maximum(right - left, 1.0) * np.maximum(bottom - top, 1.0))
    return centres, sizes


class FaceTracker:
    """Assigns a track id to every box; call :meth:`reset` between videos."""

    def __init__(self, max_gap_s: float = DEFAULT_MAX_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self.tracks: list[Track] = []
        self._live: list[Track] = []

    def reset(self) -> None:
        self.tracks = []
        self._live = []

    def update(self, frame_index: int, time_s: float, boxes: np.ndarray) -> np.ndarray:
        """Link ``boxes`` (N×4) seen at ``time_s`` to tracks; return N track ids."""
        self._live = [t for t in self._live if time_s - t.last_seen_s <= self.max_gap_s]
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(boxes) == 0:
            return track_ids

        if self._live:
            costs = self._link_costs(time_s, boxes)
            # Greedy by cost: with a handful of faces per frame this equals the optimum
            # in practice and keeps the tracker free of a solver dependency.
            track_taken = np.zeros(len(self._live), dtype=bool)
            for flat in np.argsort(costs, axis=None):
                track_index, box_index = np.unravel_index(flat, costs.shape)
                if not np.isfinite(costs[track_index, box_index]):
                    break
                if track_taken[track_index] or track_ids[box_index] >= 0:
                    continue
                track_taken[track_index] = True
                track = self._live[track_index]
                track.last_seen_s = time_s
                track.last_frame = frame_index
                track.last_box = boxes[box_index].copy()
                track.detections += 1
                track_ids[box_index] = track.track_id

        for box_index in np.flatnonzero(track_ids < 0):
            track = Track(
                track_id=len(self.tracks),
                first_seen_s=time_s,
                last_seen_s=time_s,
                first_frame=frame_index,
                last_frame=frame_index,
                last_box=boxes[box_index].copy(),
            )
            self.tracks.append(track)
            self._live.append(track)
            track_ids[box_index] = track.track_id
        return track_ids

    def _link_costs(self, time_s: float, boxes: np.ndarray) -> np.ndarray:
        """Track × box matrix of movement in face sizes; ``inf`` where implausible."""
        track_centres, track_sizes = box_centres_and_sizes(
            np.stack([t.last_box for t in self._live])
        )
        box_centres, box_sizes = box_centres_and_sizes(boxes)
        elapsed_s = np.array([time_s - t.last_seen_s for t in self._live])[:, None]
        scale = np.maximum(track_sizes[:, None], box_sizes[None, :])
        movement = (
            np.linalg.norm(track_centres[:, None, :] - box_centres[None, :, :], axis=2) / scale
        )
        size_ratio = np.maximum(track_sizes[:, None], box_sizes[None, :]) / np.minimum(
            track_sizes[:, None], box_sizes[None, :]
        )
        allowed = MOTION_ALLOWANCE + MOTION_ALLOWANCE_PER_S * elapsed_s
        return np.where((movement <= allowed) & (size_ratio <= MAX_SCALE_CHANGE), movement, np.inf)
