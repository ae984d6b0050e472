"""The watchlist file.

A watchlist file is a pickle of plain data only (no numpy objects)::

    {"format": "lfr-batch-watchlist", "format_version": 2, "created": ISO 8601,
     "models": {"detector": ..., "landmarks": ..., "encoder": ...},
     "subjects": {"subject_id": [...], "name": [...], "category": [...],
                  "reason": [...], "expires": [...], "photo_jpeg": [bytes, ...]},
     "encodings": {"dtype": "<f8", "shape": [N, 128], "data": bytes},
     "encoding_subject": {"dtype": "<i8", "shape": [N], "data": bytes} (row → subject),
     "encoding_source": [photo path of each row],
     "encoding_footage_view": [bool, ...] (row is its photo as footage shows faces)}

Loading never runs code (:mod:`lfr_batch.safe_pickle`). Version 1 files, which
held numpy arrays, and pickles in the common face_recognition layout
(``{"encodings": [...], "names": [...]}``) load too, their arrays checked
before numpy reads them. Files written before the cuts were calibrated on footage
carry a ``calibration`` table fitted on the list's own photos; it is read past and unused.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lfr_batch.errors import WatchlistError
from lfr_batch.files import (
    RefusedFileError,
    open_regular,
    read_regular,
    warn_if_readable_by_others,
    write_atomic,
)
from lfr_batch.safe_pickle import MAX_ARRAY_BYTES, RefusedPickleError, SafeUnpickler, materialise
from lfr_batch.signing import SIGNING_KEY_ENV, sign, signature_matches
from lfr_batch.times import iso, parse_time
from lfr_batch.vision.models import ENCODER_MODEL, LANDMARK_MODEL
from lfr_batch.watchlist.model import (
    ENCODING_SIZE,
    SUBJECT_FIELDS,
    Subject,
    Watchlist,
    expiry_text,
    parse_expiry,
)

logger = logging.getLogger(__name__)


FORMAT_NAME = "lfr-batch-watchlist"


FORMAT_VERSION = 2


# A signed file: this line, the HMAC-SHA256 of the pickle in hex, a newline, the pickle.
SIGNED_MAGIC = b"LFR-BATCH-SIGNED-1 "


# Its encodings at most (lfr_batch.safe_pickle), their footage views, photos and names.
MAX_WATCHLIST_BYTES = 2 * MAX_ARRAY_BYTES


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
    data = pickle.dumps(to_payload(watchlist), protocol=pickle.HIGHEST_PROTOCOL)
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


def to_payload(watchlist: Watchlist) -> dict[str, Any]:
    """The plain data a watchlist file pickles (the layout above)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": iso(watchlist.created),
        "models": dict(watchlist.models),
        # One list per field: a list of 100,000 strings loads far faster than 100,000 dicts.
        "subjects": {
            name: [_stored_field(subject, name) for subject in watchlist.subjects] for name in SUBJECT_FIELDS
        },
        "encodings": _array_field(watchlist.encodings),
        "encoding_subject": _array_field(watchlist.encoding_subject),
        "encoding_source": list(watchlist.encoding_source),
        "encoding_footage_view": [bool(v) for v in watchlist.encoding_footage_view],
    }
