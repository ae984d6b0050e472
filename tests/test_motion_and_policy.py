from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from lfr_batch.records.state import TIMELINE_BIN_S
from lfr_batch.vision.alerts import Alert, TrackEvidence, summarise
from lfr_batch.vision.calibration import DistanceHistograms
from lfr_batch.vision.detections import Detections
from lfr_batch.vision.encodings import MAX_VIEWS, EncodingPolicy
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.motion import TRACKED_FACE_TARGET_PX, FrameRegions, MotionRegions
from lfr_batch.vision.pipeline import SegmentResult, VideoAssembly
from lfr_batch.vision.tracks import Track
from lfr_batch.vision.video import Frame
from lfr_batch.watchlist.model import Subject, Watchlist

NO_TRACKS = np.zeros((0, 4), dtype=np.int32)


def scene(square_at: tuple[int, int] | None = None) -> np.ndarray:
    image = np.full((360, 640, 3), 90, dtype=np.uint8)
    if square_at is not None:
        x, y = square_at
        image[y : y + 60, x : x + 60] = 230
    return image


def test_first_frame_and_keyframes_search_the_whole_frame() -> None:
    motion = MotionRegions(keyframe_interval_s=10.0)
    assert motion.regions(scene(), 0.0, NO_TRACKS) == FrameRegions(None, [])
    assert motion.regions(scene(), 0.2, NO_TRACKS) == FrameRegions([], [])  # nothing moved
    assert motion.regions(scene(), 10.0, NO_TRACKS).moving is None


def test_tracked_faces_are_given_where_the_whole_frame_is_searched() -> None:
    # A detector that spreads a whole-frame search over several frames (BlazeFace's
    # sweep) would otherwise not look for a tracked face on a busy frame or a keyframe.
    tracked = np.array([[150, 160, 210, 100], [150, 190, 210, 130]])
    motion = MotionRegions(keyframe_interval_s=10.0)
    motion.regions(scene(), 0.0, NO_TRACKS)
    busy = scene()
    busy[:, :400] = 200  # most of the frame changed
    for regions in (motion.regions(busy, 0.2, tracked), motion.regions(busy, 10.0, tracked)):
        assert regions.moving is None
        assert regions.merged() is None  # HOG searches the whole frame, tracked faces in it
        assert [region.scale for region in regions.tracked] == [TRACKED_FACE_TARGET_PX / 60]


def test_what_moved_is_searched_at_full_reach() -> None:
    motion = MotionRegions()
    motion.regions(scene(), 0.0, NO_TRACKS)
    regions = motion.regions(scene((300, 150)), 0.2, NO_TRACKS).moving
    assert regions is not None
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
    found = motion.regions(scene((130, 150)), 0.2, np.array([last, predicted]))
    assert found.moving == []  # the motion is the tracked face's own
    regions = found.tracked
    assert len(regions) == 1
    assert regions[0].scale == TRACKED_FACE_TARGET_PX / 60
    _top, right, _bottom, left = regions[0].box
    assert left <= 100
    assert right >= 190


def tracked(
    track_ids: np.ndarray, sizes: np.ndarray, scores: np.ndarray, unsure: np.ndarray | None = None
) -> Detections:
    """Tracked faces of the given sizes (square boxes) and scores."""
    boxes = np.array([[0, size, size, 0] for size in sizes.tolist()], dtype=np.int32).reshape(-1, 4)
    faces = replace(Detections.found(boxes, scores), track_ids=track_ids)
    return faces if unsure is None else replace(faces, unsure=unsure)


def test_encoding_policy_gathers_views_of_candidates_and_looks_again_at_strangers() -> None:
    policy = EncodingPolicy()
    ids = np.array([0, 1])
    sizes, scores = np.array([80.0, 80.0]), np.array([1.0, 1.0])
    assert policy.select(tracked(ids, sizes, scores), 0.0).tolist() == [True, True]
    # track 0 came within the candidate band (0.05 beyond a subject's cut); track 1 did not
    policy.record(tracked(ids, sizes, scores), 0.0, np.array([0.04, 0.3]))
    assert policy.select(tracked(ids, sizes + 2, scores), 0.2).tolist() == [False, False]
    # the candidate gathers another view every 0.4 s, the stranger every 1.5 s
    assert policy.select(tracked(ids, sizes, scores), 0.4).tolist() == [True, False]
    policy.record(tracked(ids[:1], sizes[:1], scores[:1]), 0.4, np.array([0.04]))
    assert policy.select(tracked(ids, np.array([80.0, 82.0]), scores), 1.6).tolist() == [True, True]
    # a clearly better view is encoded at once
    assert policy.select(tracked(ids, np.array([80.0, 120.0]), scores), 0.5).tolist() == [False, True]


def test_a_face_whose_track_the_tracker_is_unsure_of_is_encoded_at_once() -> None:
    policy = EncodingPolicy()
    ids, sizes, scores = np.array([0, 1]), np.array([80.0, 80.0]), np.array([1.0, 1.0])
    policy.record(tracked(ids, sizes, scores), 0.0, np.array([0.3, 0.3]))
    for _ in range(2):  # even past the strangers' two views
        policy.record(tracked(ids, sizes, scores), 0.0, np.array([0.3, 0.3]))
    assert policy.select(tracked(ids, sizes, scores, unsure=np.array([False, True])), 0.2).tolist() == [
        False,
        True,
    ]


def test_encoding_policy_stops_at_the_view_cap_and_retries_unencoded_faces() -> None:
    policy = EncodingPolicy()
    ids, sizes, scores = np.array([0]), np.array([80.0]), np.array([1.0])
    for step in range(MAX_VIEWS):
        assert policy.select(tracked(ids, sizes, scores), step * 0.5).tolist() == [True]
        policy.record(tracked(ids, sizes, scores), step * 0.5, np.array([-0.1]))
    assert policy.select(tracked(ids, sizes * 2, scores + 2), 100.0).tolist() == [False]
    # a face never recorded (too small or blurred to encode) is offered again next time
    assert policy.select(tracked(np.array([5]), sizes, scores), 0.0).tolist() == [True]
    assert policy.select(tracked(np.array([5]), sizes, scores), 0.2).tolist() == [True]
    every = EncodingPolicy(every=True)
    every.record(tracked(ids, sizes, scores), 0.0, np.array([0.5]))
    assert every.select(tracked(ids, sizes, scores), 0.2).tolist() == [True]


def track(
    track_id: int,
    first_s: float,
    last_s: float,
    first_x: int,
    last_x: int,
    detections: int = 5,
    sure: bool = True,
) -> Track:
    def box(x: int) -> np.ndarray:
        return np.array([100, x + 60, 160, x])

    return Track(
        track_id,
        first_s,
        last_s,
        0,
        0,
        box(first_x),
        box(last_x),
        detections,
        velocity=(100.0, 0.0),
        sure=sure,
    )


def unit(axis: int, scale: float = 1.0) -> np.ndarray:
    vector = np.zeros(128)
    vector[axis] = scale
    return vector


def evidence(*encodings: np.ndarray) -> TrackEvidence:
    gathered = TrackEvidence()
    for index, encoding in enumerate(encodings):
        frame = Frame(index, index * 0.2, np.full((200, 200, 3), 128, dtype=np.uint8))
        gathered.add(frame, np.array([50, 110, 110, 50]), encoding, 0.5, 0.1)
    return gathered


def assembly_for(matcher: WatchlistMatcher, **options: bool) -> VideoAssembly:
    return VideoAssembly(matcher, TIMELINE_BIN_S, DistanceHistograms(matcher.watchlist.size), **options)


def alerts_at(assembly: VideoAssembly, cut: float) -> list[Alert]:
    return assembly.alerts(np.full(assembly.matcher.watchlist.size, cut))


def test_a_track_over_a_seam_is_one_face_decided_on_the_views_of_both_sides() -> None:
    watchlist = Watchlist([Subject("a"), Subject("b")], np.stack([unit(0), unit(1)]), np.array([0, 1]))
    matcher = WatchlistMatcher(watchlist, 0.4, datetime(2026, 11, 26, tzinfo=UTC))
    first = SegmentResult("v", 0, 0)
    first.tracks = [track(0, 5.0, 9.8, 0, 480), track(1, 2.0, 3.0, 300, 300)]
    # Before the seam, track 0 is 0.5 from subject a: on its own, no alert.
    first.open_evidence = {0: evidence(unit(0) + unit(2, 0.5))}
    first.matches = {1: summarise(evidence(unit(5)), matcher)}
    second = SegmentResult("v", 1, 250)
    second.tracks = [track(0, 10.0, 12.0, 500, 700), track(1, 10.4, 11.0, 100, 100)]
    second.open_evidence = {0: evidence(unit(0) + unit(2, 0.1)), 1: evidence(unit(1) + unit(3, 0.2))}
    assembly = assembly_for(matcher)
    assembly.add(second)  # segments may finish out of order
    assert assembly.folded == 0
    assembly.add(first)
    assert assembly.folded == 2
    assembly.finish()
    assert assembly.faces_seen == 3  # the seam-crossing track counts once
    alerts = alerts_at(assembly, 0.4)
    assert [(a.track.track_id, a.track.first_seen_s, a.track.last_seen_s) for a in alerts] == [
        (0, 5.0, 12.0),
        (2, 10.4, 11.0),
    ]
    # The mean of both sides' views lies 0.3 from a: one alert, on the whole track.
    assert [(a.subject_index, round(a.distance, 6), a.cut) for a in alerts] == [(0, 0.3, 0.4), (1, 0.2, 0.4)]
    assert alerts[0].match.views == 2
    # Each face seen added its distances to both subjects to the run's faces, once.
    assert assembly.faces.faces == 3


def test_keep_distances_keeps_every_decided_track_and_counts_low_quality_faces() -> None:
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matcher = WatchlistMatcher(watchlist, 0.4, datetime(2026, 11, 26, tzinfo=UTC))
    segment = SegmentResult("v", 0, 0)
    segment.tracks = [track(0, 1.0, 2.0, 0, 100), track(1, 3.0, 4.0, 300, 300)]
    blurred = TrackEvidence(low_quality_views=3)
    segment.matches = {0: summarise(evidence(unit(4)), matcher), 1: summarise(blurred, matcher)}
    kept, plain = assembly_for(matcher, keep_distances=True), assembly_for(matcher)
    for assembly in (kept, plain):
        assembly.add(segment)
        assembly.finish()
        assert assembly.faces_seen == 2
        assert assembly.faces_low_quality == 1
        assert assembly.faces.faces == assembly.faces_calibrating == 1  # the blurred face gave no encoding
    assert list(kept.matches) == [0]
    assert kept.matches[0].distances[0] == pytest.approx(np.sqrt(2))
    assert kept.matches[0].encoding is None  # a face that cannot alert keeps no mean
    assert plain.matches == {}


def test_a_glimpse_at_a_seam_counts_only_if_it_goes_on_over_the_seam() -> None:
    """A single detection is not a face seen; near a seam it is kept until the next
    segment says whether it continues there."""
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matcher = WatchlistMatcher(watchlist, 0.4, datetime(2026, 11, 26, tzinfo=UTC))
    first = SegmentResult("v", 0, 0)
    first.tracks = [track(0, 9.8, 9.8, 480, 480, detections=1), track(1, 9.6, 9.6, 100, 100, detections=1)]
    first.open_evidence = {1: evidence(unit(0))}  # a lone view right on subject a
    second = SegmentResult("v", 1, 250)
    second.tracks = [track(0, 10.0, 12.0, 500, 700, detections=9)]
    assembly = assembly_for(matcher)
    assembly.add(first)
    assembly.add(second)
    assembly.finish()
    assert assembly.faces_seen == 1  # track 0 went on over the seam; track 1 did not
    assert alerts_at(assembly, 0.4) == []  # and a glimpse never alerts
    assert sum(assembly.faces_seen_by_bin) == 1


def test_a_track_with_no_detection_surely_a_face_is_not_a_face_seen_unless_it_alerts() -> None:
    """The backs of heads, hair and hands that BlazeFace takes for faces near its cut
    are followed like faces; only a track with a sure detection counts, on either side
    of a seam, and a track that alerted always does (its alert is never dropped)."""
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matcher = WatchlistMatcher(watchlist, 0.4, datetime(2026, 11, 26, tzinfo=UTC))
    first = SegmentResult("v", 0, 0)
    first.tracks = [
        track(0, 1.0, 3.0, 0, 100, sure=False),  # the back of a head
        track(1, 4.0, 6.0, 300, 300, sure=False),  # unsure, yet matched: it alerts
        track(2, 9.0, 9.8, 400, 480, sure=False),  # unsure here, surely a face after the seam
    ]
    first.matches = {0: summarise(evidence(unit(4)), matcher), 1: summarise(evidence(unit(0)), matcher)}
    second = SegmentResult("v", 1, 250)
    second.tracks = [track(0, 10.0, 12.0, 500, 700)]
    assembly = assembly_for(matcher)
    assembly.add(first)
    assembly.add(second)
    assembly.finish()
    assert assembly.faces_seen == 1  # the unsure track's alert is not decided yet
    assert assembly.faces.faces == 0  # and no unsure track calibrates
    assert [a.track.first_seen_s for a in alerts_at(assembly, 0.4)] == [4.0]
    assert assembly.faces_seen == 2
    assert sum(assembly.faces_seen_by_bin) == 2


def test_one_persons_passage_split_into_two_alerting_tracks_is_one_alert_and_one_face_seen() -> None:
    watchlist = Watchlist([Subject("a"), Subject("b")], np.stack([unit(0), unit(1)]), np.array([0, 1]))
    matcher = WatchlistMatcher(watchlist, 0.4, datetime(2026, 11, 26, tzinfo=UTC))
    segment = SegmentResult("v", 0, 0)
    segment.tracks = [
        track(0, 1.0, 4.0, 100, 400),  # a's passage, split by the tracker where it crossed someone
        track(1, 4.2, 6.0, 420, 600),  # ...and going on where and when the first part ended
        track(2, 9.5, 10.5, 100, 200),  # a again, 3.5 s after: another passage
        track(3, 3.5, 5.0, 300, 450),  # b at the same time: an alert of its own
        track(4, 1.2, 4.5, 900, 1200),  # someone else close to a, seen beside a's passage
    ]
    segment.matches = {
        0: summarise(evidence(unit(0) + unit(2, 0.3)), matcher),
        1: summarise(evidence(unit(0) + unit(2, 0.2)), matcher),
        2: summarise(evidence(unit(0) + unit(2, 0.25)), matcher),
        3: summarise(evidence(unit(1) + unit(2, 0.1)), matcher),
        4: summarise(evidence(unit(0) + unit(2, 0.35)), matcher),
    }
    assembly = assembly_for(matcher)
    assembly.add(segment)
    assembly.finish()
    found = alerts_at(assembly, 0.4)
    assert assembly.faces_seen == 4
    assert sum(assembly.faces_seen_by_bin) == 4
    alerts = sorted((a.track.track_id, a.track.first_seen_s, a.track.last_seen_s) for a in found)
    assert alerts == [(0, 1.0, 6.0), (2, 9.5, 10.5), (3, 3.5, 5.0), (4, 1.2, 4.5)]
    # The merged alert keeps the nearer of its two decisions.
    assert next(a for a in found if a.track.track_id == 0).distance == pytest.approx(0.2)


def test_an_alert_waits_for_the_runs_cuts_each_subject_its_own() -> None:
    """A track's mean is held (with its views) while it lies within a subject's ceiling;
    the alert is decided at the run's cuts, on the subject whose cut it lies furthest
    within, and its snapshot is the view nearest that subject."""
    watchlist = Watchlist([Subject("a"), Subject("b")], np.stack([unit(0), unit(1)]), np.array([0, 1]))
    matcher = WatchlistMatcher(watchlist, np.array([0.5, 0.5]), datetime(2026, 11, 26, tzinfo=UTC))
    segment = SegmentResult("v", 0, 0)
    segment.tracks = [track(0, 1.0, 3.0, 0, 100), track(1, 4.0, 6.0, 300, 300), track(2, 7.0, 8.0, 0, 9)]
    segment.matches = {
        0: summarise(evidence(unit(0) + unit(2, 0.3)), matcher),  # 0.3 from a
        1: summarise(evidence(unit(1) + unit(2, 0.3)), matcher),  # 0.3 from b
        2: summarise(evidence(unit(5)), matcher),  # beyond every ceiling: nothing kept
    }
    assembly = assembly_for(matcher)
    assembly.add(segment)
    assembly.finish()
    assert [match.may_alert for match in assembly.matches.values()] == [True, True]
    found = assembly.alerts(np.array([0.25, 0.35]))  # a strict for a, looser for b
    assert [(a.track.track_id, a.subject_index, a.cut) for a in found] == [(1, 1, 0.35)]
    assert found[0].best.snapshot_jpeg.startswith(b"\xff\xd8")


def test_background_footage_calibrates_and_keeps_nothing() -> None:
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matcher = WatchlistMatcher(watchlist, 0.5, datetime(2026, 11, 26, tzinfo=UTC))
    segment = SegmentResult("v", 0, 0)
    segment.tracks = [track(0, 1.0, 3.0, 0, 100)]
    segment.matches = {0: summarise(evidence(unit(0) + unit(2, 0.1)), matcher)}
    assembly = assembly_for(matcher, keep_evidence=False, keep_distances=True)
    assembly.add(segment)
    assembly.finish()
    assert assembly.faces.faces == 1
    assert assembly.matches == {}
    assert alerts_at(assembly, 0.5) == []
