"""A watchlist from SOURCE/<subject_id>/<photos> and an optional SOURCE/subjects.csv:
each photo's one face encoded, with its footage view (:mod:`lfr_batch.vision.references`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lfr_batch.errors import WatchlistError, first_of
from lfr_batch.files import RefusedFileError, has_utf8_name, shown_name
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
    now = datetime.now(UTC)
    lapsed = [subject.subject_id for subject in subjects.values() if subject.is_expired(now)]
    if lapsed:
        # Kept as written (the list records them), but every scan from now on leaves them out.
        logger.warning(
            "%s: %d %s already expired, and will not be matched by a scan from now on: %s",
            path,
            len(lapsed),
            "subject has" if len(lapsed) == 1 else "subjects have",
            first_of(lapsed),
        )
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
    encode = _PhotoEncoder(source, upsample, footage_views, on_photo)
    folders, rejected = _subject_folders(source)
    entries = {folder: sorted(folder.rglob("*")) for folder in folders}
    photos = {folder: [p for p in found if p.is_file()] for folder, found in entries.items()}
    rejected += [
        RejectedPhoto(p, "not a regular file (a pipe, a device, or a link that leads nowhere)")
        for found in entries.values()
        for p in found
        if not p.is_file() and not p.is_dir()
    ]
    encode.total = sum(map(len, photos.values()))
    subjects: list[Subject] = []
    encoded: list[_SubjectPhotos] = []
    without_photos: list[str] = []
    for folder in folders:
        found = encode.subject(photos[folder], rejected)
        if not found.rows:
            without_photos.append(folder.name)
            continue
        subject = listed.get(folder.name, Subject(subject_id=folder.name, name=folder.name))
        subjects.append(
            replace(subject, name=subject.name or subject.subject_id, photo_jpeg=found.photo_jpeg)
        )
        encoded.append(found)
    for subject_id in sorted(set(listed) - {f.name for f in folders}):
        logger.warning("subjects.csv lists %r but %s has no folder for it", subject_id, source)
    if not subjects:
        raise WatchlistError(f"no usable reference photo in {source}: the watchlist would be empty")
    footage_view = [flag for found in encoded for flag in found.footage_view]
    watchlist = Watchlist(
        subjects=subjects,
        encodings=np.stack([row for found in encoded for row in found.rows]),
        encoding_subject=np.repeat(np.arange(len(encoded), dtype=np.int64), [len(f.rows) for f in encoded]),
        encoding_source=[name for found in encoded for name in found.sources],
        encoding_footage_view=np.array(footage_view, dtype=bool),
        created=(now or datetime.now(UTC)).replace(microsecond=0),
        models={
            "detector": HOG_DETECTOR_MODEL,
            "landmarks": LANDMARK_MODEL,
            "encoder": ENCODER_MODEL,
        },
    )
    return BuildResult(
        watchlist=watchlist,
        accepted_photos=footage_view.count(False),
        rejected=rejected,
        subjects_without_photos=without_photos,
    )


def _subject_folders(source: Path) -> tuple[list[Path], list[RejectedPhoto]]:
    """The subject folders of ``source``, and its loose files (rejected): a folder of
    loose files and no subject folder is refused in one line saying how to lay it out."""
    rejected = [
        RejectedPhoto(entry, "not inside a subject folder")
        for entry in sorted(source.iterdir())
        if entry.is_file() and entry.name != SUBJECTS_CSV
    ]
    folders = sorted(p for p in source.iterdir() if p.is_dir())
    badly_named = [shown_name(folder) for folder in folders if not has_utf8_name(folder)]
    if badly_named:
        # The name is the subject id: every report, the state and the alert sheet hold it as text.
        raise WatchlistError(
            f"subject folder {badly_named[0]} is not named in UTF-8 (the folder's name is the subject "
            "id, which the reports must hold as text): rename it"
        )
    if not folders and rejected:
        raise WatchlistError(
            f"{source} holds {len(rejected)} files but no subject folders: put each person's photos "
            f"in {source}/<subject_id>/ (the folder's name is the subject id)"
        )
    return folders, rejected


@dataclass
class _SubjectPhotos:
    """One subject's usable photos, encoded: a row per photo (and its footage view)."""

    rows: list[np.ndarray] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # each row's photo, relative to the source
    footage_view: list[bool] = field(default_factory=list)
    photo_jpeg: bytes = b""  # the first usable photo's face, shown beside alerts


class _PhotoEncoder:
    """Each reference photo's one face, encoded (with its footage view), in turn."""

    def __init__(
        self,
        source: Path,
        upsample: int,
        footage_views: bool,
        on_photo: Callable[[Path, int], None] | None,
    ) -> None:
        self.source, self.footage_views, self.on_photo = source, footage_views, on_photo
        self.total = 0  # photos to encode in all, for on_photo
        self.detector = face_detector("hog", upsample=upsample)
        self.encoder = FaceEncoder()

    def subject(self, photos: list[Path], rejected: list[RejectedPhoto]) -> _SubjectPhotos:
        """One subject's photos; each one unusable joins ``rejected`` with its reason."""
        found = _SubjectPhotos()
        for photo in photos:
            if self.on_photo is not None:
                self.on_photo(photo, self.total)
            try:
                image, box, encoding = one_face(photo, self.detector, self.encoder)
            except PhotoError as error:
                rejected.append(RejectedPhoto(photo, str(error)))
                continue
            views = [encoding]
            if self.footage_views:
                views.append(footage_view_encoding(image, box, self.encoder))
            found.rows.extend(views)
            found.sources.extend([photo.relative_to(self.source).as_posix()] * len(views))
            found.footage_view.extend([False, True][: len(views)])
            if not found.photo_jpeg:
                face = crop_face(image, box, max_side=REFERENCE_PHOTO_MAX_SIDE)
                found.photo_jpeg = encode_jpeg(face, quality=85)
        return found
