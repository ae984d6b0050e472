"""What a watchlist is: its subjects (id, name, published category, reason, expiry)
and their reference encodings, each row tied to a subject and a photo.

Each reference photo gives two rows: its encoding, as face_recognition computes it,
and its *footage view*'s, the photo as a camera sees a passer-by
(:func:`lfr_batch.vision.photos.as_footage`); a subject's centroid holds both, so
it lies nearer the small, soft faces of footage. Older files and face_recognition
pickles have photo rows only, and match as before.

A list holds no threshold: each scan calibrates its subjects' cuts on faces from
footage (:mod:`lfr_batch.vision.calibration`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from lfr_batch.errors import WatchlistError
from lfr_batch.files import is_utf8_text
from lfr_batch.times import LATEST, RANGE_TEXT, in_range

# The length of dlib's face encodings, and so of every reference row of a list.
ENCODING_SIZE = 128
# The categories police forces publish, with the short keys a subjects.csv may use.
CATEGORIES: dict[str, str] = {
    "wanted": "Wanted by the courts",
    "suspect": "Suspected of an offence",
    "risk_of_harm": "Risk of harm to self or others",
    "bail_breach": "Breach of bail or a court order",
}


_CATEGORY_LOOKUP = {
    **CATEGORIES,
    **{label.lower(): label for label in CATEGORIES.values()},
    "wanted by the courts": CATEGORIES["wanted"],
    "suspected of an offence": CATEGORIES["suspect"],
    "missing": CATEGORIES["risk_of_harm"],
    "vulnerable": CATEGORIES["risk_of_harm"],
    "missing or vulnerable": CATEGORIES["risk_of_harm"],
    "breach of bail": CATEGORIES["bail_breach"],
    "breach of a court order": CATEGORIES["bail_breach"],
}


# dlib's encodings lie within ±1; far beyond that a file was not made by an encoder.
MAX_ENCODING_VALUE = 10.0


def normalise_category(value: str) -> str:
    """Map a category as written in subjects.csv to its published wording."""
    text = " ".join(value.strip().split())
    if not text:
        return ""
    label = _CATEGORY_LOOKUP.get(text.lower()) or _CATEGORY_LOOKUP.get(text.lower().replace(" ", "_"))
    if label is None:
        choices = "; ".join(f"{key} ({label})" for key, label in CATEGORIES.items())
        raise WatchlistError(f"unknown category {value[:80]!r}; use one of: {choices}")
    return label


_CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|$)")


def parse_expiry(value: str) -> date | datetime | None:
    """An expiry as written (ISO 8601): a date, a date-time, or nothing (never). A date
    after the last the tool accepts (9999-12-31, a common way to write "never") is never."""
    text = value.strip()
    if not text:
        return None
    try:
        # A calendar date first (YYYY-MM-DD): Python also reads ISO week dates and the
        # basic format (2026-W53, 20261231), which a spreadsheet never writes and a reader misreads.
        if not _CALENDAR_DATE.match(text):
            raise ValueError(text)
        expires = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise WatchlistError(
            f"expiry {value[:40]!r} is not an ISO 8601 date (YYYY-MM-DD) or date-time"
        ) from None
    if isinstance(expires, datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)  # a time without a zone is UTC, and is kept so
    moment = expires if isinstance(expires, datetime) else datetime.combine(expires, time())
    if moment.replace(tzinfo=None) > LATEST:
        return None
    if not in_range(moment):
        raise WatchlistError(f"expiry {text!r} is not {RANGE_TEXT} (leave it empty for never)")
    return expires


def expiry_text(expires: date | datetime | None) -> str:
    """An expiry as stored and shown: ISO 8601, empty for never."""
    return "" if expires is None else expires.isoformat()


@dataclass(frozen=True)
class Subject:
    subject_id: str
    name: str = ""
    category: str = ""
    reason: str = ""
    expires: date | datetime | None = None  # a bare date lasts to the end of that day; None: never
    photo_jpeg: bytes = b""  # a small reference crop, shown beside alerts at review

    def expires_at(self) -> datetime | None:
        """The moment the entry lapses; a bare date lasts until the end of that day (UTC)."""
        if self.expires is None:
            return None
        if not isinstance(self.expires, datetime):
            return datetime.combine(self.expires + timedelta(days=1), time(), UTC)
        return self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=UTC)

    def is_expired(self, at: datetime) -> bool:
        lapses = self.expires_at()
        return lapses is not None and at >= lapses


SUBJECT_FIELDS = ("subject_id", "name", "category", "reason", "expires", "photo_jpeg")


def subject_centroids(encodings: np.ndarray, encoding_subject: np.ndarray, subjects: int) -> np.ndarray:
    """The mean encoding of each subject (S×128)."""
    sums = np.zeros((subjects, encodings.shape[1]))
    np.add.at(sums, encoding_subject, encodings)
    counts = np.bincount(encoding_subject, minlength=subjects)
    return sums / np.maximum(counts, 1)[:, None]


@dataclass
class Watchlist:
    subjects: list[Subject]
    encodings: np.ndarray  # N×128 float64
    encoding_subject: np.ndarray  # N int64, index into subjects
    encoding_source: list[str] = field(default_factory=list)
    # N bool: the row encodes its photo's footage view, not the photo (none in older files)
    encoding_footage_view: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    created: datetime | None = None  # when the list was built
    models: dict[str, str] = field(default_factory=dict)
    legacy_format: bool = False

    def __post_init__(self) -> None:
        self.encodings = np.asarray(self.encodings, dtype=np.float64)
        self.encoding_subject = np.asarray(self.encoding_subject, dtype=np.int64)
        if len(self.encoding_footage_view) == 0:
            self.encoding_footage_view = np.zeros(len(self.encoding_subject), dtype=bool)
        self.encoding_footage_view = np.asarray(self.encoding_footage_view, dtype=bool)
        if (
            self.encodings.ndim != 2
            or self.encodings.shape[1] != ENCODING_SIZE
            or self.encoding_subject.ndim != 1
        ):
            raise WatchlistError(
                f"watchlist is malformed: encodings must be N×{ENCODING_SIZE}, not {self.encodings.shape}"
            )
        if not self.subjects:
            raise WatchlistError("watchlist is malformed: it holds no subjects")
        if len(self.encodings) != len(self.encoding_subject):
            raise WatchlistError("watchlist is malformed: encodings and their subjects differ in number")
        if self.encoding_footage_view.shape != self.encoding_subject.shape:
            raise WatchlistError(
                "watchlist is malformed: encodings and their footage-view flags differ in number"
            )
        if len(self.encoding_subject) and (
            self.encoding_subject.min() < 0 or self.encoding_subject.max() >= len(self.subjects)
        ):
            raise WatchlistError("watchlist is malformed: an encoding names a subject that is not listed")
        if not np.isfinite(self.encodings).all():
            raise WatchlistError("watchlist is malformed: encodings contain NaN or infinity")
        if len(self.encodings) and np.abs(self.encodings).max() > MAX_ENCODING_VALUE:
            raise WatchlistError("watchlist is malformed: encodings lie far outside the encoder's range")
        ids = [s.subject_id for s in self.subjects]
        if len(set(ids)) != len(ids):
            raise WatchlistError("watchlist is malformed: subject ids repeat")
        if not all(subject_id.strip() for subject_id in ids):
            raise WatchlistError("watchlist is malformed: a subject has no id (an empty name)")
        for subject in self.subjects:
            # Text that cannot be written as UTF-8 (a lone surrogate, from a name in another
            # encoding) would stop every report that names the subject.
            texts = (subject.subject_id, subject.name, subject.category, subject.reason)
            if not all(is_utf8_text(text) for text in texts):
                shown = subject.subject_id.encode("utf-8", "backslashreplace").decode("utf-8")
                raise WatchlistError(
                    f"watchlist is malformed: subject {shown[:80]} holds text that is not UTF-8"
                )

    def encoding_photo(self) -> np.ndarray:
        """Which reference photo each row comes from (a photo and its footage view share
        one); every row its own where the file names no photos."""
        if len(self.encoding_source) != len(self.encodings):
            return np.arange(len(self.encodings))
        keys = [
            f"{subject}/{source}"
            for subject, source in zip(self.encoding_subject, self.encoding_source, strict=True)
        ]
        return np.unique(np.array(keys, dtype=object), return_inverse=True)[1].astype(np.int64)

    def centroids(self) -> np.ndarray:
        """Each subject's mean encoding (S×128): what a face is compared with."""
        return subject_centroids(self.encodings, self.encoding_subject, self.size)

    def own_probe_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """Each photo shown as footage shows a face (its footage view; the photo itself in
        lists without views), against the centroid of its subject's other photos and their
        views: the subject of each probe, and its distance. Photos of subjects with one
        photo have nothing to be compared with and are left out."""
        photo = self.encoding_photo()
        has_views = bool(self.encoding_footage_view.any())
        probe_rows = np.flatnonzero(self.encoding_footage_view if has_views else ~self.encoding_footage_view)
        subject_sums = np.zeros((self.size, ENCODING_SIZE))
        np.add.at(subject_sums, self.encoding_subject, self.encodings)
        subject_counts = np.bincount(self.encoding_subject, minlength=self.size)
        photo_sums = np.zeros((int(photo.max()) + 1, ENCODING_SIZE))
        np.add.at(photo_sums, photo, self.encodings)
        photo_counts = np.bincount(photo)
        owner = self.encoding_subject[probe_rows]
        rest = subject_counts[owner] - photo_counts[photo[probe_rows]]
        kept = rest > 0
        probe_rows, owner, rest = probe_rows[kept], owner[kept], rest[kept]
        others = (subject_sums[owner] - photo_sums[photo[probe_rows]]) / rest[:, None]
        return owner, np.linalg.norm(self.encodings[probe_rows] - others, axis=1)

    def missed_share(self, cuts: np.ndarray) -> float | None:
        """The share of the list's own footage-like probes further than their subject's
        cut (None where no subject has two photos): how often one view of a listed
        person, as footage shows a face, would be missed."""
        owner, distances = self.own_probe_distances()
        return float(np.mean(distances > cuts[owner])) if len(owner) else None

    @property
    def size(self) -> int:
        """Subjects on the list, the figure forces publish as watchlist size."""
        return len(self.subjects)

    def photos_per_subject(self) -> np.ndarray:
        """Reference photos per subject (a photo's footage view is not another photo)."""
        photos = self.encoding_subject[~self.encoding_footage_view]
        return np.bincount(photos, minlength=len(self.subjects))
