"""Stage 3, faces → tracks: link detections of one person across sampled frames.

One person walking past the camera is one face seen, however many frames show
them. The tracker links each new box to the nearest live track whose last box
is close enough to where that face should be by now (its last position moved
on at its pace) and of a similar size, allowing more deviation the longer the
track has gone unseen; a track unseen for ``max_gap_s`` ends. The same rule
joins tracks across the seam between two segments of a long video.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    first_box: np.ndarray  # (top, right, bottom, left)
    last_box: np.ndarray
    detections: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per second, x then y

    def predicted_box(self, time_s: float) -> np.ndarray:
        """Where the face should be at ``time_s`` if it keeps its pace."""
        elapsed_s = time_s - self.last_seen_s
        shift_x, shift_y = self.velocity[0] * elapsed_s, self.velocity[1] * elapsed_s
        top, right, bottom, left = self.last_box.tolist()
        return (
            np.array([top + shift_y, right + shift_x, bottom + shift_y, left + shift_x])
            .round()
            .astype(np.int32)
        )


def box_centres_and_sizes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N×2, x then y) and sizes (geometric mean of width and height)."""
    top, right, bottom, left = (boxes[:, i].astype(np.float64) for i in range(4))
    centres = np.stack([(left + right) / 2.0, (top + bottom) / 2.0], axis=1)
    sizes = np.sqrt(np.maximum(right - left, 1.0) * np.maximum(bottom - top, 1.0))
    return centres, sizes


def link_costs(
    from_boxes: np.ndarray,
    from_times: np.ndarray,
    to_boxes: np.ndarray,
    to_times: np.ndarray,
    max_gap_s: float,
) -> np.ndarray:
    """From × to matrix of movement in face sizes; ``inf`` where one face cannot
    plausibly have become the other (too far, too different in size, too long apart)."""
    from_centres, from_sizes = box_centres_and_sizes(from_boxes)
    to_centres, to_sizes = box_centres_and_sizes(to_boxes)
    elapsed_s = to_times[None, :] - from_times[:, None]
    larger = np.maximum(from_sizes[:, None], to_sizes[None, :])
    smaller = np.minimum(from_sizes[:, None], to_sizes[None, :])
    movement = np.linalg.norm(from_centres[:, None, :] - to_centres[None, :, :], axis=2) / larger
    plausible = (
        (movement <= MOTION_ALLOWANCE + MOTION_ALLOWANCE_PER_S * elapsed_s)
        & (larger / smaller <= MAX_SCALE_CHANGE)
        & (elapsed_s >= 0.0)
        & (elapsed_s <= max_gap_s)
    )
    return np.where(plausible, movement, np.inf)


def greedy_pairs(costs: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column) by increasing cost, each row and column used once.

    With a handful of faces per frame this equals the optimal assignment in
    practice and keeps the tracker free of a solver dependency."""
    pairs: list[tuple[int, int]] = []
    rows_used = np.zeros(costs.shape[0], dtype=bool)
    columns_used = np.zeros(costs.shape[1], dtype=bool)
    for flat in np.argsort(costs, axis=None):
        row, column = (int(i) for i in np.unravel_index(flat, costs.shape))
        if not np.isfinite(costs[row, column]):
            break
        if rows_used[row] or columns_used[column]:
            continue
        rows_used[row] = columns_used[column] = True
        pairs.append((row, column))
    return pairs


class FaceTracker:
    """Assigns a track id to every box; call :meth:`reset` between videos."""

    def __init__(self, max_gap_s: float = DEFAULT_MAX_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self.tracks: list[Track] = []
        self._live: list[Track] = []

    def reset(self) -> None:
        self.tracks = []
        self._live = []

    def expected_boxes(self, time_s: float) -> np.ndarray:
        """For each live track, its last box and its predicted box at ``time_s`` (2N×4):
        where the tracked faces were and where they should be next."""
        live = [t for t in self._live if time_s - t.last_seen_s <= self.max_gap_s]
        if not live:
            return np.zeros((0, 4), dtype=np.int32)
        return np.stack([box for t in live for box in (t.last_box, t.predicted_box(time_s))])

    def update(self, frame_index: int, time_s: float, boxes: np.ndarray) -> np.ndarray:
        """Link ``boxes`` (N×4) seen at ``time_s`` to tracks; return N track ids."""
        self._live = [t for t in self._live if time_s - t.last_seen_s <= self.max_gap_s]
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(boxes) == 0:
            return track_ids
        if self._live:
            # Measured from where each face should be by now, so two people who pass
            # each other keep their own tracks.
            costs = link_costs(
                np.stack([t.predicted_box(time_s) for t in self._live]),
                np.array([t.last_seen_s for t in self._live]),
                boxes,
                np.full(len(boxes), time_s),
                self.max_gap_s,
            )
            for track_index, box_index in greedy_pairs(costs):
                track = self._live[track_index]
                elapsed_s = time_s - track.last_seen_s
                if elapsed_s > 0:
                    (old_x, old_y), (new_x, new_y) = box_centres_and_sizes(
                        np.stack([track.last_box, boxes[box_index]])
                    )[0]
                    track.velocity = ((new_x - old_x) / elapsed_s, (new_y - old_y) / elapsed_s)
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
                first_box=boxes[box_index].copy(),
                last_box=boxes[box_index].copy(),
            )
            self.tracks.append(track)
            self._live.append(track)
            track_ids[box_index] = track.track_id
        return track_ids


def join_at_seam(
    before: list[Track], after: list[Track], max_gap_s: float = DEFAULT_MAX_GAP_S
) -> dict[int, int]:
    """Which track of the next segment (``after``) continues which track of the
    previous one (``before``): ``{after track_id: before track_id}``."""
    if not before or not after:
        return {}
    seam_s = min(t.first_seen_s for t in after)
    costs = link_costs(
        np.stack([t.predicted_box(seam_s) for t in before]),
        np.array([t.last_seen_s for t in before]),
        np.stack([t.first_box for t in after]),
        np.array([t.first_seen_s for t in after]),
        max_gap_s,
    )
    return {after[column].track_id: before[row].track_id for row, column in greedy_pairs(costs)}


def merged(earlier: Track, later: Track) -> Track:
    """One track from a track and its continuation in the next segment."""
    return replace(
        earlier,
        last_seen_s=later.last_seen_s,
        last_frame=later.last_frame,
        last_box=later.last_box,
        detections=earlier.detections + later.detections,
    )
