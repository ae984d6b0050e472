"""Stage 5, encodings → matches: nearest watchlist subject by Euclidean distance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lfr_batch.watchlist import Subject, Watchlist

DEFAULT_THRESHOLD = 0.6  # dlib's published operating point for its 128-d encodings
NO_SUBJECT = -1


@dataclass(frozen=True)
class Matches:
    """For each probe encoding: the nearest subject's index (or ``NO_SUBJECT``
    beyond the threshold) and the distance to that subject's closest encoding."""

    subject_index: np.ndarray  # N int64, index into Watchlist.subjects
    distance: np.ndarray  # N float64

    @property
    def matched(self) -> np.ndarray:
        return self.subject_index != NO_SUBJECT


class WatchlistMatcher:
    """Compares probe encodings with the subjects still in force at ``at``."""

    def __init__(self, watchlist: Watchlist, threshold: float, at: datetime) -> None:
        if not 0.0 < threshold < 2.0:
            raise ValueError("threshold must lie between 0 and 2")
        self.watchlist = watchlist
        self.threshold = threshold
        self.expired: list[Subject] = [
            s for s in watchlist.subjects if s.expires and s.is_expired(at)
        ]
        expired_ids = {s.subject_id for s in self.expired}
        expired_index = [i for i, s in enumerate(watchlist.subjects) if s.subject_id in expired_ids]
        keep = ~np.isin(watchlist.encoding_subject, expired_index)
        self._references = watchlist.encodings[keep]
        self._reference_subject = watchlist.encoding_subject[keep]
        # float32 for the search (half the memory traffic); the winner's distance is
        # then computed exactly in float64.
        self._references32 = self._references.astype(np.float32)
        self._reference_sq_norms = np.einsum("ij,ij->i", self._references32, self._references32)

    @property
    def active_subjects(self) -> int:
        return len(np.unique(self._reference_subject))

    def match(self, encodings: np.ndarray) -> Matches:
        count = len(encodings)
        if count == 0 or len(self._references) == 0:
            return Matches(np.full(count, NO_SUBJECT, dtype=np.int64), np.full(count, np.inf))
        # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b: one matrix product for all probes and references.
        probes32 = encodings.astype(np.float32)
        squared = self._reference_sq_norms[None, :] - 2.0 * probes32 @ self._references32.T
        nearest = np.argmin(squared, axis=1)
        distance = np.linalg.norm(self._references[nearest] - encodings, axis=1)
        subject = np.where(distance <= self.threshold, self._reference_subject[nearest], NO_SUBJECT)
        return Matches(subject_index=subject.astype(np.int64), distance=distance)
