"""Stage 2, frames → faces: dlib face detection.

Boxes are ``(top, right, bottom, left)`` pixel rows, as face_recognition gives
them, clipped to the image so a crop never runs off its edge.
"""

from __future__ import annotations

from typing import Literal

import dlib
import numpy as np

from lfr_batch.models import CNN_DETECTOR_MODEL, HOG_DETECTOR_MODEL, load_models

DetectorName = Literal["hog", "cnn"]
DETECTORS: tuple[DetectorName, ...] = ("hog", "cnn")

EMPTY_BOXES = np.zeros((0, 4), dtype=np.int32)


def rect_to_box(rect: dlib.rectangle, height: int, width: int) -> tuple[int, int, int, int]:
    return (
        max(rect.top(), 0),
        min(rect.right(), width),
        min(rect.bottom(), height),
        max(rect.left(), 0),
    )


def box_to_rect(box: np.ndarray | tuple[int, int, int, int]) -> dlib.rectangle:
    top, right, bottom, left = (int(v) for v in box)
    return dlib.rectangle(left, top, right, bottom)


class FaceDetector:
    """Finds faces in an RGB image; ``upsample`` doubles the image that many times
    first, so HOG (which misses faces under about 80 px) finds faces down to
    about 40 px at 1 and 20 px at 2, at four times the cost each step."""

    def __init__(self, model: DetectorName = "hog", upsample: int = 1) -> None:
        if model not in DETECTORS:
            raise ValueError(f"unknown detector {model!r}; choose one of {', '.join(DETECTORS)}")
        if upsample < 0:
            raise ValueError("upsample must be 0 or more")
        self.model = model
        self.upsample = upsample

    @property
    def model_name(self) -> str:
        return HOG_DETECTOR_MODEL if self.model == "hog" else CNN_DETECTOR_MODEL

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Return an N×4 int32 array of boxes, in the order dlib found them."""
        models = load_models()
        if self.model == "hog":
            rects = list(models.hog_detector(image, self.upsample))
        else:
            rects = [found.rect for found in models.cnn_detector(image, self.upsample)]
        if not rects:
            return EMPTY_BOXES
        height, width = image.shape[:2]
        boxes = np.array([rect_to_box(rect, height, width) for rect in rects], dtype=np.int32)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 1] > boxes[:, 3])
        return boxes[keep]
