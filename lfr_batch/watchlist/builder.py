"""A watchlist from SOURCE/<subject_id>/<photos> and an optional SOURCE/subjects.csv:
each photo's one face encoded, with its footage view (:mod:`lfr_batch.vision.references`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lfr_batch.errors import WatchlistError
from lfr_batch.files import RefusedFileError
from lfr_batch.readers import read_table
from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.models import ENCODER_MODEL, HOG_DETECTOR_MODEL, LANDMARK_MODEL
from lfr_batch.vision.photos import PhotoError, crop_face, encode_jpeg
from lfr_batch.vision.references import footage_view_encoding, one_face
from lfr_batch.watchlist.model import Subject, Watchlist, normalise_category, parse_expiry

logger = logging.getLogger(__name__)


SUBJECTS_CSV = "subjects.csv"


SUBJECT_COLUMNS = ("subject_id", "name", "category", "reason", "expires")


REFERENCE_PHOTO_MAX_SIDE = 160


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
    detector = face_detector("hog", upsample=upsample)
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
