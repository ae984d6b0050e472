"""How near strangers' faces in footage come to each watchlist subject, and the cut each
subject gets.

A stranger walking past is compared with every subject on the list. Where their
track's encoding lies from subject s is modelled as ``d = m_s + σ·z``: ``m_s`` is
where strangers' faces typically lie from that subject, and ``z`` follows one lower
tail for every subject, a straight line in probit space (``z = a + b·Φ⁻¹(p)``) that
extrapolates below what any sample resolves. Each subject is scored against its own
strangers, as speaker and face verification normalise each enrolled model's scores by
its impostors (Z-normalisation).

Where strangers lie depends on the subject and on the footage. A subject whose
centroid lies near the average face draws strangers near; so do subjects whose
photos were all taken under one camera and light (ORL here; a force's custody
photos); and small, soft footage faces drift towards the average face, nearer
everyone. So ``m_s`` is measured on faces from footage, best first:

- **the faces of the run itself**, and of any background footage given with it:
  nearly every face seen is a stranger. Each face's distances to the subjects add to
  one histogram per subject (:class:`DistanceHistograms`, counts only: no encoding,
  no crop, nothing per face); a watchlisted face is one value among the many in its
  subject's histogram, and the median does not move for it;
- **the reference** (:class:`FootageReference`), where a run has few faces:
  ``m_s = sqrt(|c_s − μ|² + T)`` with ``μ`` the average encoding of strangers' tracks
  in footage and ``T`` their mean squared distance from it, fitted on filmed strangers
  by ``benchmarks/accuracy.py`` (``data/footage_reference.json``).

The two are weighed by how sure each is: the reference by how far it strayed from
crowds it was not fitted on, the faces' medians by how many faces they rest on; what
remains unsure widens the tail.

A false alert rate is promised for the list as a whole: each subject gets the cut at
which a share ``ρ`` of strangers would lie within it, with ``1 − (1 − ρ)^S`` the rate
allowed against ``S`` subjects. A subject that draws strangers near gets a stricter cut,
and the rest of the list does not pay for it. No cut is looser than
:data:`CEILING_MARGIN` beyond the reference's: a run keeps the evidence of faces within
those ceilings only, so none is lost when the run's own faces loosen a cut.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from importlib import resources
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lfr_batch.watchlist.model import Watchlist

_NORMAL = NormalDist()

DEFAULT_MAX_FALSE_ALERT_RATE = 1e-4  # one false alert in 10,000 faces seen
# Warn when more of the list's own footage-like photos than this lie beyond their cut.
MISSED_SHARE_WARNING = 0.2
# The most a run's own faces may loosen a subject's cut beyond the reference's.
CEILING_MARGIN = 0.05
# Histogram bins of a face's distance to a subject: 0.005 wide, from 0 to 1.5
# (encodings lie within about 1.2 of each other).
BIN_WIDTH = 0.005
BINS = 300
# Thresholds listed by `watchlist info` beside the per-subject cuts.
TABLE_THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
REFERENCE_FILE = "footage_reference.json"
# Probabilities at which the lower tail of the normalised distances is read for the
# fit: from where the sample resolves it up to 5 %, beyond which the bulk rules.
_TAIL_TOP = 0.05
_TAIL_POINTS = 8
_MIN_TAIL_COUNT = 10
# A footage's own medians (per subject) need this many of its tracks to be read against.
MIN_FOOTAGE_TRACKS = 10
# A median of n draws strays about 1.25·σ/√n (π/2 of the mean's variance, normal draws).
MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)


def per_subject_share(max_rate: float, subjects: int) -> float:
    """The share of strangers each of ``subjects`` may draw so that the list as a whole
    alerts on ``max_rate`` of them: ``1 − (1 − ρ)^S = max_rate``."""
    return -math.expm1(math.log1p(-max_rate) / max(subjects, 1))


def pairwise_distances(probes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Euclidean distances, probes × centroids, in one matrix product."""
    squared = (
        np.einsum("ij,ij->i", probes, probes)[:, None]
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
        - 2.0 * probes @ centroids.T
    )
    return np.sqrt(np.maximum(squared, 0.0))


@dataclass(frozen=True)
class FootageReference:
    """Strangers' tracks in footage, as measured: their average encoding and spread
    about it, how far one stranger's distance to a subject strays from where strangers
    lie from that subject, and the normalised lower tail of those strays."""

    mean_face: np.ndarray  # 128: the average encoding of strangers' tracks
    spread: float  # T: their mean squared distance from mean_face
    scale: float  # σ: the spread of a stranger's distance to a subject about that subject's median
    shift: float  # how far the reference's m_s strays from a crowd's own, one subject with another
    tail_offset: float  # a, in z = a + b·Φ⁻¹(p)
    tail_slope: float  # b
    tracks: int  # stranger tracks it was fitted on
    people: int  # different people among them
    fitted_on: str  # what footage, in words

    def locations(self, centroids: np.ndarray) -> np.ndarray:
        """Where strangers typically lie from each subject: ``sqrt(|c_s − μ|² + T)``."""
        offsets = centroids - self.mean_face
        return np.sqrt(np.einsum("ij,ij->i", offsets, offsets) + self.spread)

    def to_payload(self) -> dict[str, Any]:
        return {
            "mean_face": [round(float(v), 6) for v in self.mean_face],
            **{name: getattr(self, name) for name in _REFERENCE_NUMBERS},
            "tracks": self.tracks,
            "people": self.people,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> FootageReference:
        mean_face = np.asarray(payload["mean_face"], dtype=np.float64)
        numbers = {name: float(payload[name]) for name in _REFERENCE_NUMBERS}
        if mean_face.shape != (128,) or not np.isfinite(mean_face).all():
            raise ValueError("footage reference: mean_face must be 128 finite numbers")
        if (
            not all(math.isfinite(v) for v in numbers.values())
            or min(numbers["spread"], numbers["scale"], numbers["tail_slope"]) <= 0
            or numbers["shift"] < 0
        ):
            raise ValueError(
                "footage reference: spread, scale and slope must be positive, shift not negative"
            )
        return cls(
            mean_face, **numbers, tracks=int(payload["tracks"]), people=int(payload["people"]),
            fitted_on=str(payload["fitted_on"]),
        )  # fmt: skip

    @classmethod
    def fit(
        cls,
        track_encodings: np.ndarray,
        track_people: list[str],
        track_footage: list[str],
        centroids: np.ndarray,
        subject_people: list[str],
        fitted_on: str,
    ) -> FootageReference:
        """Fit on strangers' tracks against subjects, never comparing a track with its
        own person (``track_footage`` names each track's clip or scene).

        ``scale`` and the tail are read about each subject's median in the footage a
        track came from, as a crowd's own faces measure it (footage of fewer than
        :data:`MIN_FOOTAGE_TRACKS` tracks gives medians too unsure for that); ``shift``
        is how far the reference strays beyond that in footage it has not seen: the
        average face of all the other footage against the distances of the one left out."""
        distances = pairwise_distances(track_encodings, centroids)
        other = np.array([[mine != theirs for theirs in subject_people] for mine in track_people])
        footage = np.array(track_footage)
        within, crossed = [], []
        for name in sorted(set(track_footage)):
            mine = footage == name
            others = cls.fit_average(track_encodings[~mine])
            crossed.append((distances[mine] - others.locations(centroids)[None, :])[other[mine]])
            if mine.sum() < MIN_FOOTAGE_TRACKS:
                continue
            medians = np.array(
                [np.median(column[rows]) if rows.any() else np.nan for column, rows in zip(
                    distances[mine].T, other[mine].T, strict=True)]
            )  # fmt: skip
            within.append((distances[mine] - medians[None, :])[other[mine]])
        pooled = np.concatenate(within)
        scale = float(np.std(pooled))
        crossed_scale = float(np.sqrt(np.mean(np.concatenate(crossed) ** 2)))
        offset, slope = fit_tail(pooled / scale)
        whole = cls.fit_average(track_encodings)
        return cls(
            whole.mean_face,
            round(whole.spread, 5),
            round(scale, 5),
            round(math.sqrt(max(crossed_scale**2 - scale**2, 0.0)), 5),
            round(offset, 4),
            round(slope, 4),
            len(track_encodings),
            len(set(track_people)),
            fitted_on,
        )

    @classmethod
    def fit_average(cls, track_encodings: np.ndarray) -> FootageReference:
        """The average face and spread of some tracks, and nothing else."""
        mean_face = track_encodings.mean(axis=0)
        spread = float(np.mean(np.sum((track_encodings - mean_face) ** 2, axis=1)))
        return cls(mean_face, spread, 1.0, 0.0, 0.0, 1.0, len(track_encodings), 0, "")


_REFERENCE_NUMBERS = ("spread", "scale", "shift", "tail_offset", "tail_slope")


def fit_tail(normalised: np.ndarray) -> tuple[float, float]:
    """The probit line ``z = a + b·Φ⁻¹(p)`` through the lower tail of a sample."""
    lowest = _MIN_TAIL_COUNT / len(normalised)
    shares = np.geomspace(lowest, _TAIL_TOP, _TAIL_POINTS)
    quantiles = np.quantile(normalised, shares)
    probits = np.array([_NORMAL.inv_cdf(float(share)) for share in shares])
    slope, offset = np.polyfit(probits, quantiles, 1)
    return float(offset), float(slope)


def load_reference() -> FootageReference:
    """The reference bundled with the package."""
    text = resources.files("lfr_batch.vision").joinpath("data", REFERENCE_FILE).read_text("utf-8")
    return FootageReference.from_payload(json.loads(text))


class DistanceHistograms:
    """The distances from faces in footage to each subject, as counts per subject and
    distance bin: what a run keeps of its faces for calibration, and all it keeps.

    A face within a subject's ceiling may be that subject, and its distance is left out
    of that subject's histogram: a run of three faces, one of them the listed person,
    would otherwise put the subject's median halfway to her. Strangers lie that near
    about once in a thousand, so leaving them out moves no median."""

    def __init__(self, subjects: int) -> None:
        self.counts = np.zeros((subjects, BINS), dtype=np.int64)
        self.faces = 0

    def add(self, distances: np.ndarray, ceilings: np.ndarray | float = 0.0) -> None:
        """One row of distances to every subject per face; those within ``ceilings`` of
        their subject are not counted."""
        distances = np.atleast_2d(distances)
        bins = np.clip((distances / BIN_WIDTH).astype(np.int64), 0, BINS - 1)
        rows = np.broadcast_to(np.arange(self.counts.shape[0]), bins.shape)
        beyond = distances > ceilings
        np.add.at(self.counts, (rows[beyond], bins[beyond]), 1)
        self.faces += len(distances)

    @property
    def per_subject(self) -> np.ndarray:
        """How many faces each subject's median rests on."""
        return self.counts.sum(axis=1)

    def merge(self, other: DistanceHistograms) -> None:
        self.counts += other.counts
        self.faces += other.faces

    def medians(self) -> np.ndarray:
        """Each subject's median distance, interpolated within its bin (nan: no face)."""
        cumulative = np.cumsum(self.counts, axis=1)
        half = cumulative[:, -1:] / 2.0
        index = np.argmax(cumulative >= half, axis=1)
        rows = np.arange(len(index))
        below = np.where(index > 0, cumulative[rows, np.maximum(index - 1, 0)], 0)
        inside = np.maximum(self.counts[rows, index], 1)
        medians = (index + (half[:, 0] - below) / inside) * BIN_WIDTH
        return np.where(cumulative[:, -1] > 0, medians, np.nan)


@dataclass(frozen=True)
class Calibration:
    """Where strangers lie from each subject of one list, and the normalised tail."""

    locations: np.ndarray  # S: m_s
    ceilings: np.ndarray  # S: the loosest cut each subject may get
    scale: float  # σ, with the uncertainty of the locations in it
    tail_offset: float
    tail_slope: float
    faces: int  # faces from footage the locations rest on, besides the reference
    source: str  # what set the locations, in words

    @classmethod
    def for_list(
        cls,
        centroids: np.ndarray,
        max_rate: float,
        reference: FootageReference,
        faces: DistanceHistograms | None = None,
        source: str = "",
    ) -> Calibration:
        """The reference's locations, weighed with the medians of the faces seen by how
        sure each is (inverse variance): the reference's stray by its ``shift``, a
        median of n faces by about 1.25·σ/√n. What remains uncertain widens σ."""
        tail = (reference.tail_offset, reference.tail_slope)
        locations = reference.locations(centroids)
        reference_variance = max(reference.shift**2, 1e-12)
        alone = math.sqrt(reference.scale**2 + reference_variance)
        prior = cls(locations, np.full(len(centroids), np.inf), alone, *tail, 0, "reference")
        ceilings = prior.cuts(max_rate) + CEILING_MARGIN
        if faces is None or faces.faces == 0:
            return replace(prior, ceilings=ceilings)
        counted = faces.per_subject
        median_variance = (MEDIAN_EFFICIENCY * reference.scale) ** 2 / np.maximum(counted, 1)
        weight = np.where(counted > 0, reference_variance / (reference_variance + median_variance), 0.0)
        weighed = weight * np.nan_to_num(faces.medians()) + (1.0 - weight) * locations
        # Each subject's location is as unsure as the remaining stray; the list's scale
        # carries the typical subject's.
        remaining = np.median(np.where(counted > 0, weight * median_variance, reference_variance))
        scale = math.sqrt(reference.scale**2 + float(remaining))
        return cls(weighed, ceilings, scale, *tail, faces.faces, source)

    def share_within(self, cuts: np.ndarray | float) -> np.ndarray:
        """Per subject: the share of strangers' faces within its cut."""
        z = (np.asarray(cuts, dtype=np.float64) - self.locations) / self.scale
        probits = (z - self.tail_offset) / self.tail_slope
        return np.array([_NORMAL.cdf(float(p)) for p in np.broadcast_to(probits, self.locations.shape)])

    def cuts(self, max_rate: float) -> np.ndarray:
        """Each subject's cut, so that the list alerts on ``max_rate`` of strangers."""
        share = per_subject_share(max_rate, len(self.locations))
        z = self.tail_offset + self.tail_slope * _NORMAL.inv_cdf(share)
        raw = self.locations + self.scale * z
        return np.floor(np.minimum(raw, self.ceilings) * 1000) / 1000

    def expected_false_alert_rate(self, cuts: np.ndarray | float) -> float:
        """The expected share of strangers' faces that alert against the whole list."""
        shares = np.clip(self.share_within(cuts), 0.0, 1.0 - 1e-16)
        return float(-np.expm1(np.sum(np.log1p(-shares))))


@dataclass(frozen=True)
class Outlook:
    """What to expect of a list before any footage is seen, from the reference alone
    (a scan recalibrates each subject's cut on its own faces)."""

    cuts: np.ndarray  # each subject's cut at the rate asked for
    expected_false_alert_rate: float
    missed_share: float | None  # the list's own footage-like probes beyond their cut
    # threshold, expected false alert rate, share of own probes missed, at one cut for all
    table: tuple[tuple[float, float, float | None], ...]


def outlook(watchlist: Watchlist, max_rate: float) -> Outlook:
    calibration = Calibration.for_list(watchlist.centroids(), max_rate, load_reference())
    cuts = calibration.cuts(max_rate)
    table = tuple(
        (
            threshold,
            calibration.expected_false_alert_rate(threshold),
            watchlist.missed_share(np.full(watchlist.size, threshold)),
        )
        for threshold in TABLE_THRESHOLDS
    )
    return Outlook(cuts, calibration.expected_false_alert_rate(cuts), watchlist.missed_share(cuts), table)
