"""BlazeFace, MediaPipe's full-range face detector, run by LiteRT (or OpenCV's DNN module).

HOG finds frontal faces of 80 px and up (40 px at upsample 1, at four times the
cost) and loses a head as soon as it turns. BlazeFace's full-range model, a small
CNN trained for faces up to five metres from a camera, finds turned heads and
faces of about 24 px, on a 192×192 input at about 4 ms a tile here. A frame is
searched as a pyramid of overlapping 192-pixel tiles, one network call per
tile; the weights ship inside this package (``data/``, Apache-2.0,
origin in ``DATA_SOURCES.md``), so nothing is downloaded at run time.

Boxes are returned the way dlib's HOG detector draws them (a little tighter and
lower than BlazeFace's), because dlib's 5-point landmark model, and so the
encodings, were trained on HOG's boxes.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lfr_batch.errors import ModelError, one_line

logger = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
MIN_SCORE = 0.5  # probability; MediaPipe's own cut


@dataclass(frozen=True)
class Model:
    """One of MediaPipe's BlazeFace models, and how to read its outputs: a face
    probability (a logit) and a box for each anchor, anchors on square grids of
    ``cells`` a side with ``per_cell`` anchors in each cell."""

    file: str
    input_side: int
    outputs: tuple[str, str]  # the classifier's, the regressor's
    grids: tuple[tuple[int, int], ...]  # (cells, per_cell)
    # Its box → dlib HOG's box: HOG's side over its side, HOG's centre lower by
    # this many sides.
    hog_side_ratio: float
    hog_centre_shift: float
    # A tracked face is searched at the scale that makes it this size in the input.
    tracked_face_px: float
    min_score: float = MIN_SCORE

    @property
    def path(self) -> Path:
        return DATA / self.file

    @functools.cached_property
    def anchors(self) -> np.ndarray:
        """Each anchor's centre, as a share of the input's side (x, y)."""
        centres = []
        for cells, per_cell in self.grids:
            ticks = (np.arange(cells, dtype=np.float32) + 0.5) / cells
            anchor_x, anchor_y = np.meshgrid(ticks, ticks)
            centres.append(
                np.repeat(np.stack([anchor_x.ravel(), anchor_y.ravel()], axis=1), per_cell, axis=0)
            )
        return np.concatenate(centres)


# Trained for faces up to five metres away: it searches the frame for new faces.
# Boxes fitted to HOG's on 362 photos that both detectors found.
FULL_RANGE = Model(
    file="face_detection_full_range.tflite",
    input_side=192,
    outputs=("reshaped_classifier_face_4", "reshaped_regressor_face_4"),
    grids=((48, 1),),
    hog_side_ratio=0.90,
    hog_centre_shift=0.017,
    # The middle of its reliable range: how it searched tracked faces before the
    # short-range model, and how it redraws one about to be described (:func:`redrawn`).
    tracked_face_px=56.0,
)
# Trained for faces near the camera, filling much of its 128-pixel input: a tracked
# face, whose size and place are known, is searched by it in 3.2 ms instead of 6.8
# (the 635 photos of ../shared/data/faces that HOG finds one face in, pasted into
# the moving plaza at 24-65 px and searched as tracked faces: it finds 634, the
# full-range model 631; ``benchmarks/detector.py``). Boxes fitted to HOG's on the
# same photos, each searched at the tracked face's size.
SHORT_RANGE = Model(
    file="face_detection_short_range.tflite",
    input_side=128,
    outputs=("classificators", "regressors"),
    grids=((16, 2), (8, 6)),
    hog_side_ratio=0.95,
    hog_centre_shift=-0.031,
    # Found there as often as by the full-range model at 56 px of 192, with three face
    # widths of room to move before the next frame.
    tracked_face_px=32.0,
    # At MediaPipe's 0.5 it carried on tracks of face-like texture in the moving
    # plaza that the full-range model had found once (a glimpse, not a face seen):
    # 58 faces seen for 52 people in benchmarks/accuracy.py's scene, 53 at 0.7.
    min_score=0.7,
)
MODEL_NAME = "mediapipe_face_detection_full_range+short_range"
# In the full-range model's input a face is found reliably from about 28 px
# (measured on 40 people's photos pasted into the moving plaza: 33/40 at 24 px,
# 39/40 at 28 px) up to well past 100 px; tiles overlap by more than the small end,
# and each pyramid level halves the scale, so every face size is whole in some tile.
RELIABLE_FACE_PX = 28.0
TILE_OVERLAP = 64
# Two boxes from neighbouring tiles or levels are one face above this overlap
# (intersection over union), as in MediaPipe.
SAME_FACE_IOU = 0.3
REDRAW_REACH = 1.5  # face sizes either side of a face, at most, in which it is redrawn


@dataclass(frozen=True)
class Tile:
    """A square of the frame, ``side`` pixels wide from (``top``, ``left``), searched
    by ``model`` at ``model.input_side / side`` input pixels per frame pixel."""

    top: int
    left: int
    side: float
    model: Model = FULL_RANGE


def tiles_over(box: tuple[int, int, int, int], scale: float, model: Model = FULL_RANGE) -> list[Tile]:
    """Overlapping tiles covering ``box`` (top, right, bottom, left) at ``scale``."""
    top, right, bottom, left = box
    side = model.input_side / scale
    stride = (model.input_side - TILE_OVERLAP) / scale

    def starts(low: int, high: int) -> list[float]:
        if high - low <= side:
            return [(low + high - side) / 2]  # centred on a box smaller than a tile
        count = int(np.ceil((high - low - side) / stride)) + 1
        return list(np.linspace(low, high - side, count))

    return [Tile(round(y), round(x), side, model) for y in starts(top, bottom) for x in starts(left, right)]


def tracked_face_tiles(box: tuple[int, int, int, int], face_px: float, model: Model) -> list[Tile]:
    """The tiles in which ``model`` searches a tracked face of ``face_px`` for its search
    ``box``, at ``model.tracked_face_px``. A face below the reliable size is searched at
    the scale of the smallest reliable one: enlarging it further only multiplies the tiles."""
    return tiles_over(box, model.tracked_face_px / max(face_px, RELIABLE_FACE_PX), model)


def pyramid(box: tuple[int, int, int, int], min_face_px: float) -> list[Tile]:
    """Tiles covering ``box`` for every face from ``min_face_px`` up to the box's size."""
    tiles: list[Tile] = []
    scale = RELIABLE_FACE_PX / min_face_px
    longest = max(box[2] - box[0], box[1] - box[3])
    while True:
        tiles += tiles_over(box, scale)
        if longest * scale <= FULL_RANGE.input_side:
            return tiles
        scale /= 2


def intersects(tile: Tile, box: tuple[int, int, int, int]) -> bool:
    top, right, bottom, left = box
    return (
        tile.top < bottom
        and top < tile.top + tile.side
        and tile.left < right
        and left < tile.left + tile.side
    )


class TileSchedule:
    """Which tiles to search in each analysed frame, at a bounded cost.

    Where little moves, each moving region is searched on its own, through a
    pyramid of tiles over just that region. Otherwise new faces are looked for
    through one fixed pyramid of tiles over the whole frame: every tile that
    what moved touches is searched at once, or, in a
    crowd, where most of the frame moves, only the tiles searched longest ago are,
    up to a ``1/spread_frames`` share of the pyramid per frame, so every part of the
    frame is still searched at least once every ``spread_frames`` analysed frames
    (the scan makes that a second of footage, while a passer-by stays in view for
    several). The first frame is searched whole. Tracked faces are searched in every
    frame, each at its own size, by the short-range model."""

    def __init__(self, min_face_px: float, spread_frames: int) -> None:
        self.min_face_px = min_face_px
        self.spread_frames = spread_frames
        self._grid: list[Tile] = []
        self._shape: tuple[int, int] = (0, 0)
        self._last_searched: list[int] = []
        self._frame = 0

    def tiles(
        self,
        shape: tuple[int, int],
        moving: list[tuple[int, int, int, int]] | None,
        tracked: list[tuple[tuple[int, int, int, int], float]],
        bounded: bool = True,
    ) -> list[Tile]:
        """``moving``: boxes where something moved (``None``: anywhere); ``tracked``:
        each tracked face's search box and its expected size in pixels; ``bounded``
        False searches every candidate tile (one image on its own)."""
        if shape != self._shape:
            self._shape = shape
            self._grid = pyramid((0, shape[1], shape[0], 0), self.min_face_px)
            self._last_searched = [-(10**9)] * len(self._grid)
        self._frame += 1
        candidates = [
            index
            for index, tile in enumerate(self._grid)
            if moving is None or any(intersects(tile, box) for box in moving)
        ]
        budget = -(-len(self._grid) // self.spread_frames) if bounded else len(self._grid)
        # Never searched yet (the first frame): all of them, whatever the budget.
        budget = max(budget, sum(self._last_searched[index] < 0 for index in candidates))
        chosen = sorted(candidates, key=lambda index: self._last_searched[index])[:budget]
        # A few small moving regions are cheaper searched on their own than through the
        # grid tiles they touch (a walker touches up to four tiles of the finest level).
        own = [tile for box in moving or () for tile in pyramid(box, self.min_face_px)]
        if moving is not None and len(own) < len(chosen):
            tiles = own
        else:
            for index in chosen:
                self._last_searched[index] = self._frame
            tiles = [self._grid[index] for index in chosen]
        for box, face_px in tracked:
            tiles += tracked_face_tiles(box, face_px, SHORT_RANGE)
        return tiles


class LiteRtNetwork:
    """The model run by LiteRT with its XNNPACK kernels: 3.7 ms a tile here, against
    8.6 ms in OpenCV's DNN module, with the same outputs to 2e-5 (``benchmarks/detector.py``
    and ``tests/test_blazeface.py``)."""

    name = "LiteRT"

    def __init__(self, path: Path, output_names: tuple[str, str]) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=1)
            with stderr_to_log():  # LiteRT announces its CPU kernels on stderr
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"LiteRT cannot load the BlazeFace model {path}: {one_line(error)}") from error
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {detail["name"]: detail["index"] for detail in self.interpreter.get_output_details()}
        if set(output_names) - set(outputs):
            raise ModelError(f"{path} is not the BlazeFace model expected: its outputs are {sorted(outputs)}")
        self.outputs = [outputs[name] for name in output_names]

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.interpreter.set_tensor(self.input, pixels[None])
        self.interpreter.invoke()
        logits, regressions = (self.interpreter.get_tensor(index) for index in self.outputs)
        return logits.reshape(-1), regressions.reshape(-1, 16)


class OpenCvNetwork:
    """The model run by OpenCV's DNN module, where LiteRT has no wheel (Linux on ARM,
    Intel Macs)."""

    name = "OpenCV DNN"

    def __init__(self, path: Path, output_names: tuple[str, str]) -> None:
        self.output_names = list(output_names)
        try:
            # OpenCV 5's new engine drops the classifier output; the classic one keeps both.
            engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
            args = (str(path),) if engine is None else (str(path), engine)
            self.net = cv2.dnn.readNetFromTFLite(*args)
        except (cv2.error, AttributeError) as error:
            raise ModelError(f"OpenCV cannot load the BlazeFace model {path}: {one_line(error)}") from error

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One tile a call: OpenCV's network runs a tile of a batch ~20 % slower than a
        # tile alone, and a batch whose size changes from frame to frame makes it
        # reallocate every layer.
        self.net.setInput(pixels.transpose(2, 0, 1)[None])
        logits, regressions = self.net.forward(self.output_names)
        return logits.reshape(-1), regressions.reshape(-1, 16)


def default_engine() -> type[LiteRtNetwork] | type[OpenCvNetwork]:
    return LiteRtNetwork if importlib.util.find_spec("ai_edge_litert") else OpenCvNetwork


@contextlib.contextmanager
def stderr_to_log() -> Iterator[None]:
    """What native code writes to the process's stderr meanwhile goes to the debug log
    instead of between the progress bars (where the process has a stderr at all: a
    Windows service or pythonw has none)."""
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                logger.debug("%s", line)


class BlazeFace:
    """One model's network; one per model and process (see :func:`load_blazeface`)."""

    def __init__(
        self,
        model: Model = FULL_RANGE,
        path: Path | None = None,
        engine: type[LiteRtNetwork] | type[OpenCvNetwork] | None = None,
    ) -> None:
        path = path or model.path
        if not path.is_file():
            raise ModelError(f"the BlazeFace model is missing: {path}")
        self.model = model
        self.network = (engine or default_engine())(path, model.outputs)
        logger.debug("BlazeFace's %s runs in %s", path.name, self.network.name)

    def find(self, image: np.ndarray, tiles: list[Tile]) -> tuple[np.ndarray, np.ndarray]:
        """Every box the model gives above the cut in the ``tiles`` of an RGB image, in
        dlib HOG's convention (N×4 float: top, right, bottom, left), and its logit."""
        boxes, logits_kept = [], []
        model, anchors = self.model, self.model.anchors
        min_logit = np.log(model.min_score / (1 - model.min_score))
        for tile in tiles:
            logits, regressions = self.network(crop_tile(image, tile).astype(np.float32) / 127.5 - 1.0)
            hits = np.flatnonzero(logits > min_logit)
            if not len(hits):
                continue
            found = regressions[hits, :4].astype(np.float64) / model.input_side
            centre_x = (found[:, 0] + anchors[hits, 0]) * tile.side + tile.left
            centre_y = (found[:, 1] + anchors[hits, 1]) * tile.side + tile.top
            side = np.sqrt(np.abs(found[:, 2] * found[:, 3])) * tile.side * model.hog_side_ratio
            centre_y = centre_y + model.hog_centre_shift * side
            half = side / 2
            boxes.append(np.stack([centre_y - half, centre_x + half, centre_y + half, centre_x - half], 1))
            logits_kept.append(logits[hits].astype(np.float64))
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0)
        return np.vstack(boxes), np.concatenate(logits_kept)


def detect(
    image: np.ndarray, tiles: list[Tile], networks: Callable[[Model], BlazeFace] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Faces in the ``tiles`` of an RGB image, each tile searched by its own model:
    boxes (N×4 int32, top, right, bottom, left, clipped to the image, in dlib HOG's
    convention) and scores (the probability of a face)."""
    networks = networks or load_blazeface
    found = [
        networks(model).find(image, [tile for tile in tiles if tile.model == model])
        for model in dict.fromkeys(tile.model for tile in tiles)
    ]
    if not any(len(logits) for _, logits in found):
        return np.zeros((0, 4), dtype=np.int32), np.zeros(0)
    boxes = np.vstack([boxes for boxes, _ in found])
    logits = np.concatenate([logits for _, logits in found])
    probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    return one_box_per_face(boxes, probabilities, image.shape[:2])


def redrawn(
    image: np.ndarray, boxes: np.ndarray, searches: list[tuple[tuple[int, int, int, int], float]]
) -> np.ndarray:
    """Each face of ``boxes`` (N×4 int32) found in one of the tracked-face ``searches``
    of this frame (each a search box and the face's expected size), as the full-range
    model draws it when it searches that box itself, within ``REDRAW_REACH`` face
    sizes of the face; other faces, and a face it does not find, keep their boxes.

    The landmark model starts from the box, and on a turning head the short-range
    model's box sits differently: F1's turning head in the bundled female-and-male
    clip came out 0.42 from her photos (above the sample list's threshold) from the
    short-range model's boxes, 0.33 from the redrawn ones (0.32 before the
    short-range model searched tracked faces)."""
    result = boxes.copy()
    for row, (top, right, bottom, left) in enumerate(boxes.tolist()):
        centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
        size = max(float(np.sqrt(max(bottom - top, 1) * max(right - left, 1))), 1.0)
        holding = [
            (box, face_px)
            for box, face_px in searches
            if box[3] <= centre_x < box[1] and box[0] <= centre_y < box[2]
        ]
        if not holding:
            continue
        search_box, face_px = min(holding, key=lambda search: abs(search[1] - size))
        # A face seen once is searched for far to either side; its redraw needs only
        # the part of that search around where it was found.
        reach = REDRAW_REACH * face_px
        box = (
            max(search_box[0], round(centre_y - reach)),
            min(search_box[1], round(centre_x + reach)),
            min(search_box[2], round(centre_y + reach)),
            max(search_box[3], round(centre_x - reach)),
        )
        drawn, _ = detect(image, tracked_face_tiles(box, face_px, FULL_RANGE))
        if not len(drawn):
            continue
        shift = np.hypot(
            (drawn[:, 1] + drawn[:, 3]) / 2 - centre_x, (drawn[:, 0] + drawn[:, 2]) / 2 - centre_y
        )
        if shift.min() < size / 2:
            result[row] = drawn[np.argmin(shift)]
    return result


def crop_tile(image: np.ndarray, tile: Tile) -> np.ndarray:
    """The tile resized to the network's input; parts outside the image are black.

    Only the part inside the image is resized, then placed (a coarse tile reaches far
    past a 720p frame). A tile more than twice the input's size is first halved by
    pixel area, which OpenCV does on a fast path, until within twice of it: the
    last step is an area resize of a small image, so pixels are averaged as one
    area resize of the whole tile would, at a fraction of its cost."""
    height, width = image.shape[:2]
    side = round(tile.side)
    top, left = max(tile.top, 0), max(tile.left, 0)
    bottom, right = min(tile.top + side, height), min(tile.left + side, width)
    input_side = tile.model.input_side
    tile_pixels = np.zeros((input_side, input_side, 3), dtype=image.dtype)
    if bottom <= top or right <= left:
        return tile_pixels
    scale = input_side / side
    inside_top, inside_left = round((top - tile.top) * scale), round((left - tile.left) * scale)
    inside_height = max(min(round((bottom - top) * scale), input_side - inside_top), 1)
    inside_width = max(min(round((right - left) * scale), input_side - inside_left), 1)
    crop = image[top:bottom, left:right]
    while scale < 0.5 and min(crop.shape[:2]) >= 2:
        half_height, half_width = crop.shape[0] // 2, crop.shape[1] // 2
        # Exact halves only: an odd side takes OpenCV's slow general path.
        crop = cv2.resize(
            crop[: 2 * half_height, : 2 * half_width], (half_width, half_height), interpolation=cv2.INTER_AREA
        )
        scale *= 2
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (inside_width, inside_height), interpolation=interpolation)
    tile_pixels[inside_top : inside_top + inside_height, inside_left : inside_left + inside_width] = resized
    return tile_pixels


def one_box_per_face(
    boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Non-maximum suppression (anchors next to each other, and neighbouring tiles and
    levels, find one face several times), then boxes clipped to the image."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 1] - boxes[:, 3])
    kept: list[int] = []
    for index in order.tolist():
        if kept:
            others = boxes[kept]
            height = np.minimum(others[:, 2], boxes[index, 2]) - np.maximum(others[:, 0], boxes[index, 0])
            width = np.minimum(others[:, 1], boxes[index, 1]) - np.maximum(others[:, 3], boxes[index, 3])
            overlap = np.clip(height, 0, None) * np.clip(width, 0, None)
            union = areas[kept] + areas[index] - overlap
            # A face cut by a tile's edge is a smaller box inside the whole one.
            inside = overlap / np.minimum(areas[kept], areas[index])
            if np.any((overlap / union > SAME_FACE_IOU) | (inside > 0.7)):
                continue
        kept.append(index)
    height, width = shape
    result = np.round(boxes[kept]).astype(np.int32)
    result[:, [0, 2]] = np.clip(result[:, [0, 2]], 0, height)
    result[:, [1, 3]] = np.clip(result[:, [1, 3]], 0, width)
    valid = (result[:, 2] > result[:, 0]) & (result[:, 1] > result[:, 3])
    return result[valid], scores[kept][valid]


@functools.cache
def load_blazeface(model: Model) -> BlazeFace:
    return BlazeFace(model)
