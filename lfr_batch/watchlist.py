"""The watchlist: subjects, their reference encodings, and its file format.

A watchlist file is a pickle of plain data only (no numpy objects)::

    {"format": "lfr-batch-watchlist", "format_version": 2, "created": ISO 8601,
     "models": {"detector": ..., "landmarks": ..., "encoder": ...},
     "subjects": {"subject_id": [...], "name": [...], "category": [...],
                  "reason": [...], "expires": [...], "photo_jpeg": [bytes, ...]},
     "encodings": {"dtype": "<f8", "shape": [N, 128], "data": bytes},
     "encoding_subject": {"dtype": "<i8", "shape": [N], "data": bytes} (row → subject),
     "encoding_source": [photo path of each row],
     "encoding_footage_view": [bool, ...] (row is its photo as footage shows faces)}

Each reference photo gives two rows: its encoding, as face_recognition computes it,
and its *footage view*'s, the photo as a camera sees a passer-by
(:func:`lfr_batch.vision.photos.as_footage`); a subject's centroid holds both, so
it lies nearer the small, soft faces of footage. Older files and face_recognition
pickles have photo rows only, and match as before.

A list holds no threshold: each scan calibrates its subjects' cuts on faces from
footage (:mod:`lfr_batch.vision.calibration`). Files written before that carry a
``calibration`` table fitted on the list's own photos; it is read past and unused.

Loading never runs code (:mod:`lfr_batch.safe_pickle`). Version 1 files, which
held numpy arrays, and pickles in the common face_recognition layout
(``{"encodings": [...], "names": [...]}``) load too, their arrays checked
before numpy reads them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lfr_batch.errors import WatchlistError
from lfr_batch.files import (
    RefusedFileError,
    open_regular,
    read_regular,
    warn_if_readable_by_others,
    write_atomic,
)
from lfr_batch.readers import read_table
from lfr_batch.safe_pickle import MAX_ARRAY_BYTES, RefusedPickleError, SafeUnpickler, materialise
from lfr_batch.signing import SIGNING_KEY_ENV, sign, signature_matches
from lfr_batch.times import LATEST, RANGE_TEXT, in_range, iso, parse_time
from lfr_batch.vision.calibration import TABLE_THRESHOLDS, Calibration, load_reference, subject_centroids
from lfr_batch.vision.encodings import ENCODING_SIZE, FaceEncoder
from lfr_batch.vision.faces import FaceDetector
from lfr_batch.vision.models import ENCODER_MODEL, HOG_DETECTOR_MODEL, LANDMARK_MODEL
from lfr_batch.vision.photos import PhotoError, as_footage, crop_face, encode_jpeg, load_photo

logger = logging.getLogger(__name__)

FORMAT_NAME = "lfr-batch-watchlist"
FORMAT_VERSION = 2
# A signed file: this line, the HMAC-SHA256 of the pickle in hex, a newline, the pickle.
SIGNED_MAGIC = b"LFR-BATCH-SIGNED-1 "
SUBJECTS_CSV = "subjects.csv"
SUBJECT_COLUMNS = ("subject_id", "name", "category", "reason", "expires")

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

# Reference photos are shrunk for detection only; the encoding uses the full photo,
# so it equals face_recognition's for the same image and box.
DETECTION_MAX_SIDE = 1024
REFERENCE_PHOTO_MAX_SIDE = 160
# dlib's encodings lie within ±1; far beyond that a file was not made by an encoder.
MAX_ENCODING_VALUE = 10.0
# Its encodings at most (lfr_batch.safe_pickle), their footage views, photos and names.
MAX_WATCHLIST_BYTES = 2 * MAX_ARRAY_BYTES


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


def parse_expiry(value: str) -> date | datetime | None:
    """An expiry as written (ISO 8601): a date, a date-time, or nothing (never). A date
    after the last the tool accepts (9999-12-31, a common way to write "never") is never."""
    text = value.strip()
    if not text:
        return None
    try:
        expires = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise WatchlistError(f"expiry {value[:40]!r} is not an ISO 8601 date or date-time") from None
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

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": iso(self.created),
            "models": dict(self.models),
            # One list per field: a list of 100,000 strings loads far faster than 100,000 dicts.
            "subjects": {
                name: [_stored_field(subject, name) for subject in self.subjects] for name in SUBJECT_FIELDS
            },
            "encodings": _array_field(self.encodings),
            "encoding_subject": _array_field(self.encoding_subject),
            "encoding_source": list(self.encoding_source),
            "encoding_footage_view": [bool(v) for v in self.encoding_footage_view],
        }


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


# --- loading --------------------------------------------------------------------------------


def load_watchlist(path: Path, key: bytes | None = None) -> Watchlist:
    """Load and validate a watchlist file; refuse anything that is not plain data and,
    with a ``key``, anything not signed with it."""
    if path.is_dir():
        raise WatchlistError(f"watchlist {path} is a folder; give the file 'watchlist build' wrote")
    if not path.exists() and not path.is_symlink():
        raise WatchlistError(f"watchlist not found: {path}")
    try:
        raw = read_regular(path, "watchlist", MAX_WATCHLIST_BYTES)
    except RefusedFileError as error:
        raise WatchlistError(str(error)) from None
    try:
        data = _unsigned(path, raw, key)
        payload = materialise(SafeUnpickler(io.BytesIO(data)).load())
    except RefusedPickleError as error:
        raise WatchlistError(f"refusing watchlist {path}: {error}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        RecursionError,
        MemoryError,
        OverflowError,
        UnicodeError,
    ) as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise WatchlistError(f"watchlist {path} is not a readable pickle ({reason})") from None
    if not isinstance(payload, dict):
        raise WatchlistError(f"watchlist {path} holds a {type(payload).__name__}, not a watchlist")
    try:
        if payload.get("format") == FORMAT_NAME:
            return _from_payload(payload)
        if "encodings" in payload and "names" in payload:
            return _from_face_recognition_layout(payload)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise WatchlistError(f"watchlist {path} is malformed: {error}") from None
    except WatchlistError as error:
        raise WatchlistError(f"watchlist {path}: {error}") from None
    raise WatchlistError(
        f"watchlist {path} is neither an lfr-batch watchlist nor a face_recognition "
        "pickle ({'encodings': [...], 'names': [...]})"
    )


def _stored_array(value: Any, kind: str, columns: int | None) -> np.ndarray:
    """An array as version 2 stores it ({dtype, shape, data}) or as version 1 did (an
    array), checked: ``kind`` 'f' or 'i', and N×columns (or N when columns is None)."""
    if isinstance(value, dict):
        if set(value) != {"dtype", "shape", "data"} or value["dtype"] not in ("<f8", "<i8"):
            raise TypeError("an array field must hold dtype <f8 or <i8, shape and data")
        shape = value["shape"]
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise TypeError("an array's shape must be a list of counts")
        if not isinstance(value["data"], bytes) or len(value["data"]) != 8 * int(
            np.prod(shape, dtype=np.int64)
        ):
            raise TypeError("an array's data does not fit its shape")
        value = np.frombuffer(value["data"], dtype=value["dtype"]).reshape(shape)
    if not isinstance(value, np.ndarray) or value.dtype.kind != kind:
        raise TypeError(f"expected an array of {'numbers' if kind == 'f' else 'whole numbers'}")
    expected = (value.shape[0], columns) if columns else (value.shape[0],) if value.ndim else None
    if value.shape != expected:
        raise TypeError(
            f"an array of shape {value.shape} where {'N×' + str(columns) if columns else 'N'} belongs"
        )
    return value.astype(np.float64 if kind == "f" else np.int64)


def _array_field(array: np.ndarray) -> dict[str, Any]:
    """How version 2 stores an array: plain bytes with their shape, no numpy objects."""
    little = array.astype(array.dtype.newbyteorder("<"))
    return {"dtype": little.dtype.str, "shape": list(array.shape), "data": little.tobytes()}


def _stored_field(subject: Subject, name: str) -> Any:
    return expiry_text(subject.expires) if name == "expires" else getattr(subject, name)


def _expiry(text: str) -> date | datetime | None:
    try:
        return parse_expiry(text)
    except WatchlistError as error:
        raise ValueError(str(error)) from None


def _created(text: str) -> datetime | None:
    """When the list was built; a list without a readable time counts as stale."""
    try:
        moment = parse_time(text)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _from_payload(payload: dict[str, Any]) -> Watchlist:
    version = payload.get("format_version")
    if version not in (1, FORMAT_VERSION):
        raise WatchlistError(
            f"watchlist format version {version!r} is not supported (expected 1 or {FORMAT_VERSION})"
        )
    columns = payload["subjects"]
    if not isinstance(columns, dict) or set(columns) != set(SUBJECT_FIELDS):
        raise TypeError(f"subjects must hold the fields {', '.join(SUBJECT_FIELDS)}")
    for name in SUBJECT_FIELDS:
        kind = bytes if name == "photo_jpeg" else str
        if not isinstance(columns[name], list) or not all(isinstance(v, kind) for v in columns[name]):
            raise TypeError(f"subject field {name} must be a list of {kind.__name__}")
    if len({len(column) for column in columns.values()}) != 1:
        raise TypeError("subject fields differ in length")
    columns = {**columns, "expires": [_expiry(text) for text in columns["expires"]]}
    subjects = [Subject(*values) for values in zip(*(columns[name] for name in SUBJECT_FIELDS), strict=True)]
    return Watchlist(
        subjects=subjects,
        encodings=_stored_array(payload["encodings"], "f", ENCODING_SIZE),
        encoding_subject=_stored_array(payload["encoding_subject"], "i", None),
        encoding_source=[_text(s) for s in payload.get("encoding_source", [])],
        encoding_footage_view=_flags(payload.get("encoding_footage_view", [])),
        created=_created(_text(payload.get("created"))),
        models={_text(k): _text(v) for k, v in payload.get("models", {}).items()},
    )


def _flags(value: Any) -> np.ndarray:
    if not isinstance(value, list) or not all(isinstance(v, bool) for v in value):
        raise TypeError("encoding_footage_view must be a list of true/false")
    return np.array(value, dtype=bool)


def _face_recognition_row(value: Any) -> np.ndarray:
    """One encoding: an array or a list of 128 numbers, nothing nested."""
    if isinstance(value, list) and all(type(v) in (int, float) for v in value):
        value = np.array(value, dtype=np.float64)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != (ENCODING_SIZE,):
        raise WatchlistError(f"face_recognition pickle holds encodings that are not {ENCODING_SIZE}-d")
    return value.astype(np.float64)


def _from_face_recognition_layout(payload: dict[str, Any]) -> Watchlist:
    if not isinstance(payload["names"], list) or not isinstance(payload["encodings"], list):
        raise TypeError("face_recognition pickle must hold a list of encodings and a list of names")
    names = [_text(n) for n in payload["names"]]
    if len(payload["encodings"]) != len(names):
        raise WatchlistError("face_recognition pickle has a different number of encodings and names")
    if not names:
        raise WatchlistError("face_recognition pickle holds no encodings: the watchlist would be empty")
    rows = [_face_recognition_row(e) for e in payload["encodings"]]
    order = list(dict.fromkeys(names))
    index = {name: i for i, name in enumerate(order)}
    return Watchlist(
        subjects=[Subject(subject_id=name, name=name) for name in order],
        encodings=np.stack(rows) if rows else np.zeros((0, ENCODING_SIZE)),
        encoding_subject=np.array([index[n] for n in names], dtype=np.int64),
        models={"encoder": ENCODER_MODEL, "landmarks": LANDMARK_MODEL},
        legacy_format=True,
    )


def save_watchlist(watchlist: Watchlist, path: Path, key: bytes | None = None) -> None:
    """Write the watchlist atomically (a crash never leaves half a file), owner-only (it
    holds the biometric templates of everyone on it), signed with ``key`` when one is
    given."""
    data = pickle.dumps(watchlist.to_payload(), protocol=pickle.HIGHEST_PROTOCOL)
    if key:
        data = SIGNED_MAGIC + sign(key, data).encode("ascii") + b"\n" + data
    write_atomic(path, data)


def warn_about_file(path: Path, key: bytes | None) -> None:
    """Once per command that uses a watchlist: a list every user of the machine can read,
    and a signed list whose signature goes unchecked (altered or not, nobody can tell)."""
    warn_if_readable_by_others(path, "watchlist")
    if key is None:
        with contextlib.suppress(RefusedFileError), open_regular(path, "watchlist") as handle:
            if handle.read(len(SIGNED_MAGIC)) == SIGNED_MAGIC:
                logger.warning(
                    "watchlist %s is signed, but its signature was not checked: %s is not set, so an "
                    "altered list would go unnoticed",
                    path,
                    SIGNING_KEY_ENV,
                )


def _unsigned(path: Path, data: bytes, key: bytes | None) -> bytes:
    """The pickle inside a watchlist file, its signature checked when a key is set."""
    signed = data.startswith(SIGNED_MAGIC)
    if not signed:
        if key:
            raise WatchlistError(f"refusing watchlist {path}: it is not signed, and {SIGNING_KEY_ENV} is set")
        return data
    header_end = len(SIGNED_MAGIC) + 64
    stated, body = data[len(SIGNED_MAGIC) : header_end], data[header_end + 1 :]
    if key and not signature_matches(key, body, stated):
        raise WatchlistError(
            f"refusing watchlist {path}: its signature does not match (altered, or signed with another key)"
        )
    return body


# --- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedPhoto:
    path: Path
    reason: str


@dataclass
class BuildResult:
    watchlist: Watchlist
    accepted_photos: int
    rejected: list[RejectedPhoto]
    subjects_without_photos: list[str]


def read_subjects_csv(path: Path) -> dict[str, Subject]:
    """Read the optional subjects.csv (``subject_id,name,category,reason,expires``)."""
    try:
        table = read_table(path, "subjects file", "subject_id")
    except RefusedFileError as error:
        reason = str(error)
        if "no subject_id column" in reason:
            reason = f"{path}: the header must name subject_id (columns: {', '.join(SUBJECT_COLUMNS)})"
        raise WatchlistError(reason) from None
    unknown = set(table.columns) - set(SUBJECT_COLUMNS)
    if unknown:
        raise WatchlistError(f"{path}: unknown column(s) {', '.join(sorted(unknown))[:200]}")
    subjects: dict[str, Subject] = {}
    for row in table.rows:
        subject_id = row.cells.get("subject_id", "")
        if not subject_id:
            raise WatchlistError(f"{path}, line {row.line}: subject_id is empty")
        if subject_id in subjects:
            raise WatchlistError(f"{path}, line {row.line}: subject_id {subject_id[:80]!r} appears twice")
        try:
            subjects[subject_id] = Subject(
                subject_id=subject_id,
                name=row.cells.get("name", ""),
                category=normalise_category(row.cells.get("category", "")),
                reason=row.cells.get("reason", ""),
                expires=parse_expiry(row.cells.get("expires", "")),
            )
        except WatchlistError as error:
            raise WatchlistError(f"{path}, line {row.line}: {error}") from None
    return subjects


def _detection_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    longest = max(image.shape[:2])
    if longest <= DETECTION_MAX_SIDE:
        return image, 1.0
    scale = DETECTION_MAX_SIDE / longest
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def one_face(
    photo: Path, detector: FaceDetector, encoder: FaceEncoder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo, its one face's box and that face's encoding; PhotoError says why not."""
    image = load_photo(photo)
    small, scale = _detection_copy(image)
    boxes = detector(small).boxes
    if len(boxes) != 1:
        raise PhotoError(
            "no face found"
            if len(boxes) == 0
            else f"{len(boxes)} faces found; a reference photo must show one"
        )
    box = np.round(boxes[0] / scale).astype(np.int32)
    return image, box, encoder(image, box[None, :])[0]


def footage_view_encoding(image: np.ndarray, box: np.ndarray, encoder: FaceEncoder) -> np.ndarray:
    """The encoding of the face at ``box`` as footage would show it."""
    small, small_box = as_footage(image, box)
    return encoder(small, small_box[None, :])[0]


def build_watchlist(
    source: Path,
    upsample: int = 1,
    now: datetime | None = None,
    on_photo: Callable[[Path, int], None] | None = None,
    footage_views: bool = True,
) -> BuildResult:
    """Build a watchlist from ``source/<subject_id>/<photos>`` (+ optional subjects.csv).

    Every photo that cannot be read, or shows no face or more than one, is
    rejected with its reason; nothing is skipped silently. ``on_photo(path, total)``
    is called as each photo is started. With ``footage_views`` each photo adds its
    footage view's encoding to its subject.
    """
    if not source.is_dir():
        raise WatchlistError(f"watchlist source folder not found: {source}")
    listed = read_subjects_csv(source / SUBJECTS_CSV) if (source / SUBJECTS_CSV).is_file() else {}
    detector = FaceDetector("hog", upsample=upsample)
    encoder = FaceEncoder()
    subjects: list[Subject] = []
    rows: list[np.ndarray] = []
    row_subject: list[int] = []
    row_source: list[str] = []
    row_footage_view: list[bool] = []
    rejected: list[RejectedPhoto] = []
    without_photos: list[str] = []

    for entry in sorted(source.iterdir()):
        if entry.is_file() and entry.name != SUBJECTS_CSV:
            rejected.append(RejectedPhoto(entry, "not inside a subject folder"))
    folders = sorted(p for p in source.iterdir() if p.is_dir())
    if not folders and rejected:
        raise WatchlistError(
            f"{source} holds {len(rejected)} files but no subject folders: put each person's photos "
            f"in {source}/<subject_id>/ (the folder's name is the subject id)"
        )
    photos = {folder: sorted(p for p in folder.rglob("*") if p.is_file()) for folder in folders}
    total_photos = sum(len(found) for found in photos.values())
    for folder in folders:
        subject = listed.get(folder.name, Subject(subject_id=folder.name, name=folder.name))
        subject_rows: list[np.ndarray] = []
        photo_jpeg = b""
        for photo in photos[folder]:
            if on_photo is not None:
                on_photo(photo, total_photos)
            try:
                image, box, encoding = one_face(photo, detector, encoder)
            except PhotoError as error:
                rejected.append(RejectedPhoto(photo, str(error)))
                continue
            views = [encoding, footage_view_encoding(image, box, encoder)] if footage_views else [encoding]
            subject_rows.extend(views)
            row_source.extend([photo.relative_to(source).as_posix()] * len(views))
            row_footage_view.extend([False, True][: len(views)])
            if not photo_jpeg:
                photo_jpeg = encode_jpeg(crop_face(image, box, max_side=REFERENCE_PHOTO_MAX_SIDE), quality=85)
        if not subject_rows:
            without_photos.append(folder.name)
            continue
        subject_index = len(subjects)
        subjects.append(
            Subject(
                subject_id=subject.subject_id,
                name=subject.name or subject.subject_id,
                category=subject.category,
                reason=subject.reason,
                expires=subject.expires,
                photo_jpeg=photo_jpeg,
            )
        )
        rows.extend(subject_rows)
        row_subject.extend([subject_index] * len(subject_rows))

    for subject_id in sorted(set(listed) - {f.name for f in folders}):
        logger.warning("subjects.csv lists %r but %s has no folder for it", subject_id, source)
    if not subjects:
        raise WatchlistError(f"no usable reference photo in {source}: the watchlist would be empty")
    watchlist = Watchlist(
        subjects=subjects,
        encodings=np.stack(rows),
        encoding_subject=np.array(row_subject, dtype=np.int64),
        encoding_source=row_source,
        encoding_footage_view=np.array(row_footage_view, dtype=bool),
        created=(now or datetime.now(UTC)).replace(microsecond=0),
        models={
            "detector": HOG_DETECTOR_MODEL,
            "landmarks": LANDMARK_MODEL,
            "encoder": ENCODER_MODEL,
        },
    )
    return BuildResult(
        watchlist=watchlist,
        accepted_photos=row_footage_view.count(False),
        rejected=rejected,
        subjects_without_photos=without_photos,
    )
