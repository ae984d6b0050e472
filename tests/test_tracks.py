from __future__ import annotations

from dataclasses import replace

import numpy as np

from lfr_batch.vision.detections import Detections
from lfr_batch.vision.tracks import FaceTracker, Track, continues, crowded_faces, join_at_seam, merged


def box(x: float, y: float, size: float = 60) -> list[int]:
    """(top, right, bottom, left) of a square face centred at (x, y)."""
    half = size / 2
    return [int(y - half), int(x + half), int(y + half), int(x - half)]


def faces(*boxes: list[int], crowded: bool = False, sure: bool = True) -> Detections:
    """A frame's faces at ``boxes``, each marked crowded and surely a face as asked."""
    found = Detections.found(np.array(boxes, dtype=np.int32).reshape(-1, 4), np.ones(len(boxes)))
    return replace(found, crowded=np.full(len(boxes), crowded), sure=np.full(len(boxes), sure))


def ids(linked: Detections) -> list[int]:
    return linked.track_ids.tolist()


def test_a_face_moving_across_the_view_is_one_track() -> None:
    tracker = FaceTracker()
    linked = []
    for step in range(15):  # 3 s at 5 fps, 40 px per sample: a brisk walk
        time_s = step * 0.2
        linked.extend(ids(tracker.update(step * 5, time_s, faces(box(60 + 40 * step, 200)))))
    assert set(linked) == {0}
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
        assert ids(tracker.update(step, step * 0.2, faces(right_to_left, left_to_right))) == [0, 1]
    assert len(tracker.tracks) == 2


def test_missed_detections_within_the_gap_do_not_split_a_track() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    tracker.update(0, 0.0, faces(box(100, 100)))
    tracker.update(1, 0.2, faces())
    tracker.update(2, 0.4, faces())
    assert ids(tracker.update(3, 0.6, faces(box(140, 100)))) == [0]


def test_a_face_that_returns_after_the_gap_is_a_new_face_seen() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    tracker.update(0, 0.0, faces(box(100, 100)))
    assert ids(tracker.update(1, 1.5, faces(box(100, 100)))) == [1]


def test_a_face_that_walked_out_of_the_view_is_not_continued_by_someone_entering() -> None:
    """One person leaves by the right edge; a second later another enters there,
    walking the other way: close enough for the first's track by distance alone, but
    the first person's pace has taken them out of the view."""
    leaving = [box(1080 + 40 * step, 470) for step in range(5)]  # 200 px/s to the right
    entering = box(1225, 585)
    for frame_size, continued in ((None, True), ((720, 1280), False)):
        tracker = FaceTracker(frame_size=frame_size)
        for step, face in enumerate(leaving):
            tracker.update(step, step * 0.2, faces(face))
        # Where the departed face could be is searched only while it can be in view.
        assert len(tracker.expected_boxes(1.8)) == (2 if continued else 0)
        assert (ids(tracker.update(9, 1.8, faces(entering))) == [0]) is continued


def test_a_jump_across_the_frame_or_a_size_change_starts_a_new_track() -> None:
    tracker = FaceTracker()
    tracker.update(0, 0.0, faces(box(100, 100)))
    assert ids(tracker.update(1, 0.2, faces(box(600, 100)))) == [1]
    assert ids(tracker.update(2, 0.4, faces(box(600, 100, size=200)))) == [2]


def appearance(seed: int) -> np.ndarray:
    """A stand-in encoding: people's are about 0.9 apart, as dlib's are for strangers."""
    vector = np.random.default_rng(seed).normal(size=128)
    return vector / np.linalg.norm(vector) * 0.65


A, B = appearance(1), appearance(2)


def test_a_face_linked_by_position_to_the_wrong_track_goes_to_the_one_it_looks_like() -> None:
    tracker = FaceTracker()
    linked = tracker.update(0, 0.0, faces(box(100, 100), box(250, 100)))
    assert ids(tracker.confirm(0, 0.0, linked, np.stack([A, B]))) == [0, 1]
    # B steps in front of where A was; A is hidden. Position says A's track, appearance B's.
    linked = tracker.update(1, 0.2, faces(box(115, 100), crowded=True))
    assert ids(linked) == [0]
    assert ids(tracker.confirm(1, 0.2, linked, B[None])) == [1]
    first, second = tracker.tracks
    assert first.last_seen_s == 0.0  # A's track keeps its own last sighting
    assert first.detections == 1
    assert second.last_seen_s == 0.2
    assert second.last_box.tolist() == box(115, 100)


def test_a_face_unlike_its_track_and_every_other_starts_a_new_face_seen() -> None:
    tracker = FaceTracker()
    tracker.confirm(0, 0.0, tracker.update(0, 0.0, faces(box(100, 100))), A[None])
    linked = tracker.update(1, 0.2, faces(box(110, 100), crowded=True))
    assert ids(tracker.confirm(1, 0.2, linked, appearance(3)[None])) == [1]
    assert len(tracker.tracks) == 2


def test_a_face_lost_for_a_moment_and_found_again_nearby_is_still_one_face_seen() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    tracker.confirm(0, 0.0, tracker.update(0, 0.0, faces(box(100, 100))), A[None])
    linked = tracker.update(8, 1.6, faces(box(160, 100)))  # past the gap: a new track by position...
    assert ids(linked) == [1]
    assert ids(tracker.confirm(8, 1.6, linked, (A + 0.01)[None])) == [0]  # ...the same face
    assert len(tracker.tracks) == 1
    assert tracker.tracks[0].last_seen_s == 1.6
    # Someone else found there instead stays a face of their own.
    linked = tracker.update(9, 4.0, faces(box(200, 100)))
    assert ids(tracker.confirm(9, 4.0, linked, B[None])) == ids(linked)
    assert len(tracker.tracks) == 2


def test_two_people_who_meet_and_turn_back_keep_their_own_tracks() -> None:
    """Position alone swaps them: both stop at one spot and walk back the way they came."""
    tracker = FaceTracker()
    path_a = [100, 140, 180, 200, 180, 140, 100]
    path_b = [300, 260, 220, 205, 220, 260, 300]
    ids_of_a, ids_of_b = set(), set()
    for step, (x_a, x_b) in enumerate(zip(path_a, path_b, strict=True)):
        linked = tracker.update(step, step * 0.2, faces(box(x_a, 100), box(x_b, 100)))
        first, second = ids(tracker.confirm(step, step * 0.2, linked, np.stack([A, B])))
        ids_of_a.add(first)
        ids_of_b.add(second)
    assert ids_of_a == {0}
    assert ids_of_b == {1}
    assert len(tracker.tracks) == 2


def test_a_face_alone_that_turns_its_head_keeps_its_track() -> None:
    tracker = FaceTracker()
    tracker.confirm(0, 0.0, tracker.update(0, 0.0, faces(box(100, 100))), A[None])
    linked = tracker.update(1, 0.2, faces(box(104, 100), crowded=False))
    assert ids(tracker.confirm(1, 0.2, linked, B[None])) == [0]
    assert len(tracker.tracks) == 1


def test_faces_close_to_another_are_marked_crowded() -> None:
    boxes = np.array([box(100, 100), box(160, 100), box(500, 100)])
    assert crowded_faces(boxes).tolist() == [True, True, False]
    assert crowded_faces(np.array([box(100, 100)])).tolist() == [False]


def test_a_face_that_takes_over_a_track_where_another_left_is_checked_and_split_off() -> None:
    """One person walks out of the view to the right; another walks in from the right
    at once. Position links the newcomer to the leaver's track, but the link jumps
    against its pace, so its next view is checked by appearance."""
    tracker = FaceTracker()
    for step in range(4):
        linked = tracker.update(step, step * 0.2, faces(box(1100 + 50 * step, 300)))
        if step == 0 or linked.unsure.any():  # as the scan encodes them
            tracker.confirm(step, step * 0.2, linked, A[None])
    assert not linked.unsure.any()  # a steady walk, once checked, is sure
    # where the leaver should have been: 1300
    linked = tracker.update(4, 0.8, faces(box(1220, 300)))
    assert ids(linked) == [0]
    assert linked.unsure.tolist() == [True]
    assert ids(tracker.confirm(4, 0.8, linked, B[None])) == [1]
    assert not any(track.jumped for track in tracker.tracks)  # checked
    assert len(tracker.tracks) == 2


def test_a_checked_jump_that_looks_like_its_track_stays_on_it() -> None:
    tracker = FaceTracker()
    for step in range(3):
        linked = tracker.update(step, step * 0.2, faces(box(500 + 50 * step, 300)))
    tracker.confirm(2, 0.4, linked, A[None])
    # stopped and turned: 1.4 face sizes off its pace
    linked = tracker.update(3, 0.6, faces(box(560, 300)))
    assert linked.unsure.tolist() == [True]
    assert ids(tracker.confirm(3, 0.6, linked, (A + 0.01)[None])) == [0]
    assert len(tracker.tracks) == 1


def split_by_one_bad_view(tracker: FaceTracker) -> None:
    """A walker checked by appearance stops beside someone (crowded), and that one view
    of them looks like nobody (a head bowed, a blur): it splits off a track of its own."""
    for step in range(3):
        linked = tracker.update(step, step * 0.2, faces(box(500 + 50 * step, 300)))
    tracker.confirm(2, 0.4, linked, A[None])
    linked = tracker.update(3, 0.6, faces(box(600, 300), crowded=True))
    assert ids(tracker.confirm(3, 0.6, linked, appearance(3)[None])) == [1]


def test_a_track_split_off_by_one_bad_view_rejoins_its_track_when_it_looks_like_it_again() -> None:
    """In facenet_pytorch_video.mp4 a man looking down for a moment was two faces seen."""
    tracker = FaceTracker()
    split_by_one_bad_view(tracker)
    linked = tracker.update(4, 0.8, faces(box(602, 300)))
    assert ids(linked) == [1]  # by position, the split-off track
    assert ids(tracker.confirm(4, 0.8, linked, (A + 0.01)[None])) == [0]
    [track] = tracker.tracks
    assert (track.track_id, track.detections, track.last_seen_s) == (0, 5, 0.8)
    assert track.last_box.tolist() == box(602, 300)
    assert track.appearance_views == 2  # its own two views; the bad one left out
    # It goes on as one track.
    assert ids(tracker.update(5, 1.0, faces(box(604, 300)))) == [0]


def test_a_track_split_off_by_its_first_view_stays_apart_when_it_looks_like_itself_again() -> None:
    tracker = FaceTracker()
    split_by_one_bad_view(tracker)
    linked = tracker.update(4, 0.8, faces(box(602, 300)))
    assert ids(tracker.confirm(4, 0.8, linked, (appearance(3) + 0.01)[None])) == [1]
    assert [track.track_id for track in tracker.tracks] == [0, 1]
    # With two views of its own it is someone else, even if a later view looks like
    # the first track (a bad view of its own).
    linked = tracker.update(5, 1.0, faces(box(604, 300)))
    assert ids(tracker.confirm(5, 1.0, linked, A[None])) == [1]
    assert len(tracker.tracks) == 2


def test_a_split_off_track_whose_face_is_checked_and_found_to_be_its_first_track_rejoins_it() -> None:
    """The split-off track is followed by position, then its link is checked (a face came
    close) and the face looks like the track it split off: the whole of it rejoins."""
    tracker = FaceTracker()
    split_by_one_bad_view(tracker)
    for step, x in ((4, 602), (5, 604)):
        assert ids(tracker.update(step, step * 0.2, faces(box(x, 300)))) == [1]
    linked = tracker.update(6, 1.2, faces(box(606, 300), crowded=True))
    assert ids(linked) == [1]
    assert ids(tracker.confirm(6, 1.2, linked, (A + 0.01)[None])) == [0]
    [track] = tracker.tracks
    assert (track.track_id, track.detections, track.last_seen_s) == (0, 7, 1.2)


def test_two_encoded_faces_that_look_like_two_people_are_not_joined_at_a_seam() -> None:
    def ended(track_id: int, x: float, encoding: np.ndarray | None, time_s: float) -> Track:
        track = Track(track_id, time_s, time_s, 0, 0, np.array(box(x, 300)), np.array(box(x, 300)), 3)
        if encoding is not None:
            track.add_appearance(encoding)
        return track

    # Two faces cross right at the seam: by position alone A's track goes on as B's.
    before = [ended(0, 500, A, 9.8), ended(1, 560, B, 9.8)]
    after = [ended(0, 560, A, 10.0), ended(1, 500, B, 10.0)]
    assert join_at_seam(before, after) == {0: 0, 1: 1}
    # A face not yet encoded on one side is joined by position, as before.
    unencoded = [ended(0, 505, None, 10.0)]
    assert join_at_seam(before, unencoded) == {0: 0}


def test_a_face_seen_once_is_looked_for_as_far_as_a_walker_may_have_gone() -> None:
    """A face with no pace yet is searched for to either side: a 30 px face walking past
    at a normal pace moves two or three face widths between samples at 5 fps."""
    tracker = FaceTracker()
    tracker.update(0, 0.0, faces(box(300, 200, size=30)))
    one_end, other_end = tracker.expected_boxes(0.2)
    assert (one_end[3], other_end[1]) == (285 - 72, 315 + 72)  # 12 face widths a second
    assert (one_end[0], one_end[2]) == (185, 215)  # not up or down: walkers cross the view
    one_end, other_end = tracker.expected_boxes(0.8)
    assert (one_end[3], other_end[1]) == (285 - 90, 315 + 90)  # at most 3 face widths
    # Once it has a pace, it is looked for between where it was and where that pace puts it.
    tracker.update(1, 0.2, faces(box(340, 200, size=30)))
    last, predicted = tracker.expected_boxes(0.4)
    assert last.tolist() == box(340, 200, size=30)
    assert predicted.tolist() == box(380, 200, size=30)


def test_two_new_faces_walking_apart_are_checked_before_a_second_link() -> None:
    """At a segment's first frame every face is new. Two walk apart; the next frame
    misses one, and the other is nearer the missed face's first box than its own: the
    link moved, so it is checked by appearance and given back."""
    tracker = FaceTracker()
    # A goes left, B right
    linked = tracker.update(0, 0.0, faces(box(740, 531, size=25), box(686, 487, size=32)))
    tracker.confirm(0, 0.0, linked, np.stack([A, B]))
    linked = tracker.update(1, 0.2, faces(box(733, 490, size=32)))
    assert ids(linked) == [0]  # by position, A's track
    assert linked.unsure.tolist() == [True]
    assert ids(tracker.confirm(1, 0.2, linked, B[None])) == [1]
    assert tracker.tracks[0].detections == 1  # A's track keeps only A's sighting


def test_a_track_is_sure_once_one_of_its_detections_is_surely_a_face() -> None:
    tracker = FaceTracker()
    for step, sure in enumerate([False, False, True, False]):
        tracker.update(step, step * 0.2, faces(box(100 + 20 * step, 200), sure=sure))
        assert tracker.tracks[0].sure == (step >= 2)
    tracker.update(9, 9.0, faces(box(500, 200), sure=False))
    assert [t.sure for t in tracker.tracks] == [True, False]
    # A detector that does not say (dlib's HOG and CNN): every face is sure.
    assert Detections.found(np.array([box(100, 200)], dtype=np.int32), np.ones(1)).sure.tolist() == [True]


def test_a_sure_detection_taken_from_the_wrong_track_takes_its_sureness_along() -> None:
    tracker = FaceTracker()
    linked = tracker.update(0, 0.0, faces(box(100, 100), box(250, 100), sure=False))
    tracker.confirm(0, 0.0, linked, np.stack([A, B]))
    linked = tracker.update(1, 0.2, faces(box(115, 100), crowded=True, sure=True))
    assert ids(linked) == [0]
    assert tracker.tracks[0].sure
    assert ids(tracker.confirm(1, 0.2, linked, B[None])) == [1]
    assert [t.sure for t in tracker.tracks] == [False, True]


def test_a_track_joined_from_two_parts_goes_on_at_the_pace_of_its_later_part() -> None:
    """A walker who turned back midway: the joined track's last box is the later part's,
    and so is the pace at which another part of the passage is looked for."""
    outward = Track(0, 0.0, 2.0, 0, 50, np.array(box(100, 300)), np.array(box(500, 300)), 10, (200.0, 0.0))
    back = Track(1, 2.2, 4.0, 55, 100, np.array(box(480, 300)), np.array(box(120, 300)), 9, (-200.0, 0.0))
    joined = merged(outward, back)
    assert (joined.track_id, joined.first_seen_s, joined.last_seen_s, joined.detections) == (0, 0.0, 4.0, 19)
    assert joined.velocity == (-200.0, 0.0)
    # Walking on the way it went, it is found again further back, not ahead.
    further_back = Track(2, 4.2, 4.6, 105, 115, np.array(box(-60, 300)), np.array(box(-60, 300)), 3)
    assert continues(joined, further_back)
    assert not continues(replace(joined, velocity=outward.velocity), further_back)
