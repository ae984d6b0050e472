from __future__ import annotations

import numpy as np

from lfr_batch.encodings import EncodingPolicy
from lfr_batch.motion import TRACKED_FACE_TARGET_PX, MotionRegions
from lfr_batch.pipeline import SegmentResult, VideoAssembly
from lfr_batch.tracks import Track

NO_TRACKS = np.zeros((0, 4), dtype=np.int32)


def scene(square_at: tuple[int, int] | None = None) -> np.ndarray:
    image = np.full((360, 640, 3), 90, dtype=np.uint8)
    if square_at is not None:
        x, y = square_at
        image[y : y + 60, x : x + 60] = 230
    return image


def test_first_frame_and_keyframes_search_the_whole_frame() -> None:
    motion = MotionRegions(keyframe_interval_s=10.0)
    assert motion.regions(scene(), 0.0, NO_TRACKS) is None
    assert motion.regions(scene(), 0.2, NO_TRACKS) == []  # nothing moved: nothing to search
    assert motion.regions(scene(), 10.0, NO_TRACKS) is None
    motion.reset()
    assert motion.regions(scene(), 10.2, NO_TRACKS) is None


def test_what_moved_is_searched_at_full_reach() -> None:
    motion = MotionRegions()
    motion.regions(scene(), 0.0, NO_TRACKS)
    regions = motion.regions(scene((300, 150)), 0.2, NO_TRACKS)
    assert len(regions) == 1
    top, right, bottom, left = regions[0].box
    assert top <= 150
    assert left <= 300
    assert bottom >= 210
    assert right >= 360
    assert regions[0].scale is None
    assert (bottom - top) * (right - left) < 0.25 * 360 * 640


def test_a_tracked_face_is_searched_at_its_own_scale_without_a_wider_search() -> None:
    motion = MotionRegions()
    motion.regions(scene((100, 150)), 0.0, NO_TRACKS)
    last, predicted = [150, 160, 210, 100], [150, 190, 210, 130]
    regions = motion.regions(scene((130, 150)), 0.2, np.array([last, predicted]))
    assert len(regions) == 1  # the motion is the tracked face's own
    assert regions[0].scale == TRACKED_FACE_TARGET_PX / 60
    _top, right, _bottom, left = regions[0].box
    assert left <= 100
    assert right >= 190


def test_encoding_policy_encodes_each_track_once_then_only_better_views() -> None:
    policy = EncodingPolicy()
    ids = np.array([0, 1])
    assert policy.select(ids, np.array([80.0, 80.0]), np.array([1.0, 1.0]), 0.0).tolist() == [
        True,
        True,
    ]
    policy.record_matches(ids, np.array([True, False]))
    assert policy.select(ids, np.array([82.0, 82.0]), np.array([1.1, 1.1]), 0.2).tolist() == [
        False,
        False,
    ]
    # a much larger view of the matched face; another look at the unmatched one after 1.5 s
    assert policy.select(ids, np.array([120.0, 82.0]), np.array([1.0, 1.0]), 1.0).tolist() == [
        True,
        False,
    ]
    assert policy.select(ids, np.array([120.0, 82.0]), np.array([1.0, 1.0]), 1.6).tolist() == [
        False,
        True,
    ]
    assert policy.select(ids, np.array([120.0, 82.0]), np.array([1.6, 1.0]), 1.8).tolist() == [
        True,
        False,
    ]
    every = EncodingPolicy(every=True)
    every.select(ids, np.array([80.0, 80.0]), np.array([1.0, 1.0]), 0.0)
    assert every.select(ids, np.array([80.0, 80.0]), np.array([1.0, 1.0]), 0.2).tolist() == [
        True,
        True,
    ]


def track(track_id: int, first_s: float, last_s: float, first_x: int, last_x: int) -> Track:
    def box(x: int) -> np.ndarray:
        return np.array([100, x + 60, 160, x])

    return Track(track_id, first_s, last_s, 0, 0, box(first_x), box(last_x), velocity=(100.0, 0.0))


def test_a_track_over_a_seam_is_one_face_and_keeps_the_better_sighting() -> None:
    from lfr_batch.alerts import Sighting

    def sighting(distance: float) -> Sighting:
        return Sighting(0, 0.0, distance, (0, 1, 1, 0), b"")

    first = SegmentResult("v", 0, 0)
    first.tracks = [track(0, 5.0, 9.8, 0, 480), track(1, 2.0, 3.0, 300, 300)]
    first.sightings = {(0, 0): sighting(0.5)}
    second = SegmentResult("v", 1, 250)
    second.tracks = [track(0, 10.0, 12.0, 500, 700), track(1, 10.4, 11.0, 100, 100)]
    second.sightings = {(0, 0): sighting(0.3), (1, 0): sighting(0.4)}
    assembly = VideoAssembly()
    assembly.add(second)  # segments may finish out of order
    assert assembly.folded == 0
    assembly.add(first)
    assert assembly.folded == 2
    assert assembly.faces_seen == 3  # the seam-crossing track counts once
    assert [(t.track_id, t.first_seen_s, t.last_seen_s) for t in assembly.alert_tracks()] == [
        (0, 5.0, 12.0),
        (2, 10.4, 11.0),
    ]
    assert {key: s.distance for key, s in assembly.sightings.items()} == {(0, 0): 0.3, (2, 0): 0.4}
