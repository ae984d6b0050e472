"""The encoder: dlib's own network (dlib-bin, as face_recognition runs it) beside the
same network run in numpy by lfr_batch (:mod:`lfr_batch.vision.resnet`), on the same
faces in one run: time per face and how far apart their numbers are.

    .venv/bin/python benchmarks/encoder.py [--faces 200]

Faces: the photos of ../shared/data/faces when present, else the bundled photos.
Each method runs on one thread, as each scan worker does (OPENBLAS_NUM_THREADS=1,
set before numpy loads); the chips (5-point landmarks, 150 px) are cut once for both.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads: one scan worker's share

import argparse
import time
from pathlib import Path

import dlib
import numpy as np
from common import PHOTOS, REPO, machine

from lfr_batch.vision.encodings import face_landmarks
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.models import ENCODER_MODEL, load_models, model_path
from lfr_batch.vision.photos import PhotoError, load_photo
from lfr_batch.vision.resnet import CHIP_PADDING, CHIP_SIZE

SHARED_FACES = REPO.parent / "shared" / "data" / "faces"


def faces_of(count: int) -> tuple[Path, list[tuple[np.ndarray, list[dlib.full_object_detection]]]]:
    """Up to ``count`` photos showing one face each, with the face's landmarks."""
    folder = SHARED_FACES if SHARED_FACES.is_dir() else PHOTOS
    detector = face_detector("hog", upsample=1)
    faces = []
    for photo in sorted(folder.glob("*/*.*")):
        if len(faces) >= count:
            break
        try:
            image = load_photo(photo)
        except PhotoError:
            continue
        boxes = detector(image).boxes
        if len(boxes) == 1:
            faces.append((image, face_landmarks(image, boxes)))
    return folder, faces


def chips(faces: list[tuple[np.ndarray, list[dlib.full_object_detection]]]) -> np.ndarray:
    return np.stack(
        [
            np.asarray(dlib.get_face_chip(image, landmarks[0], size=CHIP_SIZE, padding=CHIP_PADDING))
            for image, landmarks in faces
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200, help="faces to encode (default 200)")
    args = parser.parse_args()
    print(machine())
    folder, faces = faces_of(args.faces)
    print(f"{len(faces)} faces from {folder}; chip cutting timed with each method")
    network = dlib.face_recognition_model_v1(str(model_path(ENCODER_MODEL)))
    ours = load_models().encoder
    began = time.perf_counter()
    expected = np.vstack(
        [
            np.array(network.compute_face_descriptor(image, dlib.full_object_detections(marks), 1))
            for image, marks in faces
        ]
    )
    dlib_ms = 1000 * (time.perf_counter() - began) / len(faces)
    rows = [("dlib-bin (face_recognition's way), one face a call", dlib_ms, 0.0)]
    for batch in (1, 4):
        began = time.perf_counter()
        found = np.vstack([ours(chips(faces[i : i + batch])) for i in range(0, len(faces), batch)])
        elapsed = 1000 * (time.perf_counter() - began) / len(faces)
        label = f"numpy (lfr_batch), {batch} face{'s' * (batch > 1)} a call"
        rows.append((label, elapsed, np.abs(found - expected).max()))
    print(f"{'method':<52} {'ms/face':>8} {'x dlib':>7} {'max |difference|':>17}")
    for name, milliseconds, difference in rows:
        print(f"{name:<52} {milliseconds:8.1f} {dlib_ms / milliseconds:7.1f} {difference:17.2e}")


if __name__ == "__main__":
    main()
