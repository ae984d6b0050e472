"""What the benchmarks share: the watchlist, the synthetic footage and the clock."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import cv2
import dlib
import numpy as np

from lfr_batch.options import default_workers
from lfr_batch.scan import ScanConfig, ScanResult, scan
from lfr_batch.vision.encodings import face_landmarks
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.models import ENCODER_MODEL, model_path
from lfr_batch.vision.photos import crop_face, load_photo
from lfr_batch.vision.synthetic import background_from_video, passers_by, write_video
from lfr_batch.vision.video import to_rgb
from lfr_batch.watchlist.model import Watchlist
from lfr_batch.watchlist.store import save_watchlist

REPO = Path(__file__).resolve().parents[1]
WATCHLIST = REPO / "watchlists" / "sample.pkl"
SAMPLE = REPO / "sample_videos"
PHOTOS = REPO / "tests" / "data" / "photos"
FACE_PHOTOS = {
    "intel_actor_f1": REPO / "watchlists" / "sample_photos" / "intel_actor_f1" / "1.png",  # on the watchlist
    "intel_actor_m1": PHOTOS / "intel_actor_m1" / "1.png",
    "orl_s01": PHOTOS / "orl_s01" / "1.png",
    "barack_obama": PHOTOS / "barack_obama" / "5.jpg",
    "orl_s02": PHOTOS / "orl_s02" / "1.png",
}


def machine() -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__}, dlib {dlib.__version__}; default workers {default_workers()}"
    )


def face(photo: Path) -> np.ndarray:
    image = load_photo(photo)
    return crop_face(image, face_detector()(image).boxes[0], margin=0.35)


def synthetic_clip(
    path: Path,
    seconds: float,
    width: int = 1280,
    height: int = 720,
    fps: float = 25.0,
    every_s: float = 2.5,
    head_heights: tuple[int, int] | None = None,
) -> Path:
    """People walking past one after another (the watchlisted sample subject every fifth),
    heads ``head_heights`` px tall (default 90-140 px at 720p, in proportion to ``height``)."""
    background = background_from_video(SAMPLE / "intel_face-demographics-walking_preview.mp4", width, height)
    faces = [(label, face(photo)) for label, photo in FACE_PHOTOS.items()]
    scale = height / 720
    walkers = passers_by(
        faces,
        seconds,
        width,
        height,
        every_s=every_s,
        face_heights=head_heights or (int(90 * scale), int(140 * scale)),
    )
    return write_video(path, background, walkers, seconds, fps=fps)


def naive_loop(path: Path, matcher: WatchlistMatcher, frames: int | None = None) -> None:
    """The baseline, as a face_recognition user writes it: every frame (or the first
    ``frames``), full-frame HOG at upsample 1 (the scan's reach), every face encoded by
    dlib's own network (as ``face_recognition.face_encodings`` does) and matched; no
    tracking."""
    detector = face_detector("hog", upsample=1)
    network = dlib.face_recognition_model_v1(str(model_path(ENCODER_MODEL)))

    def encoder(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        landmarks = dlib.full_object_detections(face_landmarks(image, boxes))
        return np.array(network.compute_face_descriptor(image, landmarks, 1)).reshape(-1, 128)

    capture = cv2.VideoCapture(str(path))
    try:
        done = 0
        while frames is None or done < frames:
            ok, bgr = capture.read()
            if not ok:
                break
            image = to_rgb(bgr)
            matcher.match(encoder(image, detector(image).boxes))
            done += 1
    finally:
        capture.release()


def photos_only(watchlist: Watchlist) -> Watchlist:
    """The same list without its footage views: the baseline they are measured against."""
    photos = ~watchlist.encoding_footage_view
    return Watchlist(
        subjects=watchlist.subjects,
        encodings=watchlist.encodings[photos],
        encoding_subject=watchlist.encoding_subject[photos],
        encoding_source=[s for s, keep in zip(watchlist.encoding_source, photos, strict=True) if keep],
        created=watchlist.created,
        models=watchlist.models,
    )


# The auto threshold before footage calibration, kept here as the baseline it is measured
# against: the lower tail of the distances between the list's own photos (and their
# footage views) and other subjects' centroids, a probit line through it, read at the
# per-subject share and moved 0.05 nearer for footage; a list with too few comparisons
# took a tail fitted on 635 photos and their views.
OLD_FOOTAGE_SHIFT = 0.05
OLD_REFERENCE_TAIL = (0.7531, 0.0813)


def photo_tail_threshold(watchlist: Watchlist, max_rate: float = 1e-4) -> float:
    """The threshold the list's own photos gave (lfr-batch 0.1 before footage calibration)."""
    from statistics import NormalDist

    from lfr_batch.vision.calibration import fit_tail, pairwise_distances, per_subject_share

    centroids = watchlist.centroids()
    distances = pairwise_distances(watchlist.encodings, centroids)
    others = np.arange(watchlist.size)[None, :] != watchlist.encoding_subject[:, None]
    impostor = distances[others]
    if len(impostor) >= 1000:
        offset, slope = fit_tail((impostor - impostor.mean()) / impostor.std())
        location, scale = impostor.mean() + offset * impostor.std(), slope * impostor.std()
    else:
        location, scale = OLD_REFERENCE_TAIL
    share = per_subject_share(max_rate, watchlist.size)
    return float(np.floor((location + scale * NormalDist().inv_cdf(share) - OLD_FOOTAGE_SHIFT) * 1000) / 1000)


def timed_scan(paths: list[Path], watchlist: Path, out: Path, **options: object) -> tuple[float, ScanResult]:
    """Wall seconds and result of one `lfr-batch scan` into OUT/bench, written afresh."""
    config = ScanConfig(
        inputs=tuple(paths), watchlist=watchlist, deployment="bench", out_dir=out, overwrite=True, **options
    )
    began = time.perf_counter()
    result = scan(config)
    return time.perf_counter() - began, result


def footage_seconds(paths: list[Path]) -> float:
    total = 0.0
    for path in paths:
        capture = cv2.VideoCapture(str(path))
        total += capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
        capture.release()
    return total


def both_lists(watchlist: Watchlist, path: Path) -> dict[bool, Path]:
    """The list saved at ``path`` and, beside it, without its footage views (by whether
    it has them)."""
    photos = path.with_name(f"{path.stem}_photos_only.pkl")
    save_watchlist(watchlist, path)
    save_watchlist(photos_only(watchlist), photos)
    return {True: path, False: photos}
