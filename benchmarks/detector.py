"""BlazeFace in one run: its two engines, and its two models on a tracked face.

    .venv/bin/python benchmarks/detector.py [--frames 20] [--photos 0]

1. LiteRT and OpenCV's DNN module on the same tiles: time per tile (the crop, then the
   network) and how far apart their outputs are. Tiles: the finest level of the sweep
   pyramid (the scan's tiles at --upsample 1) over frames of
   ../shared/data/videos/vtest.avi (a real plaza, people moving) at 1280x720 when
   present, else of the bundled sample.
2. A tracked face searched as the scan searches it, by the full-range model (a
   192-px tile, the face at 56 px; the scan's way before 2026-11-27) and by the
   short-range model (a 128-px tile, the face at 32 px; the scan's way now): each
   face photo (../shared/data/faces when present, else the bundled photos) in which
   HOG finds one face is pasted into a frame of the plaza at a face size of 24-65 px,
   the search box centred up to half a face away from it, as the tracker's prediction
   may be; then how often each model finds it and its time per search. And, on the
   photo itself, how far the encoding from each model's box lies from the encoding
   from HOG's box (dlib's landmark model was trained on HOG's boxes), and from the
   short-range box redrawn by the full-range model, as the scan encodes a tracked face.

Each engine runs on one thread, as each scan worker does.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads: one scan worker's share

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from common import PHOTOS, REPO, SAMPLE, machine

from lfr_batch.vision import blazeface
from lfr_batch.vision.encodings import FaceEncoder
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.photos import PhotoError, crop_face, load_photo
from lfr_batch.vision.synthetic import paste
from lfr_batch.vision.video import VideoReader

VTEST = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"
SHARED_FACES = REPO.parent / "shared" / "data" / "faces"
# Each model searching a tracked face as the scan would (``Model.tracked_face_px``).
TRACKED_SEARCH = {"full-range": blazeface.FULL_RANGE, "short-range": blazeface.SHORT_RANGE}
REDRAWN = "short-range, redrawn"


def frames_of(count: int) -> tuple[Path, list[np.ndarray]]:
    """``count`` frames a second apart, at 1280x720."""
    clip = VTEST if VTEST.is_file() else sorted(SAMPLE.glob("*.mp4"))[0]
    with VideoReader(clip) as reader:
        frames = [cv2.resize(frame.image, (1280, 720)) for frame in reader.frames(1.0)]
    return clip, frames[:count]


def search_box(centre: tuple[float, float], face_px: float) -> tuple[int, int, int, int]:
    """Where a tracked face is searched for: its box padded by half a face each side
    (as ``motion.py`` asks), around the predicted ``centre``."""
    return (
        round(centre[1] - face_px),
        round(centre[0] + face_px),
        round(centre[1] + face_px),
        round(centre[0] - face_px),
    )


def tracked_search(
    image: np.ndarray, centre: tuple[float, float], face_px: float, model: blazeface.Model
) -> np.ndarray:
    """The boxes a model finds searching for a tracked face, as the scan searches it."""
    return blazeface.detect(image, blazeface.tracked_face_tiles(search_box(centre, face_px), face_px, model))[
        0
    ]


def centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 1] + boxes[:, 3]) / 2, (boxes[:, 0] + boxes[:, 2]) / 2], axis=1)


def compare_models(frames: list[np.ndarray], photo_limit: int) -> None:
    """Part 2 (see the module's docstring)."""
    folder = SHARED_FACES if SHARED_FACES.is_dir() else PHOTOS
    rng = np.random.default_rng(0)
    hog, encoder = face_detector("hog", upsample=1), FaceEncoder()
    found = dict.fromkeys(TRACKED_SEARCH, 0)
    seconds = dict.fromkeys(TRACKED_SEARCH, 0.0)
    apart: dict[str, list[float]] = {name: [] for name in [*TRACKED_SEARCH, REDRAWN]}
    for model in TRACKED_SEARCH.values():  # the first call loads the model
        tracked_search(frames[0], (640.0, 360.0), 40.0, model)
    faces = 0
    for photo in sorted(folder.glob("*/*.*")):
        if photo_limit and faces >= photo_limit:
            break
        try:
            image = load_photo(photo)
        except PhotoError:
            continue
        hog_boxes = hog(image).boxes
        if len(hog_boxes) != 1:
            continue
        faces += 1
        hog_box = hog_boxes[0]
        hog_side = float(hog_box[2] - hog_box[0])
        hog_encoding = encoder(image, hog_boxes)[0]
        frame = frames[faces % len(frames)].copy()
        face_px = float(rng.uniform(24, 65))
        truth = np.array([rng.uniform(100, 1180), rng.uniform(100, 620)])
        head = crop_face(image, hog_box, margin=0.35)
        paste(frame, head, (float(truth[0]), float(truth[1])), round(face_px * head.shape[0] / hog_side))
        predicted = truth + rng.uniform(-0.5, 0.5, 2) * face_px  # the tracker's guess
        for name, model in TRACKED_SEARCH.items():
            began = time.perf_counter()
            boxes = tracked_search(frame, (predicted[0], predicted[1]), face_px, model)
            seconds[name] += time.perf_counter() - began
            found[name] += bool((np.linalg.norm(centres(boxes) - truth, axis=1) < face_px / 2).any())
            hog_centre = (float(centres(hog_boxes)[0, 0]), float(centres(hog_boxes)[0, 1]))
            on_photo = tracked_search(image, hog_centre, hog_side, model)
            if not len(on_photo):
                continue
            nearest = on_photo[[np.argmin(np.linalg.norm(centres(on_photo) - centres(hog_boxes)[0], axis=1))]]
            apart[name].append(float(np.linalg.norm(encoder(image, nearest)[0] - hog_encoding)))
            if model is blazeface.SHORT_RANGE:  # as the scan describes a tracked face
                redrawn = blazeface.redrawn(image, nearest, [(search_box(hog_centre, hog_side), hog_side)])
                apart[REDRAWN].append(float(np.linalg.norm(encoder(image, redrawn)[0] - hog_encoding)))
    print(
        f"\n{faces} faces of {folder}, pasted at 24-65 px into frames of the plaza, searched as tracked faces"
    )
    print(f"{'model':<20} {'ms/search':>9} {'found':>9}   encoding from its box against HOG's, on the photo")
    for name, distances_found in apart.items():
        distances = np.array(distances_found)
        searches = (
            f"{1000 * seconds[name] / faces:9.2f} {found[name]:>4}/{faces:<4}" if name in found else " " * 19
        )
        print(
            f"{name:<20} {searches}   "
            f"median {np.median(distances):.3f}, 90th percentile {np.percentile(distances, 90):.3f}, "
            f"99th {np.percentile(distances, 99):.3f}, largest {distances.max():.3f}, "
            f"beyond 0.3: {(distances > 0.3).sum()} of {len(distances)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames to cut tiles from (default 20)")
    parser.add_argument("--photos", type=int, default=0, help="face photos for part 2 (default 0: all)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(machine())
    clip, frames = frames_of(args.frames)
    grid = blazeface.pyramid((0, 1280, 720, 0), 40.0)
    finest = [tile for tile in grid if tile.side == min(t.side for t in grid)]
    began = time.perf_counter()
    tiles = [blazeface.crop_tile(frame, tile) for frame in frames for tile in finest]
    crop_ms = 1000 * (time.perf_counter() - began) / len(tiles)
    inputs = [tile.astype(np.float32) / 127.5 - 1.0 for tile in tiles]
    print(f"{len(tiles)} tiles of {round(finest[0].side)} px from {len(frames)} frames of {clip.name}")
    print(f"cropping and resizing a tile: {crop_ms:.2f} ms")
    outputs = {}
    print(f"{'engine':<12} {'ms/tile':>8} {'max |logit difference|':>23}")
    for engine in (blazeface.OpenCvNetwork, blazeface.LiteRtNetwork):
        network = engine(blazeface.FULL_RANGE.path, blazeface.FULL_RANGE.outputs)
        network(inputs[0])  # the first call prepares the engine
        began = time.perf_counter()
        outputs[engine] = np.stack([network(pixels)[0] for pixels in inputs])
        milliseconds = 1000 * (time.perf_counter() - began) / len(inputs)
        difference = np.abs(outputs[engine] - outputs[blazeface.OpenCvNetwork]).max()
        print(f"{engine.name:<12} {milliseconds:8.2f} {difference:23.2e}")
    compare_models(frames, args.photos)


if __name__ == "__main__":
    main()
