"""Detection and encoding, pinned against face_recognition's own numbers."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from conftest import PHOTOS, SAMPLE_PHOTOS, SAMPLE_VIDEOS, TEST_DATA

from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.photos import load_photo
from lfr_batch.vision.video import to_rgb


def test_hog_finds_the_one_face_of_a_reference_photo() -> None:
    image = load_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png")
    boxes = face_detector("hog", upsample=1)(image).boxes
    assert boxes.shape == (1, 4)
    top, right, bottom, left = boxes[0]
    assert 0 <= top < bottom <= image.shape[0]
    assert 0 <= left < right <= image.shape[1]


def test_upsampling_finds_small_faces_that_plain_hog_misses() -> None:
    image = load_photo(PHOTOS / "orl_s01" / "1.png")  # 92×112, face ~60 px
    small = cv2.resize(image, None, fx=0.6, fy=0.6)
    assert len(face_detector("hog", upsample=0)(small)) == 0
    assert len(face_detector("hog", upsample=2)(small)) == 1


def test_no_face_gives_an_empty_box_array() -> None:
    boxes = face_detector()(np.full((120, 160, 3), 90, np.uint8)).boxes
    assert boxes.shape == (0, 4)
    assert FaceEncoder()(np.zeros((10, 10, 3), np.uint8), boxes).shape == (0, 128)


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        face_detector("yolo")  # type: ignore[arg-type]


def _frame(video: str, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(SAMPLE_VIDEOS / video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = capture.read()
    capture.release()
    assert ok
    return to_rgb(bgr)


def test_encodings_equal_face_recognitions(two_subject_watchlist) -> None:
    """tests/data/face_recognition_reference.csv holds distances that face_recognition
    1.3.0 computed (HOG, 5-point landmarks, 1 jitter) between faces in a bundled clip,
    at the boxes it found, and each identity's reference photos. Our encoder at the
    same boxes must give the same distances to the 3-decimal rounding of that file."""
    encoder = FaceEncoder()
    subject_rows = {s.subject_id: i for i, s in enumerate(two_subject_watchlist.subjects)}
    identity = {"intel_actor_f1": "f1", "intel_actor_m1": "m1"}
    with (TEST_DATA / "face_recognition_reference.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    for row in rows:
        box = np.array([[int(row[k]) for k in ("top", "right", "bottom", "left")]])
        encoding = encoder(_frame(row["video"], int(row["frame"])), box)[0]
        photos = ~two_subject_watchlist.encoding_footage_view  # face_recognition's references
        references = two_subject_watchlist.encodings[
            photos & (two_subject_watchlist.encoding_subject == subject_rows[identity[row["identity"]]])
        ]
        distance = np.linalg.norm(references - encoding, axis=1).min()
        assert distance == pytest.approx(float(row["distance"]), abs=0.0015), row


def test_batch_encoding_equals_one_at_a_time() -> None:
    image = _frame("intel_head-pose-face-detection-female-and-male_preview.mp4", 0)
    boxes = face_detector()(image).boxes
    assert len(boxes) == 2
    encoder = FaceEncoder()
    together = encoder(image, boxes)
    apart = np.vstack([encoder(image, boxes[i : i + 1]) for i in range(2)])
    np.testing.assert_allclose(together, apart, atol=1e-6)
    assert together.shape == (2, 128)
    assert np.linalg.norm(together[0] - together[1]) > 0.6  # two different people
