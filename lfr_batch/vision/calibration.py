"""How often a stranger would alert against a given watchlist, at each threshold.

A scan compares every face seen with every subject on the list, so the chance
that a stranger lies within the threshold of *someone* grows with the list.
The distances between photos of different subjects on the list (and of people
known not to be on it, ``watchlist build --background``) sample that chance for
one subject; their lower tail is fitted with a normal distribution (a straight
line in probit space), which extrapolates below what the pairs can resolve;
and the share of strangers who would alert against S subjects is
``1 − (1 − q)^S``. Subjects are represented by the centroid of their encodings,
as the matcher does (:mod:`lfr_batch.vision.matches`).

Faces in footage are not photos: small, compressed, noisy faces drift towards
the average face, and a stranger's track lies nearer the list than their photo
would. ``benchmarks/accuracy.py`` measures that drift on synthetic footage over a
real moving scene: strangers alert as often at a threshold t as photos do at
t + 0.05. Expected rates are read at ``threshold + FOOTAGE_SHIFT`` accordingly.

A list too small to sample its own tail uses :data:`REFERENCE_TAIL`, measured
on 635 photos of 86 people, or, where its subjects carry their photos' footage
views, :data:`REFERENCE_TAIL_WITH_FOOTAGE_VIEWS`, measured on the same photos
and their views: the views bring strangers nearer the subjects
(``benchmarks/accuracy.py`` prints both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

_NORMAL = NormalDist()

# Probabilities at which the lower tail of the impostor distances is read for the fit:
# from where the sample resolves it up to 5 %, beyond which the bulk, not the tail, rules.
_TAIL_TOP = 0.05
_TAIL_POINTS = 8
# Fewer probe-to-subject comparisons than this cannot resolve a tail worth fitting.
MIN_PAIRS = 1000
# At least this many comparisons below the lowest probability read.
_MIN_TAIL_COUNT = 10
# Comparisons sampled at most: enough for a stable fit on a list of any size.
MAX_PAIRS = 2_000_000
_BLOCK_CELLS = 1_000_000
DEFAULT_MAX_FALSE_ALERT_RATE = 1e-4  # one false alert in 10,000 faces seen
# How much nearer the list a stranger's face in footage lies than their photo would.
FOOTAGE_SHIFT = 0.05
# Thresholds listed by `watchlist info` and searched by the auto threshold.
TABLE_THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
MISS_GRID = tuple(round(0.01 * step, 2) for step in range(101))  # 0.00 … 1.00


@dataclass(frozen=True)
class ImpostorTail:
    """The lower tail of probe-to-subject distances between different people:
    ``distance = location + scale · z`` at the normal quantile ``z``."""

    location: float
    scale: float
    pairs: int  # comparisons it was fitted on
    source: str  # "watchlist", "watchlist+background" or "reference"

    def share_within(self, threshold: float) -> float:
        """Chance that a stranger lies within ``threshold`` of one given subject."""
        return _NORMAL.cdf((threshold - self.location) / self.scale)

    def threshold_for(self, share: float) -> float:
        return self.location + self.scale * _NORMAL.inv_cdf(share)


# Fitted by benchmarks/accuracy.py on 635 photos of 86 people in ../shared/data/faces
# (LFW, ORL and press photos; dlib-bin 20.0.1), 53,975 comparisons with subject centroids.
REFERENCE_TAIL = ImpostorTail(location=0.7859, scale=0.0859, pairs=53_975, source="reference")
# The same photos and their footage views (watchlist build's default), 107,950 comparisons.
REFERENCE_TAIL_WITH_FOOTAGE_VIEWS = ImpostorTail(
    location=0.7531, scale=0.0813, pairs=107_950, source="reference"
)


@dataclass(frozen=True)
class Calibration:
    """What a watchlist's own photos say about its false alerts and misses."""

    tail: ImpostorTail
    # Share of the watchlist's own photos further than each threshold of MISS_GRID from
    # their subject's other photos (leave one out); empty when no subject has two photos.
    miss_shares: tuple[float, ...] = ()
    note: str = ""  # why the reference tail was used, when it was

    def expected_false_alert_rate(self, threshold: float, subjects: int) -> float:
        """Expected share of strangers' faces in footage that alert against ``subjects`` subjects."""
        share = self.tail.share_within(threshold + FOOTAGE_SHIFT)
        if share >= 1.0:
            return 1.0
        return -math.expm1(subjects * math.log1p(-share))

    def auto_threshold(self, max_rate: float, subjects: int) -> float:
        """The loosest threshold whose expected false alert rate stays under ``max_rate``."""
        per_subject = -math.expm1(math.log1p(-max_rate) / max(subjects, 1))
        cut = self.tail.threshold_for(per_subject) - FOOTAGE_SHIFT
        return round(math.floor(cut * 1000) / 1000, 3)

    def miss_share(self, threshold: float) -> float | None:
        if not self.miss_shares:
            return None
        position = int(np.searchsorted(MISS_GRID, threshold + 1e-9)) - 1
        return self.miss_shares[min(max(position, 0), len(MISS_GRID) - 1)]

    def table(self, subjects: int, thresholds: tuple[float, ...] = TABLE_THRESHOLDS) -> list[dict[str, Any]]:
        """Threshold → expected false alerts per 10,000 faces seen, and share of the
        watchlist's own photos that would be missed."""
        return [
            {
                "threshold": threshold,
                "false_alerts_per_10000": self.expected_false_alert_rate(threshold, subjects) * 10_000,
                "photos_missed": self.miss_share(threshold),
            }
            for threshold in thresholds
        ]

    def to_payload(self) -> dict[str, Any]:
        return {
            "location": self.tail.location,
            "scale": self.tail.scale,
            "pairs": self.tail.pairs,
            "source": self.tail.source,
            "miss_shares": list(self.miss_shares),
            "note": self.note,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Calibration:
        location, scale = float(payload["location"]), float(payload["scale"])
        miss_shares = tuple(float(v) for v in payload["miss_shares"])
        if not (math.isfinite(location) and math.isfinite(scale) and scale > 0):
            raise ValueError("calibration tail is not a finite, increasing line")
        if miss_shares and (len(miss_shares) != len(MISS_GRID) or not all(0 <= v <= 1 for v in miss_shares)):
            raise ValueError("calibration miss shares are malformed")
        pairs, source, note = payload["pairs"], payload["source"], payload["note"]
        if not isinstance(pairs, int) or not isinstance(source, str) or not isinstance(note, str):
            raise TypeError("calibration fields have the wrong types")
        return cls(ImpostorTail(location, scale, pairs, source), miss_shares, note)


def subject_centroids(encodings: np.ndarray, encoding_subject: np.ndarray, subjects: int) -> np.ndarray:
    """The mean encoding of each subject (S×128)."""
    sums = np.zeros((subjects, encodings.shape[1]))
    np.add.at(sums, encoding_subject, encodings)
    counts = np.bincount(encoding_subject, minlength=subjects)
    return sums / np.maximum(counts, 1)[:, None]


def impostor_distances(
    encodings: np.ndarray,
    encoding_subject: np.ndarray,
    centroids: np.ndarray,
    background: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Distances from photos to the centroids of subjects they are not: each list
    photo to every other subject, each background photo to every subject."""
    subjects = len(centroids)
    probes = np.concatenate([encodings, background])
    owner = np.concatenate([encoding_subject, np.full(len(background), -1)])
    per_probe = max(subjects - 1, 1)
    if len(probes) * per_probe > MAX_PAIRS:
        keep = rng.choice(len(probes), size=max(MAX_PAIRS // per_probe, 1), replace=False)
        probes, owner = probes[keep], owner[keep]
    found = []
    squared_norms = np.einsum("ij,ij->i", centroids, centroids)
    block_rows = max(1, _BLOCK_CELLS // subjects)  # a probes × subjects block stays small
    for start in range(0, len(probes), block_rows):
        block, block_owner = probes[start : start + block_rows], owner[start : start + block_rows]
        squared = (
            squared_norms[None, :] + np.einsum("ij,ij->i", block, block)[:, None] - 2 * block @ centroids.T
        )
        distances = np.sqrt(np.maximum(squared, 0.0))
        others = np.arange(subjects)[None, :] != block_owner[:, None]
        found.append(distances[others])
    return np.concatenate(found) if found else np.zeros(0)


def fit_tail(distances: np.ndarray, source: str) -> ImpostorTail | None:
    """A probit line through the lower tail, or None where the sample cannot resolve it."""
    count = len(distances)
    if count < MIN_PAIRS:
        return None
    lowest = _MIN_TAIL_COUNT / count
    shares = np.geomspace(lowest, _TAIL_TOP, _TAIL_POINTS)
    quantiles = np.quantile(distances, shares)
    z = np.array([_NORMAL.inv_cdf(float(share)) for share in shares])
    scale, location = np.polyfit(z, quantiles, 1)
    if not (np.isfinite(scale) and np.isfinite(location)) or scale <= 0:
        return None
    return ImpostorTail(round(float(location), 4), round(float(scale), 4), count, source)


def genuine_miss_shares(
    encodings: np.ndarray,
    encoding_subject: np.ndarray,
    encoding_photo: np.ndarray | None = None,
    footage_view: np.ndarray | None = None,
) -> tuple[float, ...]:
    """Leave one photo out: its distance to the centroid of its subject's other photos.
    ``encoding_photo`` says which photo each row comes from (default: each its own), so
    a photo's footage view (``footage_view``) leaves with it and is never a probe."""
    if len(encodings) == 0:
        return ()
    photo = np.arange(len(encodings)) if encoding_photo is None else encoding_photo
    probe = np.ones(len(encodings), dtype=bool) if footage_view is None else ~footage_view
    subject_sums = np.zeros((int(encoding_subject.max()) + 1, encodings.shape[1]))
    np.add.at(subject_sums, encoding_subject, encodings)
    subject_counts = np.bincount(encoding_subject)
    photo_sums = np.zeros((int(photo.max()) + 1, encodings.shape[1]))
    np.add.at(photo_sums, photo, encodings)
    photo_counts = np.bincount(photo)
    rest = subject_counts[encoding_subject] - photo_counts[photo]
    rows = np.flatnonzero(probe & (rest > 0))
    if not len(rows):
        return ()
    others = (subject_sums[encoding_subject[rows]] - photo_sums[photo[rows]]) / rest[rows][:, None]
    distances = np.linalg.norm(encodings[rows] - others, axis=1)
    return tuple(round(float((distances > t).mean()), 4) for t in MISS_GRID)


def calibrate(
    encodings: np.ndarray,
    encoding_subject: np.ndarray,
    subjects: int,
    background: np.ndarray | None = None,
    seed: int = 0,
    encoding_photo: np.ndarray | None = None,
    footage_view: np.ndarray | None = None,
) -> Calibration:
    """Calibrate from the list's own photos (and their footage views), plus photos of
    people not on it."""
    extra = background if background is not None else np.zeros((0, encodings.shape[1]))
    centroids = subject_centroids(encodings, encoding_subject, subjects)
    distances = impostor_distances(encodings, encoding_subject, centroids, extra, np.random.default_rng(seed))
    source = "watchlist+background" if len(extra) else "watchlist"
    tail = fit_tail(distances, source)
    miss_shares = genuine_miss_shares(encodings, encoding_subject, encoding_photo, footage_view)
    if tail is None:
        note = (
            f"too few comparisons between different people to calibrate ({len(distances)}, "
            f"{MIN_PAIRS} needed): using the reference calibration; add photos of people not "
            "on the list with `watchlist build --background DIR`"
        )
        with_views = footage_view is not None and bool(footage_view.any())
        reference = REFERENCE_TAIL_WITH_FOOTAGE_VIEWS if with_views else REFERENCE_TAIL
        return Calibration(reference, miss_shares, note)
    return Calibration(tail, miss_shares)
