"""Stage 5, encodings → matches: the nearest watchlist subjects by Euclidean distance.

A subject is represented by the centroid (mean) of its reference encodings: at
the same false-match rate it misses fewer of its own photos than the distance
to its closest single encoding (0.6 % instead of 1.0 % at 1 in 10,000, on 635
photos of 86 people; ``benchmarks/accuracy.py``). With one photo per subject
the two are the same, as face_recognition computes it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lfr_batch.vision.calibration import subject_centroids
from lfr_batch.watchlist import Subject, Watchlist

NO_SUBJECT = -1
NEAREST_KEPT = 3  # subjects ranked per probe: the match, the runner-up, one more for the sweep


@dataclass(frozen=True)
class Matches:
    """For each probe encoding, its nearest subjects in force (``NO_SUBJECT`` where the
    list holds fewer) and the distances to their centroids, nearest first."""

    subjects: np.ndarray  # N×NEAREST_KEPT int64, index into Watchlist.subjects
    distances: np.ndarray  # N×NEAREST_KEPT float64 (inf where no subject)
    threshold: float

    @property
    def subject_index(self) -> np.ndarray:
        """The nearest subject where it lies within the threshold, else ``NO_SUBJECT``."""
        return np.where(self.matched, self.subjects[:, 0], NO_SUBJECT)

    @property
    def distance(self) -> np.ndarray:
        return self.distances[:, 0]

    @property
    def matched(self) -> np.ndarray:
        return self.distances[:, 0] <= self.threshold


class WatchlistMatcher:
    """Compares probe encodings with the subjects still in force at ``at``."""

    def __init__(self, watchlist: Watchlist, threshold: float, at: datetime) -> None:
        if not 0.0 < threshold < 2.0:
            raise ValueError("threshold must lie between 0 and 2")
        self.watchlist = watchlist
        self.threshold = threshold
        expired_index = [i for i, s in enumerate(watchlist.subjects) if s.expires and s.is_expired(at)]
        self.expired: list[Subject] = [watchlist.subjects[i] for i in expired_index]
        self.in_force = np.setdiff1d(np.arange(watchlist.size), expired_index)

    @functools.cached_property
    def _search(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centroids of the subjects in force, a float32 copy and its squared norms
        (half the memory traffic for the search); built on first use."""
        watchlist = self.watchlist
        centroids = subject_centroids(watchlist.encodings, watchlist.encoding_subject, watchlist.size)
        centroids = centroids[self.in_force]
        centroids32 = centroids.astype(np.float32)
        return centroids, centroids32, np.einsum("ij,ij->i", centroids32, centroids32)

    def match(self, encodings: np.ndarray) -> Matches:
        centroids, centroids32, squared_norms = self._search
        count = len(encodings)
        subjects = np.full((count, NEAREST_KEPT), NO_SUBJECT, dtype=np.int64)
        distances = np.full((count, NEAREST_KEPT), np.inf)
        if count == 0 or len(centroids) == 0:
            return Matches(subjects, distances, self.threshold)
        # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b, less the probe's own norm, which does not change the
        # ranking: one matrix product for all probes; the few kept are measured in float64.
        partial = squared_norms[None, :] - 2.0 * (encodings.astype(np.float32) @ centroids32.T)
        kept = min(NEAREST_KEPT, len(centroids))
        nearest = np.argpartition(partial, kept - 1, axis=1)[:, :kept]
        exact = np.linalg.norm(centroids[nearest] - encodings[:, None, :], axis=2)
        order = np.argsort(exact, axis=1)
        subjects[:, :kept] = self.in_force[np.take_along_axis(nearest, order, axis=1)]
        distances[:, :kept] = np.take_along_axis(exact, order, axis=1)
        return Matches(subjects, distances, self.threshold)

    def distances_to(self, encodings: np.ndarray, subject_index: int) -> np.ndarray:
        """Each encoding's distance to one subject's centroid."""
        centroids = self._search[0]
        row = int(np.searchsorted(self.in_force, subject_index))
        return np.linalg.norm(encodings - centroids[row], axis=1)
