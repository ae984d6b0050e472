"""Stage 5, encodings → matches: the nearest watchlist subjects by Euclidean distance,
and how near each probe comes to a subject's cut.

A subject is represented by the centroid (mean) of its reference encodings: at
the same false-match rate it misses fewer of its own photos than the distance
to its closest single encoding (0.6 % instead of 1.0 % at 1 in 10,000, on 635
photos of 86 people; ``benchmarks/accuracy.py``). With one photo per subject
the two are the same, as face_recognition computes it.

Each subject has its own cut (:mod:`lfr_batch.vision.calibration`): a probe's
*margin* is how far it lies beyond the cut of the subject it comes nearest to
cutting, negative within it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lfr_batch.watchlist.model import Subject, Watchlist

NO_SUBJECT = -1
NEAREST_KEPT = 3  # subjects ranked per probe: the match, the runner-up, one more for the sweep


@dataclass(frozen=True)
class Matches:
    """For each probe encoding, its nearest subjects in force (``NO_SUBJECT`` where the
    list holds fewer) and the distances to their centroids, nearest first; and its
    margin to the cut of the subject whose cut it comes nearest (inf: none in force)."""

    subjects: np.ndarray  # N×NEAREST_KEPT int64, index into Watchlist.subjects
    distances: np.ndarray  # N×NEAREST_KEPT float64 (inf where no subject)
    margins: np.ndarray  # N float64: distance less that subject's cut
    margin_subjects: np.ndarray  # N int64: that subject

    @property
    def distance(self) -> np.ndarray:
        return self.distances[:, 0]

    @property
    def matched(self) -> np.ndarray:
        return self.margins <= 0.0

    @property
    def subject_index(self) -> np.ndarray:
        """The subject whose cut each probe lies within, else ``NO_SUBJECT``."""
        return np.where(self.matched, self.margin_subjects, NO_SUBJECT)


class WatchlistMatcher:
    """Compares probe encodings with the subjects still in force at ``at``, each subject
    against its own cut (one number: the same cut for all)."""

    def __init__(self, watchlist: Watchlist, cuts: np.ndarray | float, at: datetime) -> None:
        cuts = np.broadcast_to(np.asarray(cuts, dtype=np.float64), (watchlist.size,))
        if not (np.all(cuts > 0.0) and np.all(cuts < 2.0)):
            raise ValueError("threshold must lie between 0 and 2")
        self.watchlist = watchlist
        self.cuts = cuts.copy()
        expired_index = [i for i, s in enumerate(watchlist.subjects) if s.expires and s.is_expired(at)]
        self.expired: list[Subject] = [watchlist.subjects[i] for i in expired_index]
        self.in_force = np.setdiff1d(np.arange(watchlist.size), expired_index)

    @functools.cached_property
    def centroids(self) -> np.ndarray:
        """Every subject's centroid, expired ones included (S×128)."""
        return self.watchlist.centroids()

    @functools.cached_property
    def _search(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centroids of the subjects in force, a float32 copy and its squared norms
        (half the memory traffic for the search); built on first use."""
        centroids = self.centroids[self.in_force]
        centroids32 = centroids.astype(np.float32)
        return centroids, centroids32, np.einsum("ij,ij->i", centroids32, centroids32)

    def match(self, encodings: np.ndarray) -> Matches:
        centroids, centroids32, squared_norms = self._search
        count = len(encodings)
        subjects = np.full((count, NEAREST_KEPT), NO_SUBJECT, dtype=np.int64)
        distances = np.full((count, NEAREST_KEPT), np.inf)
        margins = np.full(count, np.inf)
        margin_subjects = np.full(count, NO_SUBJECT, dtype=np.int64)
        if count == 0 or len(centroids) == 0:
            return Matches(subjects, distances, margins, margin_subjects)
        # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b: one matrix product for all probes, in float32; the
        # few ranked are measured again in float64.
        probes32 = encodings.astype(np.float32)
        partial = squared_norms[None, :] - 2.0 * (probes32 @ centroids32.T)
        approximate = np.sqrt(np.maximum(partial + np.einsum("ij,ij->i", probes32, probes32)[:, None], 0.0))
        beyond = approximate - self.cuts[self.in_force][None, :]
        by_margin = np.argmin(beyond, axis=1)
        margin_subjects[:] = self.in_force[by_margin]
        exact = np.linalg.norm(self.centroids[margin_subjects] - encodings, axis=1)
        margins[:] = exact - self.cuts[margin_subjects]
        kept = min(NEAREST_KEPT, len(centroids))
        nearest = np.argpartition(partial, kept - 1, axis=1)[:, :kept]
        ranked = np.linalg.norm(centroids[nearest] - encodings[:, None, :], axis=2)
        order = np.argsort(ranked, axis=1)
        subjects[:, :kept] = self.in_force[np.take_along_axis(nearest, order, axis=1)]
        distances[:, :kept] = np.take_along_axis(ranked, order, axis=1)
        return Matches(subjects, distances, margins, margin_subjects)

    def distances_to(self, encodings: np.ndarray, subject_index: int) -> np.ndarray:
        """Each encoding's distance to one subject's centroid."""
        return np.linalg.norm(encodings - self.centroids[subject_index], axis=1)

    def distances_to_all(self, encoding: np.ndarray) -> np.ndarray:
        """One encoding's distance to every subject's centroid, expired ones included."""
        return np.linalg.norm(self.centroids - encoding, axis=1)
