"""Stage 3, faces → tracks: link detections of one person across sampled frames.

One person walking past the camera is one face seen, however many frames show
them. The tracker links each new box to the nearest live track whose last box
is close enough to where that face should be by now (its last position moved
on at its pace) and of a similar size, allowing more deviation the longer the
track has gone unseen; a track unseen for ``max_gap_s`` ends. The same rule
joins tracks across the seam between two segments of a long video.

Position alone confuses people in a crowd: two who cross can swap tracks, and
one who is hidden for a moment comes back as a new face. Each encoded view
therefore also checks the link by appearance (:meth:`FaceTracker.confirm`): a
face unlike its track's earlier views is taken from that track and given to the
live track it does look like, or starts its own, when another face came close
since the last check, or the track jumped from where its pace put it (one person
leaving the view where another enters it); a face alone that looks unlike its
earlier views has turned its head. A new track whose first view looks like a
track lost a moment ago nearby continues that track.

A face seen once has no pace yet. It is looked for to either side as far as a
walker may have gone (a small face walking past at a normal pace moves several
face widths between two samples), and its second link, if it moved, is checked by
appearance: at the start of a segment every face is new, and two of them walking
apart may each be nearer the other's first box.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lfr_batch.vision.detections import Detections

DEFAULT_MAX_GAP_S = 1.0
# How far a face may move between sightings, in face sizes: a fixed allowance for
# detector jitter plus an allowance per second for walking towards or past the camera.
MOTION_ALLOWANCE = 1.0
MOTION_ALLOWANCE_PER_S = 4.0
# How far to either side a face seen once is looked for, in face widths: a person
# walking past at 1.4 m/s moves about 9 widths of their face a second, at any
# distance from the camera; benchmarks/crowd.py's 1080p walkers up to 14. Beyond
# this reach it is found again by the sweep for new faces.
PACELESS_REACH_PER_S = 12.0
PACELESS_MAX_REACH = 3.0
MAX_SCALE_CHANGE = 1.6
# Encoding distances for appearance (dlib's encoder): one person's views of one walk
# lie within about 0.45 of their mean, different people beyond 0.6 (see benchmarks/).
SAME_APPEARANCE = 0.45
OTHER_APPEARANCE = 0.6
# A track lost this long ago may be continued by a face that looks like it, found
# where the track's pace allows (with this many times the usual allowance).
REFIND_S = 3.0
REFIND_ALLOWANCE = 2.0
# Where a track is split (two people crossing, a seam), its two parts may overlap by
# a sample or two; two tracks seen together longer than this are two faces.
SPLIT_OVERLAP_S = 0.5
# A link this far (face sizes) from where the track's pace put the face needs its
# appearance checked: in a busy crowd scene (benchmarks/crowd.py, seed 31) the
# median link of a track with a pace lies 0.05 from it, 95 % within 0.16, and 7 of
# 461 beyond 0.5, as where one person leaves the view and another enters it. A
# face seen once, with no pace yet, is checked when it moved this far from there.
DOUBTFUL_MOVEMENT = 0.5


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
    appearance_sum: np.ndarray | None = None  # sum of the encodings of its views
    appearance_views: int = 0
    crowded: bool = False  # close to another face since its appearance was last checked
    jumped: bool = False  # linked far from where it should have been since then
    sure: bool = False  # one of its detections at least was surely a face (Detections.sure)
    split_from: int | None = None  # the track it was split off, its first view looking unlike it

    def appearance_distance(self, encoding: np.ndarray) -> float:
        """Distance from ``encoding`` to the mean of this track's encoded views (inf: none yet)."""
        mean = self.mean_appearance
        return np.inf if mean is None else float(np.linalg.norm(mean - encoding))

    @property
    def mean_appearance(self) -> np.ndarray | None:
        return None if self.appearance_sum is None else self.appearance_sum / self.appearance_views

    def add_appearance(self, encoding: np.ndarray) -> None:
        self.appearance_sum = (
            encoding.copy() if self.appearance_sum is None else self.appearance_sum + encoding
        )
        self.appearance_views += 1

    def search_span(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Two boxes between which the face should be at ``time_s``: where it was and
        where its pace puts it; for a face seen once, its box moved to either side as
        far as a walker may have gone."""
        if self.detections >= 2:
            return self.last_box, self.predicted_box(time_s)
        elapsed_s = time_s - self.last_seen_s
        width = max(int(self.last_box[1] - self.last_box[3]), 1)
        reach = round(width * min(PACELESS_REACH_PER_S * elapsed_s, PACELESS_MAX_REACH))
        return shifted_box(self.last_box, -reach, 0), shifted_box(self.last_box, reach, 0)

    def predicted_box(self, time_s: float) -> np.ndarray:
        """Where the face should be at ``time_s`` if it keeps its pace."""
        elapsed_s = time_s - self.last_seen_s
        return shifted_box(self.last_box, self.velocity[0] * elapsed_s, self.velocity[1] * elapsed_s)


def shifted_box(box: np.ndarray, shift_x: float, shift_y: float) -> np.ndarray:
    """``box`` (top, right, bottom, left) moved by (``shift_x``, ``shift_y``), to whole pixels."""
    top, right, bottom, left = box.tolist()
    return (
        np.array([top + shift_y, right + shift_x, bottom + shift_y, left + shift_x]).round().astype(np.int32)
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


CROWDED_DISTANCE = 1.5  # face sizes between two faces' centres


def crowded_faces(boxes: np.ndarray) -> np.ndarray:
    """Which faces have another within CROWDED_DISTANCE of them: where position alone
    may link a face to the wrong track (two people crossing)."""
    if len(boxes) < 2:
        return np.zeros(len(boxes), dtype=bool)
    centres, sizes = box_centres_and_sizes(boxes)
    apart = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    near = apart < CROWDED_DISTANCE * np.maximum(sizes[:, None], sizes[None, :])
    np.fill_diagonal(near, False)
    return near.any(axis=1)


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


@dataclass(frozen=True)
class _Position:
    """A track's position before this frame's update, to undo a wrong link."""

    last_seen_s: float
    last_frame: int
    last_box: np.ndarray
    velocity: tuple[float, float]
    detections: int
    jumped: bool
    sure: bool


def _position(track: Track) -> _Position:
    return _Position(
        track.last_seen_s,
        track.last_frame,
        track.last_box,
        track.velocity,
        track.detections,
        track.jumped,
        track.sure,
    )


class FaceTracker:
    """Assigns a track id to every box of one video or segment."""

    def __init__(
        self, max_gap_s: float = DEFAULT_MAX_GAP_S, frame_size: tuple[int, int] | None = None
    ) -> None:
        """``frame_size`` (height, width): a track whose pace has taken its face out of
        the view is not continued by position (one person leaves where another enters)."""
        self.max_gap_s = max_gap_s
        self.frame_size = frame_size
        self.tracks: list[Track] = []
        self._live: list[Track] = []
        self._by_id: dict[int, Track] = {}
        self._next_id = 0
        self._before: dict[int, _Position] = {}  # positions before this frame's links

    def expected_boxes(self, time_s: float) -> np.ndarray:
        """For each live track, the two boxes of :meth:`Track.search_span` at ``time_s``
        (2N×4): between them, where each tracked face should be now."""
        live = [t for t in self._in_view(time_s) if time_s - t.last_seen_s <= self.max_gap_s]
        if not live:
            return np.zeros((0, 4), dtype=np.int32)
        return np.stack([box for t in live for box in t.search_span(time_s)])

    def update(self, frame_index: int, time_s: float, faces: Detections) -> Detections:
        """Link the faces seen at ``time_s`` to tracks by position; return them with
        their ``track_ids``, ``crowded`` (marked so, or with another face close by:
        :func:`crowded_faces`) and ``unsure`` (the link jumped: encode the face for
        :meth:`confirm`)."""
        self._live = [t for t in self._live if time_s - t.last_seen_s <= self.max_gap_s]
        self._before = {}
        boxes = faces.boxes
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if len(boxes) == 0:
            return faces
        linkable = self._in_view(time_s)
        if linkable:
            # Measured from where each face should be by now, so two people who pass
            # each other keep their own tracks.
            costs = link_costs(
                np.stack([t.predicted_box(time_s) for t in linkable]),
                np.array([t.last_seen_s for t in linkable]),
                boxes,
                np.full(len(boxes), time_s),
                self.max_gap_s,
            )
            for track_index, box_index in greedy_pairs(costs):
                track = linkable[track_index]
                self._before[track.track_id] = _position(track)
                _move(track, frame_index, time_s, boxes[box_index], bool(faces.sure[box_index]))
                track.jumped |= costs[track_index, box_index] > DOUBTFUL_MOVEMENT
                track_ids[box_index] = track.track_id
        for box_index in np.flatnonzero(track_ids < 0):
            track_ids[box_index] = self._new_track(
                frame_index, time_s, boxes[box_index], bool(faces.sure[box_index])
            ).track_id
        crowded = faces.crowded | crowded_faces(boxes)
        for track_id in track_ids[crowded].tolist():
            self._by_id[track_id].crowded = True
        unsure = np.array([self._by_id[track_id].jumped for track_id in track_ids.tolist()], dtype=bool)
        return replace(faces, track_ids=track_ids, crowded=crowded, unsure=unsure)

    def _in_view(self, time_s: float) -> list[Track]:
        """The live tracks whose face, at its pace, is still in the view at ``time_s``."""
        if self.frame_size is None:
            return self._live
        height, width = self.frame_size
        in_view = []
        for track in self._live:
            top, right, bottom, left = track.predicted_box(time_s).tolist()
            if 0 <= (left + right) / 2 < width and 0 <= (top + bottom) / 2 < height:
                in_view.append(track)
        return in_view

    def confirm(
        self, frame_index: int, time_s: float, faces: Detections, encodings: np.ndarray
    ) -> Detections:
        """Check this frame's links of the encoded ``faces`` (as :meth:`update` gave
        them) by appearance; return them with their track ids corrected where a face
        belongs to another track."""
        track_ids, boxes, sure = faces.track_ids, faces.boxes, faces.sure
        tracks = [self._by_id[track_id] for track_id in track_ids.tolist()]
        # Only where another face came close, or the face jumped, can position have
        # linked the wrong one; a face alone that looks unlike its earlier views has
        # turned its head.
        wrong = {
            row
            for row, track in enumerate(tracks)
            if (track.crowded or track.jumped)
            and track.appearance_views
            and track.appearance_distance(encodings[row]) > OTHER_APPEARANCE
        }
        for row in wrong:  # all first: two people who swapped tracks free each other's
            self._undo(tracks[row])
        taken = {track.track_id for row, track in enumerate(tracks) if row not in wrong}
        corrected = track_ids.copy()
        for row, (track, encoding) in enumerate(zip(tracks, encodings, strict=True)):
            box, surely_a_face = boxes[row], bool(sure[row])
            linked = track
            if row in wrong:
                other = self._live_track_like(encoding, box, time_s, taken)
                if other is None:
                    track = self._new_track(frame_index, time_s, box, surely_a_face)
                    track.split_from = linked.track_id
                else:
                    self._continue(other, frame_index, time_s, box, surely_a_face)
                    track = other
            elif track.first_seen_s == time_s and track.appearance_views == 0:
                earlier = self._lost_track_like(encoding, box, time_s, taken)
                if earlier is not None:
                    self._drop(track)
                    self._continue(earlier, frame_index, time_s, box, surely_a_face)
                    track = earlier
            else:
                parent = self._parent_like(track, encoding, box, time_s, taken)
                if parent is not None:
                    self._fold(track, parent)
                    track = parent
            if row in wrong and linked.split_from == track.track_id and linked.appearance_views == 1:
                self._fold(linked, track)
            taken.add(track.track_id)
            track.add_appearance(encoding)
            track.crowded = track.jumped = False
            corrected[row] = track.track_id
        return replace(faces, track_ids=corrected)

    def _new_track(self, frame_index: int, time_s: float, box: np.ndarray, sure: bool) -> Track:
        track = Track(
            track_id=self._next_id,
            first_seen_s=time_s,
            last_seen_s=time_s,
            first_frame=frame_index,
            last_frame=frame_index,
            first_box=box.copy(),
            last_box=box.copy(),
            sure=sure,
        )
        self._next_id += 1
        self.tracks.append(track)
        self._live.append(track)
        self._by_id[track.track_id] = track
        return track

    def _drop(self, track: Track) -> None:
        """A track that turned out to continue another, or to be part of one."""
        self.tracks.remove(track)
        if track in self._live:
            self._live.remove(track)
        del self._by_id[track.track_id]

    def _parent_like(
        self, track: Track, encoding: np.ndarray, box: np.ndarray, time_s: float, taken: set[int]
    ) -> Track | None:
        """The track that ``track`` split off, if this face of ``track`` looks like it and
        ``track`` has no view but the one that split it: that view was a bad one (a head
        bowed, a blur) of the same person, not someone else."""
        parent = None if track.split_from is None else self._by_id.get(track.split_from)
        if (
            parent is None
            or track.appearance_views != 1
            or parent.track_id in taken
            or parent.last_seen_s >= track.first_seen_s
        ):
            return None
        return self._nearest_like([parent], encoding, box, time_s, REFIND_ALLOWANCE)

    def _fold(self, split: Track, parent: Track) -> None:
        """``split`` was part of ``parent`` all along: its detections join ``parent``'s and
        its one bad view is left out of ``parent``'s appearance."""
        if split.last_seen_s > parent.last_seen_s:
            parent.last_seen_s, parent.last_frame = split.last_seen_s, split.last_frame
            parent.last_box, parent.velocity = split.last_box.copy(), split.velocity
        parent.detections += split.detections
        parent.sure |= split.sure
        if parent not in self._live:
            self._live.append(parent)
        self._drop(split)

    def _undo(self, track: Track) -> None:
        """Take this frame's face away from ``track`` (it was someone else)."""
        before = self._before.pop(track.track_id, None)
        if before is None:
            return
        track.last_seen_s, track.last_frame, track.last_box = (
            before.last_seen_s,
            before.last_frame,
            before.last_box,
        )
        track.velocity, track.detections = before.velocity, before.detections
        track.jumped, track.sure = before.jumped, before.sure

    def _continue(self, track: Track, frame_index: int, time_s: float, box: np.ndarray, sure: bool) -> None:
        self._before[track.track_id] = _position(track)
        _move(track, frame_index, time_s, box, sure)
        if track not in self._live:
            self._live.append(track)

    def _live_track_like(
        self, encoding: np.ndarray, box: np.ndarray, time_s: float, taken: set[int]
    ) -> Track | None:
        """The live track not linked this frame that this face looks like, if near enough."""
        return self._nearest_like(
            [t for t in self._live if t.track_id not in taken and t.last_seen_s < time_s],
            encoding,
            box,
            time_s,
            REFIND_ALLOWANCE,
        )

    def _lost_track_like(
        self, encoding: np.ndarray, box: np.ndarray, time_s: float, taken: set[int]
    ) -> Track | None:
        """A track lost within REFIND_S (or not linked this frame) that this face continues."""
        recent = [
            t
            for t in self.tracks
            if t.track_id not in taken and t.last_seen_s < time_s and time_s - t.last_seen_s <= REFIND_S
        ]
        return self._nearest_like(recent, encoding, box, time_s, REFIND_ALLOWANCE)

    @staticmethod
    def _nearest_like(
        tracks: list[Track], encoding: np.ndarray, box: np.ndarray, time_s: float, allowance: float
    ) -> Track | None:
        best, best_distance = None, SAME_APPEARANCE
        for track in tracks:
            distance = track.appearance_distance(encoding)
            if distance <= best_distance and within_reach(track, box, time_s, allowance):
                best, best_distance = track, distance
        return best


def within_reach(track: Track, box: np.ndarray, time_s: float, allowance: float) -> bool:
    """Whether the track's face could be at ``box`` at ``time_s``, at its pace, with
    ``allowance`` times the usual allowance for straying from it."""
    (from_centre, to_centre), sizes = box_centres_and_sizes(np.stack([track.predicted_box(time_s), box]))
    movement = float(np.linalg.norm(from_centre - to_centre)) / float(sizes.max())
    elapsed_s = max(time_s - track.last_seen_s, 0.0)
    return movement <= allowance * (MOTION_ALLOWANCE + MOTION_ALLOWANCE_PER_S * elapsed_s)


def continues(earlier: Track, later: Track) -> bool:
    """Whether ``later`` may be the rest of the passage ``earlier`` began, split off by
    the tracker: it starts within REFIND_S after ``earlier`` ends (or a moment
    before), where ``earlier``'s pace allows. Two tracks seen together for longer are
    two faces."""
    gap_s = later.first_seen_s - earlier.last_seen_s
    if not -SPLIT_OVERLAP_S <= gap_s <= REFIND_S:
        return False
    return within_reach(earlier, later.first_box, later.first_seen_s, REFIND_ALLOWANCE)


def _move(track: Track, frame_index: int, time_s: float, box: np.ndarray, sure: bool) -> None:
    elapsed_s = time_s - track.last_seen_s
    if elapsed_s > 0:
        (old_x, old_y), (new_x, new_y) = box_centres_and_sizes(np.stack([track.last_box, box]))[0]
        track.velocity = ((new_x - old_x) / elapsed_s, (new_y - old_y) / elapsed_s)
    track.last_seen_s = time_s
    track.last_frame = frame_index
    track.last_box = box.copy()
    track.detections += 1
    track.sure |= sure


def join_at_seam(
    before: list[Track], after: list[Track], max_gap_s: float = DEFAULT_MAX_GAP_S
) -> dict[int, int]:
    """Which track of the next segment (``after``) continues which track of the
    previous one (``before``): ``{after track_id: before track_id}``. Linked by
    position, as within a segment, except where both sides were encoded and look
    like two people: two faces close together at the seam must not swap."""
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
    for row, earlier in enumerate(before):
        for column, later in enumerate(after):
            both_encoded = earlier.appearance_sum is not None and later.appearance_sum is not None
            if both_encoded and earlier.appearance_distance(later.mean_appearance) > OTHER_APPEARANCE:
                costs[row, column] = np.inf
    return {after[column].track_id: before[row].track_id for row, column in greedy_pairs(costs)}


def merged(earlier: Track, later: Track) -> Track:
    """One track from a track and its continuation (in the next segment, or a part of
    one person's passage that the tracker split off): ``earlier``'s id."""
    first = min(earlier, later, key=lambda t: t.first_seen_s)
    last = max(earlier, later, key=lambda t: t.last_seen_s)
    return replace(
        earlier,
        first_seen_s=first.first_seen_s,
        first_frame=first.first_frame,
        first_box=first.first_box,
        last_seen_s=last.last_seen_s,
        last_frame=last.last_frame,
        last_box=last.last_box,
        velocity=last.velocity,  # the pace it left at, as its last box is where it left
        detections=earlier.detections + later.detections,
        sure=earlier.sure or later.sure,
    )
