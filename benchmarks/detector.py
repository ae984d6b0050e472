"""BlazeFace's two engines, LiteRT and OpenCV's DNN module, on the same tiles in one run:
time per tile (the crop, then the network) and how far apart their outputs are.

    .venv/bin/python benchmarks/detector.py [--frames 20]

Tiles: the finest level of the sweep pyramid (the scan's tiles at --upsample 1) over
frames of ../shared/data/videos/vtest.avi (a real plaza, people moving) at 1280x720
when present, else of the bundled sample. Each engine runs on one thread, as each scan
worker does.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads: one scan worker's share

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from common import REPO, SAMPLE, machine

from lfr_batch.vision import blazeface
from lfr_batch.vision.video import VideoReader

VTEST = REPO.parent / "shared" / "data" / "videos" / "vtest.avi"


def frames_of(count: int) -> tuple[Path, list[np.ndarray]]:
    """``count`` frames a second apart, at 1280x720."""
    clip = VTEST if VTEST.is_file() else sorted(SAMPLE.glob("*.mp4"))[0]
    with VideoReader(clip) as reader:
        frames = [cv2.resize(frame.image, (1280, 720)) for frame in reader.frames(1.0)]
    return clip, frames[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames to cut tiles from (default 20)")
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
        network = engine(blazeface.MODEL_PATH)
        network(inputs[0])  # the first call prepares the engine
        began = time.perf_counter()
        outputs[engine] = np.stack([network(pixels)[0] for pixels in inputs])
        milliseconds = 1000 * (time.perf_counter() - began) / len(inputs)
        difference = np.abs(outputs[engine] - outputs[blazeface.OpenCvNetwork]).max()
        print(f"{engine.name:<12} {milliseconds:8.2f} {difference:23.2e}")


if __name__ == "__main__":
    main()
