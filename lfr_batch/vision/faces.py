"""Stage 2, frames → faces: dlib face detection.

Boxes are ``(top, right, bottom, left)`` pixel rows, as face_recognition gives
them, clipped to the image so a crop never runs off its edge. The detector can
search the whole frame or only given regions (see :mod:`lfr_batch.vision.motion`);
boxes always come back in whole-frame coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import dlib
import numpy as np

from lfr_batch.vision import DETECTORS, DetectorName, blazeface
from lfr_batch.vision.detections import NO_DETECTIONS, Detections
from lfr_batch.vision.models import CNN_DETECTOR_MODEL, HOG_DETECTOR_MODEL, load_models
from lfr_batch.vision.motion import TRACKED_FACE_TARGET_PX, FrameRegions, Region, merge_regions

# The smallest face each --upsample reaches (HOG's reach; BlazeFace is given the same).
HOG_MIN_FACE_PX = 80.0
MIN_SIZE_OF_REACH = 0.4
# A BlazeFace detection scoring this is surely a face. On the real clips of
# ../shared/data/videos, the tracks of the backs of heads, hair, a hand and a shoe
# scored at most 0.78 (11 tracks where people walk away from the camera, in
# intel_one-by-one-person-detection.mp4), the faces of passers-by 0.81-0.97, small
# ones (20-36 px) included; a profile in motion blur and a laughing, tilted face
# scored 0.65-0.72 and are not counted.
SURE_FACE_SCORE = 0.8


def box_to_rect(box: np.ndarray | tuple[int, int, int, int]) -> dlib.rectangle:
    top, right, bottom, left = (int(v) for v in box)
    return dlib.rectangle(left, top, right, bottom)


class FaceDetector(Protocol):
    """Finds faces in an RGB image. ``upsample`` sets the smallest face it reaches:
    HOG, which misses faces under about 80 px, doubles the image that many times first
    (about 40 px at 1 and 20 px at 2, at four times the cost each step); BlazeFace is
    given the same reach."""

    model: DetectorName
    upsample: int

    @property
    def model_name(self) -> str: ...

    def __call__(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> Detections:
        """Faces in the whole image, or only inside ``regions``."""
        ...

    def next_frame(self, image: np.ndarray, regions: FrameRegions) -> Detections:
        """Faces in the next analysed frame of a video, searched where ``regions`` say."""
        ...

    def boxes_to_describe(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The boxes the landmark model should start from, for faces the last
        :meth:`next_frame` found."""
        ...


def face_detector(model: DetectorName = "hog", upsample: int = 1, frames_per_sweep: int = 5) -> FaceDetector:
    """The detector for ``model``; searching a video frame by frame, BlazeFace covers
    the whole frame at most once every ``frames_per_sweep`` frames."""
    if model not in DETECTORS:
        raise ValueError(f"unknown detector {model!r}; choose one of {', '.join(DETECTORS)}")
    if upsample < 0:
        raise ValueError("upsample must be 0 or more")
    if model == "blazeface":
        return BlazeFaceDetector(upsample, frames_per_sweep)
    return DlibDetector(model, upsample)


def min_face_px(upsample: int) -> float:
    """The smallest face each ``upsample`` reaches."""
    return HOG_MIN_FACE_PX / 2**upsample


class DlibDetector:
    """dlib's HOG or MMOD CNN detector: frontal faces, each of them surely a face."""

    def __init__(self, model: DetectorName, upsample: int) -> None:
        self.model = model
        self.upsample = upsample

    @property
    def model_name(self) -> str:
        return HOG_DETECTOR_MODEL if self.model == "hog" else CNN_DETECTOR_MODEL

    def __call__(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> Detections:
        if regions is None:
            return self._detect(image, self.upsample)
        # Overlapping regions are searched once, at the larger scale (the smaller face).
        found = [self._detect_region(image, region) for region in merge_regions(list(regions))]
        found = [d for d in found if len(d)]
        if not found:
            return NO_DETECTIONS
        return suppress_duplicates(
            Detections.found(np.vstack([d.boxes for d in found]), np.concatenate([d.scores for d in found]))
        )

    def next_frame(self, image: np.ndarray, regions: FrameRegions) -> Detections:
        return self(image, regions.merged())

    def boxes_to_describe(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return boxes

    def _detect_region(self, image: np.ndarray, region: Region) -> Detections:
        top, right, bottom, left = region.box
        if bottom <= top or right <= left:
            return NO_DETECTIONS
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        if region.scale is None:
            found = self._detect(crop, self.upsample)
            scale = 1.0
        else:
            # Searching a known face at its own size is far cheaper than upsampling.
            scale = region.scale
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            found = self._detect(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation), 0)
        if not len(found):
            return found
        boxes = np.round(found.boxes / scale).astype(np.int32) + np.array(
            [top, left, top, left], dtype=np.int32
        )
        height, width = image.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, height)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, width)
        return Detections.found(boxes, found.scores)

    def _detect(self, image: np.ndarray, upsample: int) -> Detections:
        models = load_models()
        if self.model == "hog":
            rects, scores, _kinds = models.hog_detector.run(image, upsample, 0.0)
        else:
            found = models.cnn_detector(image, upsample)
            rects, scores = [f.rect for f in found], [f.confidence for f in found]
        if not rects:
            return NO_DETECTIONS
        height, width = image.shape[:2]
        boxes = np.array(
            [
                (max(r.top(), 0), min(r.right(), width), min(r.bottom(), height), max(r.left(), 0))
                for r in rects
            ],
            dtype=np.int32,
        ).reshape(-1, 4)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 1] > boxes[:, 3])
        return Detections.found(boxes[keep], np.asarray(scores, dtype=np.float64)[keep])


class BlazeFaceDetector:
    """MediaPipe's BlazeFace over tiles (:class:`~lfr_batch.vision.blazeface.TileSchedule`):
    full-range for new faces, short-range for tracked ones. A face is sure where it
    scores :data:`SURE_FACE_SCORE`: its boxes near its cut include the backs of heads,
    hair and hands, which a track follows as it follows a face."""

    model: DetectorName = "blazeface"

    def __init__(self, upsample: int, frames_per_sweep: int) -> None:
        self.upsample = upsample
        self._schedule = blazeface.TileSchedule(min_face_px(upsample), frames_per_sweep)
        self._tracked_searches: list[tuple[tuple[int, int, int, int], float]] = []

    @property
    def model_name(self) -> str:
        return blazeface.MODEL_NAME

    def __call__(self, image: np.ndarray, regions: Sequence[Region] | None = None) -> Detections:
        if regions is None:
            return self._detect_tiles(image, None, [], bounded=False)
        moving = [region for region in regions if region.scale is None]
        tracked = [region for region in regions if region.scale is not None]
        return self._detect_tiles(image, moving, tracked, bounded=False)

    def next_frame(self, image: np.ndarray, regions: FrameRegions) -> Detections:
        """A bounded share of a busy frame, and every tracked face whatever moved."""
        return self._detect_tiles(image, regions.moving, regions.tracked, bounded=True)

    def boxes_to_describe(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Tracked faces are found by the short-range model and redrawn with the
        full-range one, whose boxes were fitted to HOG's on turned heads too
        (:func:`~lfr_batch.vision.blazeface.redrawn`)."""
        return blazeface.redrawn(image, boxes, self._tracked_searches)

    def _detect_tiles(
        self,
        image: np.ndarray,
        moving_regions: list[Region] | None,
        tracked_regions: list[Region],
        bounded: bool,
    ) -> Detections:
        moving = None if moving_regions is None else [region.box for region in moving_regions]
        # A tracked face's region is scaled for HOG; BlazeFace searches it at its own size.
        tracked = [
            (region.box, TRACKED_FACE_TARGET_PX / region.scale) for region in tracked_regions if region.scale
        ]
        self._tracked_searches = tracked
        tiles = self._schedule.tiles(image.shape[:2], moving, tracked, bounded)
        boxes, scores = blazeface.detect(image, tiles)
        found = Detections.found(boxes, scores, scores >= SURE_FACE_SCORE)
        # Far below the reach asked for, BlazeFace's boxes are mostly texture, not faces.
        return found[found.sizes >= MIN_SIZE_OF_REACH * min_face_px(self.upsample)]


DUPLICATE_OVERLAP = 0.5  # of the smaller box: the same face found from two regions


def suppress_duplicates(detections: Detections) -> Detections:
    """Keep the best-scoring box of each group of boxes that cover the same face."""
    order = np.argsort(-detections.scores)
    boxes = detections.boxes.astype(np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 1] - boxes[:, 3])
    kept: list[int] = []
    for index in order.tolist():
        box = boxes[index]
        duplicate = False
        for other in kept:
            height = min(box[2], boxes[other, 2]) - max(box[0], boxes[other, 0])
            width = min(box[1], boxes[other, 1]) - max(box[3], boxes[other, 3])
            if (
                height > 0
                and width > 0
                and height * width > DUPLICATE_OVERLAP * min(areas[index], areas[other])
            ):
                duplicate = True
                break
        if not duplicate:
            kept.append(index)
    kept.sort()
    return detections[np.array(kept, dtype=np.int64)]
