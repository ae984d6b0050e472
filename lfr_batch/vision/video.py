"""Stage 1, video → frames: open a recording and yield the frames to analyse.

Every frame is grabbed (cheap) so stream timestamps stay exact, but only the
frames picked by the sampling rate are decoded to pixels (``retrieve``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from lfr_batch.errors import VideoError
from lfr_batch.files import has_utf8_name, shown_name

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
PHOTOS_BELONG = "photos of people to look for belong in a watchlist ('lfr-batch watchlist build')"
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".3gp",
        ".h264",
        ".h265",
        ".hevc",
        ".dav",
        ".asf",
        ".ogv",
    }
)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frame_count: int  # as the container declares it; decoding may find fewer
    width: int
    height: int


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the stream, its time and its RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray  # H×W×3 uint8, RGB (dlib's order)


def link_problem(path: Path) -> str:
    if path.is_dir():
        return f"{path} (a link to a folder, not followed: it could lead round in a loop)"
    return f"{path} (a link that leads nowhere, or round in a loop)"


def not_utf8(path: Path) -> VideoError:
    return VideoError(f"{shown_name(path)}: a name not in UTF-8 (OpenCV cannot open it): rename it")


def find_videos(inputs: Iterable[Path], option: str = "") -> list[Path]:
    """Expand files and folders (recursively, sorted) into video paths.

    A folder contributes the files whose suffix is a known video suffix; a file
    named explicitly is always taken, so an odd extension still gets tried, unless
    it is a photo: those belong in a watchlist, and saying so helps more. The
    warnings name the option that gave the inputs, if any (``--background``).
    """
    named = f"{option}: " if option else ""
    given = list(inputs)
    found: list[Path] = []
    photos = 0
    skipped: list[str] = []
    for item in given:
        if item.is_dir():
            entries = sorted(item.rglob("*"))
            files = [p for p in entries if p.is_file()]
            found.extend(p for p in files if p.suffix.lower() in VIDEO_SUFFIXES)
            photos += sum(p.suffix.lower() in PHOTO_SUFFIXES for p in files)
            # Links are where a folder walk goes wrong: say which were passed over.
            skipped += [link_problem(p) for p in entries if p.is_symlink() and (p.is_dir() or not p.exists())]
        elif item.is_file() and not has_utf8_name(item.resolve()):
            raise not_utf8(item.resolve())
        elif item.is_file() and item.suffix.lower() in PHOTO_SUFFIXES:
            raise VideoError(f"{item} is a photo, not footage: {PHOTOS_BELONG}")
        elif item.is_file():
            found.append(item)
        else:
            raise VideoError(f"input not found: {item}")
    # The path as opened: a folder above, or a link's target, may be what is not UTF-8.
    badly_named = [shown_name(p.resolve()) for p in found if not has_utf8_name(p.resolve())]
    if badly_named:
        logger.warning(
            "%sskipped %d %s not UTF-8, which OpenCV cannot open (rename %s): %s",
            named,
            len(badly_named),
            "video whose name is" if len(badly_named) == 1 else "videos whose names are",
            "it" if len(badly_named) == 1 else "them",
            "; ".join(badly_named),
        )
        found = [p for p in found if has_utf8_name(p.resolve())]
    if skipped:
        logger.warning(
            "%sskipped %d %s: %s",
            named,
            len(skipped),
            "link" if len(skipped) == 1 else "links",
            "; ".join(skipped),
        )
    if not found and photos:
        raise VideoError(
            f"no video files in {', '.join(map(str, given))}, only {photos} photos: {PHOTOS_BELONG}"
        )
    unique: dict[Path, None] = dict.fromkeys(found)
    return list(unique)


class VideoReader:
    """A recording opened with OpenCV; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise VideoError(f"{path}: no such file")
        if not has_utf8_name(path.resolve()):  # OpenCV would end the process, not raise
            raise not_utf8(path.resolve())
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoError(f"{path.name}: not a video OpenCV can open")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(
            path=path,
            fps=fps if np.isfinite(fps) and fps > 0 else 0.0,
            frame_count=max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
            width=int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.frames_decoded = 0
        self.last_time_s = 0.0

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._capture.release()

    def _frame_time_s(self, index: int) -> float:
        stamp_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        # Some containers report no timestamps; fall back to the nominal rate.
        if index > 0 and (not np.isfinite(stamp_ms) or stamp_ms <= 0.0) and self.info.fps > 0:
            return index / self.info.fps
        return max(float(stamp_ms), 0.0) / 1000.0

    def frames(
        self, sample_fps: float, start_frame: int = 0, end_frame: int | None = None
    ) -> Iterator[Frame]:
        """Yield about ``sample_fps`` frames per second of video, with stream times,
        from ``start_frame`` up to (not including) ``end_frame``.

        Raises :class:`VideoError` when the stream holds no decodable frame there.
        """
        if sample_fps <= 0:
            raise ValueError("sample_fps must be positive")
        if start_frame > 0 and not self._capture.set(cv2.CAP_PROP_POS_FRAMES, start_frame):
            raise VideoError(f"{self.path.name}: cannot seek to frame {start_frame}")
        interval_s = 1.0 / sample_fps
        next_sample_s = -np.inf
        index = start_frame - 1
        while (end_frame is None or index + 1 < end_frame) and self._capture.grab():
            index += 1
            self.frames_decoded += 1
            time_s = self._frame_time_s(index)
            self.last_time_s = time_s
            # Half a frame of slack so 5 fps sampling of 25 fps footage takes every 5th frame.
            if time_s + 0.5 / max(self.info.fps, sample_fps) < next_sample_s:
                continue
            ok, bgr = self._capture.retrieve()
            if not ok or bgr is None:
                logger.warning("%s: frame %d could not be decoded; skipped", self.path.name, index)
                continue
            next_sample_s = max(next_sample_s, time_s) + interval_s
            yield Frame(index=index, time_s=time_s, image=to_rgb(bgr))
        if self.frames_decoded == 0:
            raise VideoError(f"{self.path.name}: no decodable frames (corrupt or empty video)")

    @property
    def duration_s(self) -> float:
        """Seconds of footage decoded so far (the whole file once read)."""
        if self.frames_decoded == 0:
            return 0.0
        frame_s = 1.0 / self.info.fps if self.info.fps > 0 else 0.0
        return self.last_time_s + frame_s


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Convert an OpenCV image (grey, BGR or BGRA) to contiguous RGB uint8."""
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
