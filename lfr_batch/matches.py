"""Stage 5, encodings → matches: nearest watchlist subject by Euclidean distance."""

from __future__ import annotations

import functools
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
        expired_index = [i for i, s in enumerate(watchlist.subjects) if s.expires and s.is_expired(at)]
        self.expired: list[Subject] = [watchlist.subjects[i] for i in expired_index]
        self._keep = ~np.isin(watchlist.encoding_subject, expired_index)

    @functools.cached_property
    def _search(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """References still in force, their subjects, and a float32 copy with squared
        norms for the search (half the memory traffic); built on first use."""
        references = self.watchlist.encodings[self._keep]
        references32 = references.astype(np.float32)
        squared_norms = np.einsum("ij,ij->i", references32, references32)
        return references, self.watchlist.encoding_subject[self._keep], references32, squared_norms

    def match(self, encodings: np.ndarray) -> Matches:
        references, reference_subject, references32, squared_norms = self._search
        count = len(encodings)
        if count == 0 or len(references) == 0:
            return Matches(np.full(count, NO_SUBJECT, dtype=np.int64), np.full(count, np.inf))
        # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b, less the probe's own norm, which does not change the
        # nearest: one matrix product for all probes; the winner is then measured in float64.
        partial = squared_norms[None, :] - 2.0 * (encodings.astype(np.float32) @ references32.T)
        nearest = np.argmin(partial, axis=1)
        distance = np.linalg.norm(references[nearest] - encodings, axis=1)
        subject = np.where(distance <= self.threshold, reference_subject[nearest], NO_SUBJECT)
        return Matches(subject_index=subject.astype(np.int64), distance=distance)
