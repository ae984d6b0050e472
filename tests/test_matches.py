from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from lfr_batch.vision.matches import NO_SUBJECT, WatchlistMatcher
from lfr_batch.watchlist.model import Subject, Watchlist

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def unit(axis: int, scale: float = 1.0) -> np.ndarray:
    vector = np.zeros(128)
    vector[axis] = scale
    return vector


@pytest.fixture
def watchlist() -> Watchlist:
    return Watchlist(
        subjects=[Subject("a"), Subject("b"), Subject("old", expires=date(2026, 11, 25))],
        encodings=np.stack([unit(0), unit(0, 1.1), unit(1), unit(2)]),
        encoding_subject=np.array([0, 0, 1, 2]),
    )


def test_nearest_subject_within_threshold(watchlist: Watchlist) -> None:
    matcher = WatchlistMatcher(watchlist, cuts=0.6, at=NOW)
    probes = np.stack([unit(0, 1.05), unit(1) + unit(0, 0.3), unit(5)])
    matches = matcher.match(probes)
    assert matches.subject_index.tolist() == [0, 1, NO_SUBJECT]
    # Subject a is the centroid of its two encodings, 1.05 along axis 0.
    assert matches.distance[:2] == pytest.approx([0.0, 0.3])
    assert matches.matched.tolist() == [True, True, False]


def test_runner_up_and_third_are_ranked_and_expired_left_out(watchlist: Watchlist) -> None:
    matches = WatchlistMatcher(watchlist, 0.6, NOW).match(unit(0, 1.05)[None])
    assert matches.subjects[0].tolist() == [0, 1, NO_SUBJECT]  # "old" has expired: two in force
    assert matches.distances[0, :2] == pytest.approx([0.0, np.hypot(1.05, 1.0)])
    assert np.isinf(matches.distances[0, 2])


def test_distances_to_one_subject(watchlist: Watchlist) -> None:
    matcher = WatchlistMatcher(watchlist, 0.6, NOW)
    assert matcher.distances_to(np.stack([unit(1), unit(0, 1.05)]), 1) == pytest.approx(
        [0.0, np.hypot(1.05, 1)]
    )


def test_distance_equal_to_the_threshold_is_a_match(watchlist: Watchlist) -> None:
    probe = unit(1) + unit(3, 0.5)
    assert WatchlistMatcher(watchlist, 0.5, NOW).match(probe[None]).subject_index.tolist() == [1]
    assert WatchlistMatcher(watchlist, 0.49, NOW).match(probe[None]).subject_index.tolist() == [NO_SUBJECT]


def test_expired_subjects_are_never_matched(watchlist: Watchlist) -> None:
    matcher = WatchlistMatcher(watchlist, 0.6, NOW)
    assert [s.subject_id for s in matcher.expired] == ["old"]
    assert matcher.match(unit(2)[None]).subject_index.tolist() == [NO_SUBJECT]
    # The day before, the entry was still in force (a bare date lasts the whole day).
    earlier = WatchlistMatcher(watchlist, 0.6, datetime(2026, 11, 25, 23, 59, tzinfo=UTC))
    assert earlier.match(unit(2)[None]).subject_index.tolist() == [2]


def test_vectorised_distances_equal_the_plain_formula() -> None:
    rng = np.random.default_rng(1)
    references = rng.normal(0, 0.1, (500, 128))
    watchlist = Watchlist([Subject(str(i)) for i in range(50)], references, np.arange(500) % 50)
    probes = rng.normal(0, 0.1, (20, 128))
    matches = WatchlistMatcher(watchlist, 1.99, NOW).match(probes)
    centroids = np.stack([references[np.arange(500) % 50 == s].mean(axis=0) for s in range(50)])
    plain = np.linalg.norm(probes[:, None, :] - centroids[None], axis=2)
    np.testing.assert_allclose(matches.distances, np.sort(plain, axis=1)[:, :3], rtol=1e-9)
    assert matches.subjects.tolist() == np.argsort(plain, axis=1)[:, :3].tolist()


def test_empty_probe_set() -> None:
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matches = WatchlistMatcher(watchlist, 0.6, NOW).match(np.zeros((0, 128)))
    assert matches.subject_index.shape == (0,)


def test_each_subject_is_held_against_its_own_cut(watchlist: Watchlist) -> None:
    # 0.35 beyond a (whose cut is 0.3): no match; 0.4 from b (whose cut is 0.45): b.
    probe = unit(0, 1.05) + unit(4, 0.35)
    b_side = unit(1) + unit(4, 0.4)
    matcher = WatchlistMatcher(watchlist, np.array([0.3, 0.45, 0.6]), NOW)
    matches = matcher.match(np.stack([probe, b_side]))
    assert matches.subject_index.tolist() == [NO_SUBJECT, 1]
    assert matches.margins == pytest.approx([0.05, -0.05])
    # Nearest by distance is still a, whatever the cuts.
    assert matches.subjects[0, 0] == 0


def test_cuts_outside_zero_to_two_are_refused(watchlist: Watchlist) -> None:
    with pytest.raises(ValueError, match="between 0 and 2"):
        WatchlistMatcher(watchlist, np.array([0.3, 2.5, 0.4]), NOW)
