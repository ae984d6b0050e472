"""Stage 4, faces → encodings: dlib's 128-d ResNet face descriptors.

Computed exactly as ``face_recognition.face_encodings`` does for the same image
and box (5-point landmarks, one jitter, dlib's default padding), so watchlists
made with that library remain comparable.
"""

from __future__ import annotations

import dlib
import numpy as np

from lfr_batch.faces import box_to_rect
from lfr_batch.models import ENCODER_MODEL, LANDMARK_MODEL, load_models

ENCODING_SIZE = 128
NUM_JITTERS = 1


class FaceEncoder:
    """Encodes the faces at ``boxes`` in an RGB image, all in one network batch."""

    model_name = f"{ENCODER_MODEL}+{LANDMARK_MODEL}"

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return an N×128 float64 array, one row per box."""
        if len(boxes) == 0:
            return np.zeros((0, ENCODING_SIZE), dtype=np.float64)
        models = load_models()
        landmarks = dlib.full_object_detections()
        for box in boxes:
            landmarks.append(models.landmark_predictor(image, box_to_rect(box)))
        descriptors = models.encoder.compute_face_descriptor(image, landmarks, NUM_JITTERS)
        return np.array(descriptors, dtype=np.float64)
