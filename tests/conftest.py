"""Shared fixtures: the bundled sample, bundled test photos, and synthetic footage."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from lfr_batch.cli import main
from lfr_batch.command_settings import CONFIG_ENV
from lfr_batch.records.state import LEGACY_VERSION, DeploymentState
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.photos import crop_face, load_photo
from lfr_batch.vision.synthetic import Walker, background_from_video, write_video
from lfr_batch.watchlist.builder import build_watchlist
from lfr_batch.watchlist.model import Watchlist
from lfr_batch.watchlist.store import load_watchlist

# No one's own default config file (~/.config/lfr-batch/config.toml) may steer a test.
os.environ[CONFIG_ENV] = ""

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
PHOTOS = TEST_DATA / "photos"
SAMPLE_VIDEOS = REPO / "sample_videos"
SAMPLE_WATCHLIST = REPO / "watchlists" / "sample.pkl"
SAMPLE_PHOTOS = REPO / "watchlists" / "sample_photos"
FEMALE_AND_MALE = SAMPLE_VIDEOS / "intel_head-pose-face-detection-female-and-male_preview.mp4"
MALE_ONLY = SAMPLE_VIDEOS / "intel_head-pose-face-detection-male_preview.mp4"
STRANGERS_WALKING = SAMPLE_VIDEOS / "intel_face-demographics-walking_preview.mp4"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def private_sample_watchlist() -> None:
    """The bundled list as a force keeps its own, readable by its owner alone: a checkout
    leaves it readable by everyone, and every scan would warn of that."""
    SAMPLE_WATCHLIST.chmod(0o600)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "SOURCES.md").is_file():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_watchlist() -> Watchlist:
    return load_watchlist(SAMPLE_WATCHLIST)


@pytest.fixture(scope="session")
def two_subject_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A watchlist source folder: the sample subject (F1) and M1, with a subjects.csv."""
    source = tmp_path_factory.mktemp("source")
    for subject, folder in (
        ("f1", SAMPLE_PHOTOS / "intel_actor_f1"),
        ("m1", PHOTOS / "intel_actor_m1"),
    ):
        (source / subject).mkdir()
        for photo in sorted(folder.glob("*.png")):
            (source / subject / photo.name).write_bytes(photo.read_bytes())
    (source / "subjects.csv").write_text(
        "subject_id,name,category,reason,expires\n"
        'f1,=HYPERLINK("http://x"),wanted,warrant 123,2099-01-01\n'
        "m1,Subject M1,risk_of_harm,missing person,\n",
        encoding="utf-8",
    )
    return source


@pytest.fixture(scope="session")
def two_subject_watchlist(two_subject_source: Path) -> Watchlist:
    return build_watchlist(two_subject_source).watchlist


def face_crop(photo: Path) -> np.ndarray:
    """The single face of a bundled photo with some head around it (RGB)."""
    image = load_photo(photo)
    boxes = face_detector("hog", 1)(image).boxes
    assert len(boxes) == 1
    return crop_face(image, boxes[0], margin=0.35)


@pytest.fixture(scope="session")
def walk_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 25 fps footage: F1 walks left to right (0.5-3.5 s), M1 right to left
    (1.0-3.0 s); each is one face seen, and only F1 is on the sample watchlist."""
    folder = tmp_path_factory.mktemp("walk")
    background = background_from_video(STRANGERS_WALKING, 640, 360)
    walkers = [
        Walker(
            "f1",
            face_crop(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"),
            0.5,
            3.5,
            (80, 150),
            (560, 170),
            110,
        ),
        Walker(
            "m1",
            face_crop(PHOTOS / "intel_actor_m1" / "1.png"),
            1.0,
            3.0,
            (560, 250),
            (120, 240),
            100,
        ),
    ]
    return write_video(folder / "cam1_20261126T140000.avi", background, walkers, duration_s=4.0)


def scan_args(
    *inputs: Path,
    out: Path,
    watchlist: Path = SAMPLE_WATCHLIST,
    deployment: str = "d",
    options: tuple[str, ...] = (),
) -> list[str]:
    """The arguments of ``lfr-batch scan`` as a user would type them (no progress bars:
    stderr is not a terminal under pytest). The bundled sample list was built once,
    on 2026-11-26: from a day later every scan with it warns that it is stale, a line
    that tests counting the lines of an error must not see, so its age limit is
    lifted unless a test sets one (``test_review`` tests the warning on a list of
    its own)."""
    if watchlist == SAMPLE_WATCHLIST and "--watchlist-max-age" not in options:
        options = (*options, "--watchlist-max-age", "1000000")
    return [
        "scan",
        *map(str, inputs),
        "--watchlist",
        str(watchlist),
        "--deployment",
        deployment,
        "--out",
        str(out),
        *options,
    ]


def scan_cli(*inputs: Path, out: Path, **arguments: Any) -> int:
    """Run ``lfr-batch scan`` in this process; return its exit code."""
    return main(scan_args(*inputs, out=out, **arguments))


def write_corrupt_video(path: Path) -> Path:
    """A file that looks like an MP4 by name and starts like one, but holds garbage."""
    rng = np.random.default_rng(7)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def blank_image(path: Path, size: tuple[int, int] = (200, 200)) -> Path:
    cv2.imwrite(str(path), np.full((*size, 3), 127, dtype=np.uint8))
    return path


def stored_text(path: Path) -> str:
    """What a file holds, as text: a CSV or JSON file as it is, the SQLite state as
    every value it stores (what someone opening the file would find)."""
    if path.suffix == ".sqlite":
        with sqlite3.connect(path) as db:
            return "\n".join(db.iterdump())
    return path.read_text()


def stored_records(folder: Path) -> dict[str, dict]:
    """A deployment's per-video records as stored, by SHA-256."""
    with sqlite3.connect(folder / ".lfr-batch" / "state.sqlite") as db:
        return {sha256: json.loads(text) for sha256, text in db.execute("SELECT sha256, record FROM videos")}


def to_legacy_layout(folder: Path, reviews: object) -> tuple[dict[str, dict], dict[str, Any]]:
    """Write a scanned deployment back in the layout of versions before the SQLite store
    (one JSON file per video, settings.json, reviews.json); its records and settings."""
    state = DeploymentState(folder)
    records = {record.sha256: record.to_json() for record in state.ordered()}
    settings = {**state.settings, "version": LEGACY_VERSION}
    paths = state.paths
    state.clear()
    paths.legacy_records.mkdir(parents=True)
    for sha256, record in records.items():
        (paths.legacy_records / f"{sha256}.json").write_text(json.dumps(record))
    paths.legacy_settings.write_text(json.dumps(settings))
    paths.legacy_reviews.write_text(json.dumps(reviews))
    return records, settings
