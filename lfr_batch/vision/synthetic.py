"""Synthetic footage with exact ground truth, for tests and benchmarks.

Face crops are composited onto a real background and moved along straight
lines, so the number of people, when each is in view, and who they are is
known exactly. The background is one still frame (the easy case) or a real
clip played in a loop with sensor noise (:class:`MovingBackground`), so that
more than the faces moves. Nothing here is used by a scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Walker:
    """One person crossing the view: ``face`` (RGB) moves from ``start_xy`` to
    ``end_xy`` (face centre, pixels) between ``enter_s`` and ``leave_s``, softened
    by a Gaussian ``blur`` (sigma, pixels of the frame) as a camera softens a face
    that a photo shows sharp."""

    label: str
    face: np.ndarray
    enter_s: float
    leave_s: float
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    face_height: int
    blur: float = 0.0

    def position(self, time_s: float) -> tuple[float, float] | None:
        if not self.enter_s <= time_s <= self.leave_s:
            return None
        progress = (time_s - self.enter_s) / max(self.leave_s - self.enter_s, 1e-9)
        return (
            self.start_xy[0] + progress * (self.end_xy[0] - self.start_xy[0]),
            self.start_xy[1] + progress * (self.end_xy[1] - self.start_xy[1]),
        )


def paste(
    frame: np.ndarray, face: np.ndarray, centre: tuple[float, float], height: int, blur: float = 0.0
) -> None:
    """Draw ``face`` scaled to ``height`` pixels, centred at ``centre``, clipped to the
    frame; ``blur`` > 0 softens it by a Gaussian of that sigma (pixels) once scaled."""
    scale = height / face.shape[0]
    patch = cv2.resize(face, (max(int(face.shape[1] * scale), 1), height), interpolation=cv2.INTER_AREA)
    if blur > 0:
        patch = cv2.GaussianBlur(patch, (0, 0), blur)
    top = round(centre[1] - patch.shape[0] / 2)
    left = round(centre[0] - patch.shape[1] / 2)
    frame_h, frame_w = frame.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + patch.shape[0], frame_h), min(left + patch.shape[1], frame_w)
    if y1 > y0 and x1 > x0:
        frame[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]


def render_frame(background: np.ndarray, walkers: Sequence[Walker], time_s: float) -> np.ndarray:
    frame = background.copy()
    for walker in walkers:
        centre = walker.position(time_s)
        if centre is not None:
            paste(frame, walker.face, centre, walker.face_height, walker.blur)
    return frame


class MovingBackground:
    """A real clip (pedestrians, traffic) played in a loop at ``width``×``height``,
    with Gaussian sensor noise of ``noise`` grey levels: RGB frames, one per call.
    ``blur`` (a Gaussian's sigma in pixels) softens the clip first, so that the
    faces of its own people cannot be detected and the truth stays exact while
    they still move. With ``clip_size`` the clip plays at that size in the middle
    of the frame, mirrored out to its edges: a larger frame full of motion whose
    own people stay as small as at ``clip_size`` (upscaled, they would grow into
    faces a detector finds, which no truth lists)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        noise: float = 4.0,
        seed: int = 0,
        blur: float = 0.0,
        clip_size: tuple[int, int] | None = None,
    ) -> None:
        self.clip_size = clip_size or (width, height)
        if self.clip_size[0] > width or self.clip_size[1] > height:
            raise ValueError(f"a clip of {self.clip_size} does not fit a {width}x{height} frame")
        self.path, self.size, self._capture = path, (width, height), cv2.VideoCapture(str(path))
        self.blur = blur
        rng = np.random.default_rng(seed)
        # A few noise fields, cycled: fresh noise per frame costs more than the rest of a frame.
        self._noise = [rng.normal(0.0, noise, (height, width, 3)).astype(np.int16) for _ in range(7)]
        self._index = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        ok, bgr = self._capture.read()
        if not ok:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
            if not ok:
                raise RuntimeError(f"cannot read a frame from {self.path}")
        scene = cv2.resize(bgr, self.clip_size, interpolation=cv2.INTER_LINEAR)
        if self.blur > 0:
            scene = cv2.GaussianBlur(scene, (0, 0), self.blur)
        if self.clip_size != self.size:
            (width, height), (clip_width, clip_height) = self.size, self.clip_size
            left, top = (width - clip_width) // 2, (height - clip_height) // 2
            right, bottom = width - clip_width - left, height - clip_height - top
            scene = cv2.copyMakeBorder(scene, top, bottom, left, right, cv2.BORDER_REFLECT)
        scene = scene.astype(np.int16)
        self._index += 1
        noisy = np.clip(scene + self._noise[self._index % len(self._noise)], 0, 255).astype(np.uint8)
        return cv2.cvtColor(noisy, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()


def write_video(
    path: Path,
    background: np.ndarray | MovingBackground,
    walkers: Sequence[Walker],
    duration_s: float,
    fps: float = 25.0,
) -> Path:
    """Write the walkers over ``background`` (an RGB frame, or a moving one): MPEG-4
    in .mp4, else MJPEG (every OpenCV build writes both)."""
    width, height = background.size if isinstance(background, MovingBackground) else background.shape[1::-1]
    fourcc = "mp4v" if path.suffix.lower() == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    try:
        for index in range(round(duration_s * fps)):
            scene = next(background) if isinstance(background, MovingBackground) else background
            frame = render_frame(scene, walkers, index / fps)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def background_from_video(path: Path, width: int, height: int) -> np.ndarray:
    """The first frame of a real clip, resized and softened: a real scene to composite
    onto (RGB), blurred so that no face of its own can be detected in it."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise RuntimeError(f"cannot read a frame from {path}")
    scene = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    scene = cv2.GaussianBlur(scene, (0, 0), sigmaX=max(width, height) / 160)
    return cv2.cvtColor(scene, cv2.COLOR_BGR2RGB)


def passers_by(
    faces: Sequence[tuple[str, np.ndarray]],
    duration_s: float,
    width: int,
    height: int,
    every_s: float = 2.5,
    crossing_s: float = 3.0,
    face_heights: tuple[int, int] = (90, 140),
    seed: int = 0,
) -> list[Walker]:
    """People crossing the view one after another, some overlapping in time:
    each ``every_s`` seconds the next face (round robin) walks across, left to
    right or right to left by turns, at a random size, in the upper and lower
    half of the view by turns (so two people never meet head-on)."""
    rng = np.random.default_rng(seed)
    walkers = []
    enter_s, index = 0.2, 0
    while enter_s + crossing_s <= duration_s:
        label, face = faces[index % len(faces)]
        face_height = int(rng.integers(*face_heights))
        band = (face_height, height / 2) if index % 2 == 0 else (height / 2, height - face_height)
        y = float(rng.uniform(*band))
        margin = face_height * 0.6
        ends = ((margin, y), (width - margin, y + float(rng.uniform(-40, 40))))
        start, end = ends if index % 2 == 0 else ends[::-1]
        walkers.append(Walker(label, face, enter_s, enter_s + crossing_s, start, end, face_height))
        enter_s += every_s
        index += 1
    return walkers
