"""Stage 4, faces → encodings: dlib's 128-d ResNet face descriptors.

Computed exactly as ``face_recognition.face_encodings`` does for the same image
and box (5-point landmarks, one jitter, dlib's default padding), so watchlists
made with that library remain comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# A clearly better view of a tracked face: this much larger, or this much more
# confidently detected (HOG scores rise as a face turns to the camera).
BETTER_SIZE_RATIO = 1.25
BETTER_SCORE_MARGIN = 0.5
# A face that has matched nobody yet gets another look this often.
UNMATCHED_LOOK_INTERVAL_S = 1.5


@dataclass
class _TrackViews:
    best_size: float
    best_score: float
    last_encoded_s: float
    matched: bool = False


class EncodingPolicy:
    """Decides which tracked faces to encode, since encoding is the costly step:
    each track once, then again only for a clearly better view, and every
    1.5 s while it matches nobody. ``every=True`` encodes every face (the
    exhaustive mode, for checking the fast one)."""

    def __init__(self, every: bool = False) -> None:
        self.every = every
        self._views: dict[int, _TrackViews] = {}

    def reset(self) -> None:
        self._views = {}

    def select(
        self, track_ids: np.ndarray, sizes: np.ndarray, scores: np.ndarray, time_s: float
    ) -> np.ndarray:
        """Boolean mask over the faces of one frame: which to encode now."""
        chosen = np.zeros(len(track_ids), dtype=bool)
        for row, track_id in enumerate(track_ids.tolist()):
            views = self._views.get(track_id)
            size, score = float(sizes[row]), float(scores[row])
            if views is None:
                self._views[track_id] = _TrackViews(size, score, time_s)
                chosen[row] = True
                continue
            better = (
                size >= views.best_size * BETTER_SIZE_RATIO or score >= views.best_score + BETTER_SCORE_MARGIN
            )
            another_look = not views.matched and time_s - views.last_encoded_s >= UNMATCHED_LOOK_INTERVAL_S
            if self.every or better or another_look:
                views.best_size = max(views.best_size, size)
                views.best_score = max(views.best_score, score)
                views.last_encoded_s = time_s
                chosen[row] = True
        return chosen

    def record_matches(self, track_ids: np.ndarray, matched: np.ndarray) -> None:
        for track_id in track_ids[matched].tolist():
            self._views[track_id].matched = True
