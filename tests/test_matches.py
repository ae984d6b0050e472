from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from lfr_batch.matches import NO_SUBJECT, WatchlistMatcher
from lfr_batch.watchlist import Subject, Watchlist

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def unit(axis: int, scale: float = 1.0) -> np.ndarray:
    vector = np.zeros(128)
    vector[axis] = scale
    return vector


@pytest.fixture
def watchlist() -> Watchlist:
    return Watchlist(
        subjects=[Subject("a"), Subject("b"), Subject("old", expires="2026-11-25")],
        encodings=np.stack([unit(0), unit(0, 1.1), unit(1), unit(2)]),
        encoding_subject=np.array([0, 0, 1, 2]),
    )


def test_nearest_subject_within_threshold(watchlist: Watchlist) -> None:
    matcher = WatchlistMatcher(watchlist, threshold=0.6, at=NOW)
    probes = np.stack([unit(0, 1.05), unit(1) + unit(0, 0.3), unit(5)])
    matches = matcher.match(probes)
    assert matches.subject_index.tolist() == [0, 1, NO_SUBJECT]
    assert matches.distance[:2] == pytest.approx([0.05, 0.3])
    assert matches.matched.tolist() == [True, True, False]


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
    plain = np.linalg.norm(probes[:, None, :] - references[None], axis=2)
    np.testing.assert_allclose(matches.distance, plain.min(axis=1), rtol=1e-9)
    assert matches.subject_index.tolist() == (plain.argmin(axis=1) % 50).tolist()


def test_empty_probe_set() -> None:
    watchlist = Watchlist([Subject("a")], unit(0)[None], np.array([0]))
    matches = WatchlistMatcher(watchlist, 0.6, NOW).match(np.zeros((0, 128)))
    assert matches.subject_index.shape == (0,)
