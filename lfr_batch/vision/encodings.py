"""Stage 4, faces → encodings: dlib's 128-d ResNet face descriptors.

Computed as ``face_recognition.face_encodings`` does for the same image and box
(5-point landmarks, one jitter, dlib's 150-px face chip), so watchlists made with
that library remain comparable; the network itself runs in numpy
(:mod:`.resnet`), ~9× faster than dlib-bin and equal to it within float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from lfr_batch.vision.detections import Detections
from lfr_batch.vision.faces import box_to_rect
from lfr_batch.vision.models import ENCODER_MODEL, LANDMARK_MODEL, load_models
from lfr_batch.vision.resnet import CHIP_PADDING, CHIP_SIZE
from lfr_batch.watchlist.model import ENCODING_SIZE


def face_landmarks(image: np.ndarray, boxes: np.ndarray) -> list[dlib.full_object_detection]:
    """dlib's 5 points (eye corners, nose) of each face, which align its chip: found
    once per view, for both the quality gate and the encoder."""
    predictor = load_models().landmark_predictor
    return [predictor(image, box_to_rect(box)) for box in boxes]


class FaceEncoder:
    """Encodes the faces at ``boxes`` in an RGB image, all in one network batch."""

    model_name = f"{ENCODER_MODEL}+{LANDMARK_MODEL}"

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return an N×128 float64 array, one row per box."""
        return self.encode(image, face_landmarks(image, boxes))

    def encode(self, image: np.ndarray, landmarks: list[dlib.full_object_detection]) -> np.ndarray:
        """The same, for faces whose landmarks are already found."""
        if not landmarks:
            return np.zeros((0, ENCODING_SIZE), dtype=np.float64)
        chips = dlib.get_face_chips(
            image, dlib.full_object_detections(landmarks), size=CHIP_SIZE, padding=CHIP_PADDING
        )
        return load_models().encoder(np.stack(chips)).astype(np.float64)


# Below these, the encoder's distances between two photos of one person break down
# (measured by shrinking and blurring 40 people's photos, benchmarks/accuracy.py): at
# 24 px the median same-person distance is 0.40, at 16 px 0.50; a blur that leaves a
# sharpness under 0.15 puts it at 0.44-0.59 while strangers' nearest distances fall too.
MIN_FACE_PX = 24
MIN_SHARPNESS = 0.15
# Sharpness is measured on the face as the encoder sees it: aligned by its landmarks,
# cut to the face alone (no padding) and shrunk to 32 px. Measured inside the
# detector's box it depended on where each detector drew the box and on what the box
# took in around the face; on the aligned chip HOG's and BlazeFace's boxes give the
# same figure. dlib cuts chips without smoothing, so it cuts one at 96 px (at least
# the size of most faces) and OpenCV shrinks it, averaging, as before.
_SHARPNESS_PX = 32
_SHARPNESS_CHIP_PX = 96


def face_sharpness(image: np.ndarray, landmarks: list[dlib.full_object_detection]) -> np.ndarray:
    """Each face's sharpness: the variance of the Laplacian of its 32-px aligned chip,
    relative to the chip's contrast, so it does not depend on the face's size."""
    if not landmarks:
        return np.zeros(0)
    chips = dlib.get_face_chips(
        image, dlib.full_object_detections(landmarks), size=_SHARPNESS_CHIP_PX, padding=0.0
    )
    sharpness = np.zeros(len(chips))
    for row, chip in enumerate(chips):
        grey = cv2.cvtColor(np.asarray(chip), cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, (_SHARPNESS_PX, _SHARPNESS_PX), interpolation=cv2.INTER_AREA)
        small = small.astype(np.float64)
        sharpness[row] = cv2.Laplacian(small, cv2.CV_64F).var() / max(small.var(), 1e-6)
    return sharpness


def whole_in_view(image: np.ndarray, faces: Detections) -> np.ndarray:
    """Which faces lie wholly inside the frame: a face cut by the frame's edge (someone
    walking in or out) gives an encoding of half a face; a later view will be whole."""
    height, width = image.shape[:2]
    boxes = faces.boxes
    return (boxes[:, 0] > 0) & (boxes[:, 3] > 0) & (boxes[:, 2] < height) & (boxes[:, 1] < width)


def good_enough_to_match(
    image: np.ndarray, faces: Detections, landmarks: list[dlib.full_object_detection]
) -> np.ndarray:
    """Which faces (with their landmarks) are large and sharp enough for their
    encodings to be trusted."""
    return (faces.sizes >= MIN_FACE_PX) & (face_sharpness(image, landmarks) >= MIN_SHARPNESS)


# A clearly better view of a tracked face: this much larger, or this much more
# confidently detected (HOG scores rise as a face turns to the camera). BlazeFace's
# scores are probabilities (0.63-0.94 for 90 % of faces in the crowd scenes) and
# never rise by that much: with it only size counts. A margin of 0.1 for BlazeFace
# found the same passes on three crowd scenes at no gain, so none is set.
BETTER_SIZE_RATIO = 1.25
BETTER_SCORE_MARGIN = 0.5
# A face near a subject gathers views this often, for the decision on its whole track;
# one that matches nobody gets another look this often, until this many views have
# all lain far from everyone (its mean will not come near anyone either).
CANDIDATE_LOOK_INTERVAL_S = 0.4
UNMATCHED_LOOK_INTERVAL_S = 1.5
UNMATCHED_VIEWS = 2
# A face this much further than every subject's cut is not a candidate. The cuts the
# pipeline holds are ceilings, CEILING_MARGIN (0.05) beyond the reference's cuts, so a
# candidate lies within 0.1 of a subject's reference cut, as within 0.1 of the one
# threshold before cuts were per subject.
CANDIDATE_BAND = 0.05
# Views encoded per track at most (the exhaustive mode has no cap).
MAX_VIEWS = 8


@dataclass
class _TrackViews:
    best_size: float
    best_score: float
    last_encoded_s: float
    encoded: int = 1
    candidate: bool = False
    crowded: bool = False  # close to another face since its last encoded view


class EncodingPolicy:
    """Decides which tracked faces to encode, since encoding is the costly step: a
    track's first usable view; then a clearly better view; every 0.4 s while it lies
    near a subject (evidence for its decision); every 1.5 s while it matches nobody,
    until two views have; once more when it comes clear of another face it was close
    to, or when the tracker is unsure of its link (so the tracker can check, by
    appearance, that two people who crossed kept their own tracks, and that one
    entering where another left did not take over theirs); at most 8 views besides
    those checks. ``every=True`` encodes every face (the exhaustive mode, for
    checking the fast one)."""

    def __init__(self, every: bool = False) -> None:
        self.every = every
        self._views: dict[int, _TrackViews] = {}

    def select(self, faces: Detections, time_s: float) -> np.ndarray:
        """Boolean mask over the tracked faces of one frame: which to encode now."""
        track_ids, sizes, scores = faces.track_ids, faces.sizes, faces.scores
        chosen = np.zeros(len(track_ids), dtype=bool)
        for row, track_id in enumerate(track_ids.tolist()):
            views = self._views.get(track_id)
            if views is None or self.every or faces.unsure[row]:
                chosen[row] = True
                continue
            if views.encoded >= MAX_VIEWS:
                continue
            better = (
                float(sizes[row]) >= views.best_size * BETTER_SIZE_RATIO
                or float(scores[row]) >= views.best_score + BETTER_SCORE_MARGIN
            )
            crowded_now = bool(faces.crowded[row])
            if views.candidate:
                look_again = time_s - views.last_encoded_s >= CANDIDATE_LOOK_INTERVAL_S
            else:
                look_again = (
                    views.encoded < UNMATCHED_VIEWS
                    and time_s - views.last_encoded_s >= UNMATCHED_LOOK_INTERVAL_S
                )
            came_clear = views.crowded and not crowded_now
            views.crowded = views.crowded or crowded_now
            chosen[row] = better or look_again or came_clear
        return chosen

    def record(self, faces: Detections, time_s: float, margins: np.ndarray) -> None:
        """The faces encoded now, and how far each lies beyond the nearest cut."""
        track_ids, sizes, scores = faces.track_ids, faces.sizes, faces.scores
        for row, track_id in enumerate(track_ids.tolist()):
            size, score = float(sizes[row]), float(scores[row])
            candidate = bool(margins[row] <= CANDIDATE_BAND)
            views = self._views.get(track_id)
            if views is None:
                self._views[track_id] = _TrackViews(size, score, time_s, candidate=candidate)
                continue
            views.best_size = max(views.best_size, size)
            views.best_score = max(views.best_score, score)
            views.last_encoded_s = time_s
            views.encoded += 1
            views.candidate = views.candidate or candidate
            views.crowded = False
