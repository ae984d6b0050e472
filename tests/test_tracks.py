from __future__ import annotations

import numpy as np

from lfr_batch.tracks import FaceTracker


def box(x: float, y: float, size: float = 60) -> list[int]:
    """(top, right, bottom, left) of a square face centred at (x, y)."""
    half = size / 2
    return [int(y - half), int(x + half), int(y + half), int(x - half)]


def test_a_face_moving_across_the_view_is_one_track() -> None:
    tracker = FaceTracker()
    ids = []
    for step in range(15):  # 3 s at 5 fps, 40 px per sample: a brisk walk
        time_s = step * 0.2
        ids.extend(tracker.update(step * 5, time_s, np.array([box(60 + 40 * step, 200)])))
    assert set(ids) == {0}
    assert len(tracker.tracks) == 1
    track = tracker.tracks[0]
    assert (track.first_seen_s, track.last_seen_s, track.detections) == (
        0.0,
        2.8000000000000003,
        15,
    )


def test_two_people_crossing_paths_keep_their_own_tracks() -> None:
    tracker = FaceTracker()
    for step in range(10):
        left_to_right = box(100 + 30 * step, 150)
        right_to_left = box(500 - 30 * step, 300)
        ids = tracker.update(step, step * 0.2, np.array([right_to_left, left_to_right]))
        assert ids.tolist() == [0, 1]
    assert len(tracker.tracks) == 2


def test_missed_detections_within_the_gap_do_not_split_a_track() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    tracker.update(0, 0.0, np.array([box(100, 100)]))
    tracker.update(1, 0.2, np.zeros((0, 4), np.int32))
    tracker.update(2, 0.4, np.zeros((0, 4), np.int32))
    assert tracker.update(3, 0.6, np.array([box(140, 100)])).tolist() == [0]


def test_a_face_that_returns_after_the_gap_is_a_new_face_seen() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    tracker.update(0, 0.0, np.array([box(100, 100)]))
    assert tracker.update(1, 1.5, np.array([box(100, 100)])).tolist() == [1]


def test_a_jump_across_the_frame_or_a_size_change_starts_a_new_track() -> None:
    tracker = FaceTracker()
    tracker.update(0, 0.0, np.array([box(100, 100)]))
    assert tracker.update(1, 0.2, np.array([box(600, 100)])).tolist() == [1]
    assert tracker.update(2, 0.4, np.array([box(600, 100, size=200)])).tolist() == [2]


def test_reset_starts_counting_again() -> None:
    tracker = FaceTracker()
    tracker.update(0, 0.0, np.array([box(100, 100)]))
    tracker.reset()
    assert tracker.tracks == []
    assert tracker.update(0, 0.0, np.array([box(100, 100)])).tolist() == [0]
