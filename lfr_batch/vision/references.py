"""A reference photo's one face: found, encoded, and encoded again as footage shows it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import FaceDetector
from lfr_batch.vision.photos import PhotoError, as_footage, load_photo

# Reference photos are shrunk for detection only; the encoding uses the full photo,
# so it equals face_recognition's for the same image and box.
DETECTION_MAX_SIDE = 1024


def detection_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
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
    small, scale = detection_copy(image)
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
