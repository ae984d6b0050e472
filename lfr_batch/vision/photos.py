"""Loading still photos for the watchlist, whatever their kind.

JPEG, PNG, BMP, TIFF, WebP and PGM/PPM load the same way: greyscale and RGBA
become RGB, and EXIF orientation is applied so a phone photo taken sideways is
upright before detection.

A photo is read as input like any other file: only a regular file of bounded size
(a pipe as a probe photo would wait for ever), and its size in pixels is read from
its header before a pixel is decoded, so a few bytes claiming 60000×60000 pixels
(a decompression bomb) are refused instead of taking gigabytes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from lfr_batch.files import RefusedFileError, read_regular
from lfr_batch.vision.video import PHOTO_SUFFIXES, to_rgb

MAX_PHOTO_BYTES = 100 * 1024 * 1024
# 64 megapixels: more than any camera's photo (8000×8000), decoded in under 200 MB.
MAX_PHOTO_PIXELS = 64_000_000


class PhotoError(ValueError):
    """A photo that cannot be read; the message is the reason shown to the user."""


def _pixels(data: bytes) -> tuple[int, int]:
    """The width and height a photo's header states, read without decoding it (Pillow
    reads the header of every kind of photo OpenCV decodes). Pillow's own limit gives
    way to ours, which is checked on what this returns."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as header:
            warnings.simplefilter("ignore")
            return header.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise PhotoError("not a readable image (corrupt or unsupported)") from error
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def load_photo(path: Path) -> np.ndarray:
    """Read ``path`` as an upright RGB uint8 array."""
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise PhotoError(f"not a supported photo type ({path.suffix or 'no suffix'})")
    try:
        data = read_regular(path, "photo", MAX_PHOTO_BYTES)
    except RefusedFileError as error:
        raise PhotoError(error.reason) from None
    if not data:
        raise PhotoError("empty file")
    width, height = _pixels(data)
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(
            f"{width}×{height} pixels, more than the {MAX_PHOTO_PIXELS // 1_000_000} megapixels a photo may "
            "have: shrink it"
        )
    # IMREAD_COLOR applies EXIF orientation and turns greyscale and RGBA into 3 channels;
    # numpy + imdecode also copes with non-ASCII paths.
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise PhotoError("not a readable image (corrupt or unsupported)") from error
    if image is None:
        raise PhotoError("not a readable image (corrupt or unsupported)")
    return to_rgb(image)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB image as JPEG bytes."""
    ok, buffer = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """The RGB image as it comes back from JPEG at ``quality``, artefacts and all."""
    data = np.frombuffer(encode_jpeg(image, quality=quality), dtype=np.uint8)
    return to_rgb(cv2.imdecode(data, cv2.IMREAD_COLOR))


def crop_face(image: np.ndarray, box: np.ndarray, margin: float = 0.4, max_side: int = 0) -> np.ndarray:
    """The face at ``box`` with ``margin`` of its size around it, clipped to the image;
    shrunk so its longer side is at most ``max_side`` pixels when that is set."""
    top, right, bottom, left = (int(v) for v in box)
    pad_y = int((bottom - top) * margin)
    pad_x = int((right - left) * margin)
    height, width = image.shape[:2]
    crop = image[
        max(top - pad_y, 0) : min(bottom + pad_y, height),
        max(left - pad_x, 0) : min(right + pad_x, width),
    ]
    longest = max(crop.shape[:2])
    if max_side and longest > max_side:
        scale = max_side / longest
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


# A reference photo as a camera sees a passer-by. Faces in footage are smaller, softer and
# more compressed than in photos, and their encodings drift from the photo's; a subject whose
# centroid holds a view like this as well as the photo meets them part of the way. Measured
# on 635 photos of 86 people shrunk, blurred, shaken and compressed in other ways than these
# (benchmarks/accuracy.py, part 2b): see the README's *Footage views*.
FOOTAGE_FACE_PX = 48
FOOTAGE_BLUR_SIGMA = 0.7
FOOTAGE_JPEG_QUALITY = 80


def as_footage(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo with its face at ``box`` shrunk to :data:`FOOTAGE_FACE_PX` tall (never
    enlarged), softened and JPEG-compressed; and the face's box in it."""
    scale = min(FOOTAGE_FACE_PX / max(int(box[2] - box[0]), 1), 1.0)
    small = image
    if scale < 1.0:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(small, (0, 0), FOOTAGE_BLUR_SIGMA)
    compressed = jpeg_round_trip(soft, FOOTAGE_JPEG_QUALITY)
    return compressed, np.round(np.asarray(box) * scale).astype(np.int32)
