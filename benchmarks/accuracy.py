"""Accuracy of `lfr-batch scan`: false alerts and misses at the calibrated default, beside
the rule it replaced (each list's own photos) and the best threshold in hindsight, and
the false alert rate the calibration expected beside the one measured, in one run.

    .venv/bin/python benchmarks/accuracy.py [--work DIR] [--parts 1,2,2b,3,4] [--write-reference]

Needs ../shared/data (skips with a message when it is absent). Its parts:

1. Photos (635 usable photos of 86 people in faces/, ORL included): subject centroids
   against each subject's nearest photo at equal false-match rates, and why the
   list's own photos cannot calibrate footage: where strangers' photos lie from the
   subjects, against where strangers' faces in footage do.
2. Quality: 40 people's photos shrunk to 24-80 px faces and blurred, encoded, and
   compared with their own other photos and with everyone else (the quality gate).
2b. Footage views: every photo shown small, soft, smeared or noisy (each otherwise
   than a footage view is made), against its subject's other photos with and
   without their footage views (watchlist build --no-footage-views).
3. The calibration on footage, fitted on one half and checked on the other. The 86
   people are split in two halves that share nobody (ORL's 40 split evenly), and
   the real clips in two sets that share no clip and nobody. Synthetic scenes (faces
   pasted as head crops over OpenCV's moving vtest.avi plaza, sensor noise, MPEG-4;
   720p and 1080p, sharp and soft, 40-120 s) are made from each half's people: some
   on the list walking past (a photo held out of the list), the others strangers,
   none of them from ORL (ordinary photos walk past a list of which ORL's uniformly
   photographed 40 are part). The reference (lfr_batch/vision/data/footage_reference.json)
   is fitted on the strangers' tracks of the fitting half's scenes and of the fitting
   clips; --write-reference writes it. The checking half's scenes are then scanned at
   the defaults, with the scene's watchlisted people alone (~10) and with everyone
   but the scene's strangers (~75) as the list: passes found and false alerts (each
   alert judged by where the face was), against the old rule (the list's own photos)
   and the best single threshold in hindsight (read off the scene's tracks), and the
   false alert rate expected at thresholds 0.40-0.60 against the one measured, with
   95 % intervals.
4. The real clips in videos/ against a watchlist of all 86 people: which alerts are
   of people known to be in the clip (SOURCES.md), which are not; faces seen per
   clip beside the number of people showing their faces, where it is known; where
   strangers came nearest; the default against the old rule and the fixed 0.6.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from common import REPO, machine, photo_tail_threshold, photos_only, timed_scan

from lfr_batch.executors import analyse, file_stamp
from lfr_batch.options import default_workers
from lfr_batch.vision.calibration import (
    DEFAULT_MAX_FALSE_ALERT_RATE,
    REFERENCE_FILE,
    Calibration,
    DistanceHistograms,
    FootageReference,
    load_reference,
    pairwise_distances,
)
from lfr_batch.vision.encodings import (
    MIN_FACE_PX,
    MIN_SHARPNESS,
    FaceEncoder,
    face_landmarks,
    face_sharpness,
)
from lfr_batch.vision.faces import FaceDetector, face_detector
from lfr_batch.vision.photos import crop_face, jpeg_round_trip, load_photo
from lfr_batch.vision.pipeline import (
    MIN_DETECTIONS,
    AnalysisSettings,
    SegmentTask,
)
from lfr_batch.vision.references import one_face
from lfr_batch.vision.synthetic import MovingBackground, Walker, write_video
from lfr_batch.vision.tracks import Track
from lfr_batch.watchlist.builder import build_watchlist
from lfr_batch.watchlist.model import Watchlist, subject_centroids
from lfr_batch.watchlist.store import load_watchlist, save_watchlist, to_payload

SHARED = REPO.parent / "shared" / "data"
FACES, VIDEOS = SHARED / "faces", SHARED / "videos"
# Who is known to be in each real clip (SOURCES.md); everyone else there is a stranger.
KNOWN = {
    "intel_head-pose-face-detection-female_preview.mp4": {"intel_actor_f1"},
    "intel_head-pose-face-detection-male_preview.mp4": {"intel_actor_m1"},
    "intel_head-pose-face-detection-female-and-male_preview.mp4": {"intel_actor_f1", "intel_actor_m1"},
    "intel_face-demographics-walking-and-pause_preview.mp4": {"intel_actor_f1"},
    "intel_face-demographics-walking_preview.mp4": set(),
    "intel_classroom_preview.mp4": set(),
    "short_hamilton_clip.mp4": {"lin_manuel_miranda", "alex_lacamoire", "barack_obama", "michelle_obama"},
    "facenet_pytorch_video.mp4": set(),
    "MOT20-05-raw_even_shorter.mp4": set(),
    "MOT20-08-raw_shorter.mp4": set(),
    "vtest.avi": set(),
    "intel_one-by-one-person-detection.mp4": set(),
}
# How many people show their faces in each real clip, where that is known: SOURCES.md's
# descriptions, and facenet_pytorch_video.mp4 counted by hand in frames 0, 35, 70 and 104
# (11 people whose faces show, frontal or in profile, at about 35-110 px; others there
# are seen only from behind or are under 25 px). A face seen beyond these is not a face.
FACES_SHOWN = {
    "intel_head-pose-face-detection-female_preview.mp4": 1,
    "intel_head-pose-face-detection-male_preview.mp4": 1,
    "intel_head-pose-face-detection-female-and-male_preview.mp4": 2,
    "intel_face-demographics-walking-and-pause_preview.mp4": 3,
    "intel_face-demographics-walking_preview.mp4": 2,
    "facenet_pytorch_video.mp4": 11,
    "intel_one-by-one-person-detection.mp4": 0,  # backs to the camera throughout
}
THRESHOLDS = (0.40, 0.45, 0.50, 0.55, 0.60)
PARTS = ("1", "2", "2b", "3", "4")


def all_people(work: Path) -> Watchlist:
    """Every usable photo in faces/ and its footage view, one subject per person (cached
    in --work, and rebuilt where the cache predates footage views)."""
    path = work / "all_people.pkl"
    if not path.is_file() or not load_watchlist(path).encoding_footage_view.any():
        save_watchlist(build_watchlist(FACES).watchlist, path)
    return load_watchlist(path)


def shared_people(work: Path) -> tuple[Watchlist, list[Path]] | None:
    """Every person of ../shared/data/faces and each encoding's photo (a photo and its
    footage view name the same), or None (said on stdout) when the shared data is
    absent; prints the machine first."""
    if not (SHARED / "SOURCES.md").is_file():
        print(f"skipped: {SHARED} is not present on this machine")
        return None
    print(machine())
    work.mkdir(parents=True, exist_ok=True)
    people = all_people(work)
    return people, [FACES / source for source in people.encoding_source]


def part_photos(people: Watchlist) -> None:
    print("\n## 1. Photos: subject representation, and why photos cannot calibrate footage")
    people = photos_only(people)
    encodings, owner, size = people.encodings, people.encoding_subject, people.size
    distances = np.linalg.norm(encodings[:, None] - encodings[None], axis=2)
    centroids = subject_centroids(encodings, owner, size)
    for name in ("centroid", "nearest photo"):
        impostor, genuine = [], []
        for subject in range(size):
            mine = owner == subject
            if name == "centroid":
                impostor.append(np.linalg.norm(encodings[~mine] - centroids[subject], axis=1))
            else:
                impostor.append(distances[np.ix_(~mine, mine)].min(axis=1))
            for row in np.flatnonzero(mine) if mine.sum() >= 2 else []:
                rest = np.flatnonzero(mine & (np.arange(len(owner)) != row))
                if name == "centroid":
                    genuine.append(np.linalg.norm(encodings[row] - encodings[rest].mean(axis=0)))
                else:
                    genuine.append(distances[row, rest].min())
        impostor_all, genuine_all = np.concatenate(impostor), np.array(genuine)
        cut = [float(np.quantile(impostor_all, share)) for share in (1e-3, 1e-4)]
        misses = ", ".join(
            f"{100 * (genuine_all > c).mean():.1f} % of own photos missed at {share} false matches (cut {c:.3f})"
            for share, c in zip(("1e-3", "1e-4"), cut, strict=True)
        )
        print(f"  subject as {name:<13}: {misses}")
    orl = np.array([s.subject_id.startswith("orl_") for s in people.subjects])
    reference = load_reference()
    footage = reference.locations(centroids)
    print("  where strangers lie from a subject (median distance), by the subjects' photo source:")
    print(f"  {'subjects':<18} {'other subjects photos':>22} {'strangers in footage (reference)':>33}")
    for label, group in (("ORL (one camera)", orl), ("the others", ~orl)):
        photo_medians = [
            np.median(np.linalg.norm(encodings[owner != s] - centroids[s], axis=1))
            for s in np.flatnonzero(group)
        ]
        print(f"  {label:<18} {np.median(photo_medians):>22.3f} {np.median(footage[group]):>33.3f}")
    print("  per-subject cuts before any footage (the reference), by list size, 1 false alert in 10,000:")
    rng = np.random.default_rng(0)
    for subjects in (1, 10, 86):
        chosen = rng.choice(size, subjects, replace=False) if subjects < size else np.arange(size)
        cuts = Calibration.for_list(centroids[chosen], 1e-4, reference).cuts(1e-4)
        print(f"    {subjects:>3} subjects: median {np.median(cuts):.3f} ({cuts.min():.3f}-{cuts.max():.3f})")


def part_quality(people: Watchlist, sources: list[Path]) -> None:
    print("\n## 2. Quality: same-person distance as faces shrink and blur (40 people)")
    photos = ~people.encoding_footage_view
    sources = [source for source, keep in zip(sources, photos, strict=True) if keep]
    people = photos_only(people)
    detector, encoder = face_detector(), FaceEncoder()
    rng = np.random.default_rng(0)
    several = [
        i for i in range(len(sources)) if (people.encoding_subject == people.encoding_subject[i]).sum() >= 3
    ]
    chosen = rng.choice(several, size=min(40, len(several)), replace=False)
    centroids = subject_centroids(people.encodings, people.encoding_subject, people.size)
    rows = []
    for row in chosen:
        image = load_photo(sources[row])
        boxes = detector(image).boxes
        if len(boxes) != 1:
            continue
        subject = people.encoding_subject[row]
        others = (people.encoding_subject == subject) & (np.arange(len(sources)) != row)
        own = people.encodings[others].mean(axis=0)
        strangers = np.delete(centroids, subject, axis=0)
        height = boxes[0][2] - boxes[0][0]
        for target in (24, 30, 36, 44, 56, 80):
            scale = target / height
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            box = np.round(boxes[0] * scale).astype(np.int32)
            for blur in (0.0, 0.8, 1.5, 2.5):
                shown = cv2.GaussianBlur(small, (0, 0), blur) if blur else small
                encoding = encoder(np.ascontiguousarray(shown), box[None])[0]
                sharpness = face_sharpness(shown, face_landmarks(shown, box[None]))
                rows.append(
                    {
                        "size": target,
                        "blur": blur,
                        "sharpness": sharpness[0],
                        "genuine": np.linalg.norm(encoding - own),
                        "nearest_stranger": np.linalg.norm(strangers - encoding, axis=1).min(),
                    }
                )
    table = pd.DataFrame(rows)
    table["band"] = pd.cut(table["sharpness"], [0, 0.1, 0.15, 0.2, 0.3, 0.5, 10])
    print(f"gate: faces under {MIN_FACE_PX} px or with sharpness under {MIN_SHARPNESS} are not matched")
    by_size = table[table["blur"] == 0].groupby("size")[["genuine", "nearest_stranger"]].median()
    print("sharp faces by size (median distances):")
    print(by_size.round(3).to_string())
    by_sharpness = table.groupby("band", observed=True).agg(
        views=("genuine", "size"),
        genuine_median=("genuine", "median"),
        stranger_p10=("nearest_stranger", lambda d: d.quantile(0.1)),
    )
    print("all sizes by sharpness:")
    print(by_sharpness.round(3).to_string())


def _shrunk(image: np.ndarray, box: np.ndarray, face_px: int, interpolation: int) -> tuple:
    scale = face_px / (box[2] - box[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)
    return small, np.round(box * scale).astype(np.int32)


def camera_views(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> dict[str, tuple]:
    """A photo's face as cameras show it, each made otherwise than the footage view
    (48 px, Gaussian 0.7, JPEG 80), and the photo itself."""
    soft, soft_box = _shrunk(image, box, 40, cv2.INTER_AREA)
    smear = np.zeros((5, 5), np.float32)
    smear[2, :] = 0.2
    noisy, noisy_box = _shrunk(image, box, 40, cv2.INTER_LINEAR)
    noisy = np.clip(noisy + rng.normal(0, 6, noisy.shape), 0, 255).astype(np.uint8)
    sharp, sharp_box = _shrunk(image, box, 56, cv2.INTER_AREA)
    return {
        "soft 40 px (Gaussian 1, JPEG 75)": (
            jpeg_round_trip(cv2.GaussianBlur(soft, (0, 0), 1.0), 75),
            soft_box,
        ),
        "smeared 40 px (5 px motion, JPEG 50)": (
            jpeg_round_trip(cv2.filter2D(soft, -1, smear), 50),
            soft_box,
        ),
        "noisy 40 px (bilinear, noise 6, JPEG 40)": (jpeg_round_trip(noisy, 40), noisy_box),
        "sharp 56 px (JPEG 90)": (jpeg_round_trip(sharp, 90), sharp_box),
        "the photo itself": (image, box),
    }


def part_footage_views(people: Watchlist, sources: list[Path]) -> None:
    print("\n## 2b. Footage views: each photo shown as a camera would, against the other photos")
    detector, encoder = face_detector("hog", upsample=1), FaceEncoder()
    rng = np.random.default_rng(5)
    photo_rows = np.flatnonzero(~people.encoding_footage_view)
    probes: dict[str, list[np.ndarray]] = {}
    for row in photo_rows:
        image, box, _encoding = one_face(sources[row], detector, encoder)
        for kind, (shown, shown_box) in camera_views(image, box, rng).items():
            probes.setdefault(kind, []).append(encoder(np.ascontiguousarray(shown), shown_box[None])[0])
    owner, photo = people.encoding_subject, people.encoding_photo()
    # each list: its rows of `people`, and its auto threshold for the whole list
    reference = load_reference()
    lists = {
        "photos only": ~people.encoding_footage_view,
        "with footage views": np.ones(len(owner), bool),
    }
    print(
        f"{len(photo_rows)} photos of {people.size} people; found: within its subject's cut for 86 subjects (the "
        "reference's, median shown) and nearest it; TAR: within the cut that 1 in 10,000 comparisons with others' "
        "subjects passes"
    )
    print(
        f"{'probe':<42} {'list':<19} {'auto':>6} {'found':>7} {'cut@1e-4':>8} {'TAR@1e-4':>8} {'own median':>10}"
    )
    for kind, encodings in probes.items():
        for label, rows in lists.items():
            centroids = subject_centroids(people.encodings[rows], owner[rows], people.size)
            cuts = Calibration.for_list(centroids, 1e-4, reference).cuts(1e-4)
            threshold = float(np.median(cuts))
            own, nearest_other, own_cut, impostor = [], [], [], []
            for probe, row in zip(encodings, photo_rows, strict=True):
                others = np.linalg.norm(np.delete(centroids, owner[row], axis=0) - probe, axis=1)
                impostor.append(others)
                mine = rows & (owner == owner[row]) & (photo != photo[row])
                if mine.any():
                    own.append(np.linalg.norm(people.encodings[mine].mean(axis=0) - probe))
                    nearest_other.append(others.min())
                    own_cut.append(cuts[owner[row]])
            own_d, other_d = np.array(own), np.array(nearest_other)
            cut = np.quantile(np.concatenate(impostor), 1e-4)
            found = np.mean((own_d <= np.array(own_cut)) & (own_d < other_d))
            accepted = np.mean((own_d <= cut) & (own_d < other_d))
            print(
                f"{kind:<42} {label:<19} {threshold:>6.3f} {100 * found:>6.1f}% {cut:>8.3f} {100 * accepted:>7.1f}% "
                f"{np.median(own_d):>10.3f}"
            )


def split_people(people: Watchlist, sources: list[Path], seed: int = 7) -> tuple[list, list, Watchlist]:
    """12 watchlisted walkers (a held-out photo each), 14 strangers off the list, the rest listed."""
    rng = np.random.default_rng(seed)
    ids = [s.subject_id for s in people.subjects]
    counts = people.photos_per_subject()
    eligible = [i for i in range(people.size) if not ids[i].startswith("intel_")]
    several = [i for i in eligible if counts[i] >= 3]
    walkers = list(rng.choice(several, size=12, replace=False))
    strangers = list(
        rng.choice([i for i in eligible if counts[i] >= 2 and i not in walkers], 14, replace=False)
    )
    listed = [i for i in eligible if i not in strangers]
    photo_rows = ~people.encoding_footage_view
    held_out = {i: int(np.flatnonzero(photo_rows & (people.encoding_subject == i))[-1]) for i in walkers}
    watchlist = listed_without(people, listed, list(held_out.values()))
    listed_walkers = [(ids[i], sources[held_out[i]]) for i in walkers]
    stranger_photos = [
        ("", sources[row])
        for i in strangers
        for row in np.flatnonzero(photo_rows & (people.encoding_subject == i))[:3]
    ]
    return listed_walkers, stranger_photos, watchlist


def listed_without(people: Watchlist, listed: list[int], held_out_rows: list[int]) -> Watchlist:
    """The subjects ``listed`` of ``people``, without the photos of ``held_out_rows`` (each
    leaves with its footage view): they walk past, and must not be their own reference."""
    photo = people.encoding_photo()
    keep = np.isin(people.encoding_subject, listed) & ~np.isin(photo, photo[held_out_rows])
    remap = {old: new for new, old in enumerate(listed)}
    return Watchlist(
        subjects=[people.subjects[i] for i in listed],
        encodings=people.encodings[keep],
        encoding_subject=np.array([remap[s] for s in people.encoding_subject[keep]]),
        encoding_source=[source for source, kept in zip(people.encoding_source, keep, strict=True) if kept],
        encoding_footage_view=people.encoding_footage_view[keep],
        created=people.created,
    )


def keep_list(watchlist: Watchlist, path: Path) -> Path:
    """Save the list unless the file already holds it, so what was measured with it stays cached."""
    if not path.is_file() or to_payload(load_watchlist(path)) != to_payload(watchlist):
        save_watchlist(watchlist, path)
    return path


def face_crop(photo: Path, detector: FaceDetector) -> np.ndarray:
    image = load_photo(photo)
    return crop_face(image, detector(image).boxes[0], margin=0.35)


# --- 3. The calibration on footage: fitted on one half, checked on the other ----------------

SPLIT_SEED = 2024
# Real clips whose faces fit the reference: nobody in them is on any list, and nobody in
# them is in the clips that check it.
FIT_CLIPS = ("facenet_pytorch_video.mp4", "MOT20-05-raw_even_shorter.mp4")
CHECK_CLIPS = tuple(
    name for name in KNOWN if name not in FIT_CLIPS and name != "intel_one-by-one-person-detection.mp4"
)
CROSSING_S = (4.0, 6.0)


@dataclass(frozen=True)
class FootageScene:
    """People of one half walking past the moving plaza: ``listed`` of them on the list
    (ORL's, the others'), each passing once with a photo held out of the list, and
    ``strangers`` people off the list, from outside ORL, passing once per photo (three
    at most)."""

    name: str
    half: str  # "fit" or "check"
    width: int
    height: int
    seconds: float
    heads: tuple[int, int]  # pasted head heights, pixels
    blur: float  # the faces' softening, a Gaussian's sigma in pixels
    listed: tuple[int, int]
    strangers: int
    seed: int

    @property
    def file_name(self) -> str:
        return self.name.replace(" ", "_") + ".mp4"


FOOTAGE_SCENES = (
    FootageScene("fit 720p", "fit", 1280, 720, 60, (50, 140), 0.0, (5, 5), 10, 1),
    FootageScene("fit 1080p", "fit", 1920, 1080, 40, (70, 200), 0.0, (4, 4), 8, 2),
    FootageScene("fit soft 720p", "fit", 1280, 720, 60, (40, 100), 1.0, (5, 5), 10, 3),
    FootageScene("fit strangers 720p", "fit", 1280, 720, 100, (45, 120), 0.5, (2, 2), 30, 21),
    FootageScene("check 720p", "check", 1280, 720, 60, (50, 140), 0.0, (6, 6), 10, 11),
    FootageScene("check 1080p", "check", 1920, 1080, 40, (70, 200), 0.0, (4, 4), 8, 12),
    FootageScene("check soft 720p", "check", 1280, 720, 40, (40, 90), 1.0, (5, 5), 8, 13),
    FootageScene("check 720p 120 s", "check", 1280, 720, 120, (50, 140), 0.0, (5, 5), 30, 14),
)


@dataclass(frozen=True)
class Passer:
    person: str
    listed: bool
    photo: Path


def halves(people: Watchlist) -> dict[str, tuple[list[str], list[str]]]:
    """ORL's people and the others (the Intel actors aside: their references are frames
    of the real clips), each split in two halves that share nobody."""
    ids = sorted(s.subject_id for s in people.subjects if not s.subject_id.startswith("intel_"))
    rng = np.random.default_rng(SPLIT_SEED)
    orl = [str(p) for p in rng.permutation([i for i in ids if i.startswith("orl_")])]
    others = [str(p) for p in rng.permutation([i for i in ids if not i.startswith("orl_")])]
    return {
        "fit": (orl[: len(orl) // 2], others[: len(others) // 2]),
        "check": (orl[len(orl) // 2 :], others[len(others) // 2 :]),
    }


def passers(scene: FootageScene, people: Watchlist, sources: list[Path]) -> list[Passer]:
    orl, others = halves(people)[scene.half]
    photo_rows = ~people.encoding_footage_view
    ids = [s.subject_id for s in people.subjects]

    def photos(person: str) -> list[Path]:
        return [
            sources[row]
            for row in np.flatnonzero(photo_rows & (people.encoding_subject == ids.index(person)))
        ]

    rng = np.random.default_rng(scene.seed)
    several = [p for p in others if len(photos(p)) >= 2]
    listed = list(rng.choice(orl, scene.listed[0], replace=False)) + list(
        rng.choice(several, scene.listed[1], replace=False)
    )
    pool = [p for p in others if p not in listed]
    strangers = list(rng.choice(pool, min(scene.strangers, len(pool)), replace=False))
    walking = [Passer(p, True, photos(p)[-1]) for p in listed]
    walking += [Passer(p, False, photo) for p in strangers for photo in photos(p)[:3]]
    return [walking[i] for i in rng.permutation(len(walking))]


def scene_list(people: Watchlist, walking: list[Passer], only_listed: bool = False) -> Watchlist:
    """Everyone but the scene's strangers, or only its listed walkers; never a photo that walks."""
    ids = [s.subject_id for s in people.subjects]
    strangers = {p.person for p in walking if not p.listed}
    walkers = {p.person for p in walking if p.listed}
    listed = [
        i for i, person in enumerate(ids) if (person in walkers if only_listed else person not in strangers)
    ]
    walked = {p.photo for p in walking}
    held_out = [
        row
        for row, source in enumerate(people.encoding_source)
        if not people.encoding_footage_view[row] and FACES / source in walked
    ]
    return listed_without(people, listed, held_out)


def scene_video(scene: FootageScene, walking: list[Passer], work: Path) -> tuple[Path, list[Walker]]:
    """The scene's clip (written once into ``work``) and its walkers, in order."""
    rng = np.random.default_rng(scene.seed + 1000)
    detector = face_detector()
    every_s = (scene.seconds - CROSSING_S[1] - 0.5) / max(len(walking), 1)
    walkers, enter_s = [], 0.3
    for index, passer in enumerate(walking):
        crossing_s = float(rng.uniform(*CROSSING_S))
        head = int(rng.integers(*scene.heads))
        y = float(rng.uniform(head, scene.height - head))
        ends = ((-head * 0.2, y), (scene.width + head * 0.2, y + float(rng.uniform(-60, 60))))
        start, end = ends if index % 2 == 0 else ends[::-1]
        face = face_crop(passer.photo, detector)
        walkers.append(
            Walker(passer.person, face, enter_s, enter_s + crossing_s, start, end, head, scene.blur)
        )
        enter_s += every_s
    path = work / "footage" / scene.file_name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        plaza = MovingBackground(
            VIDEOS / "vtest.avi", scene.width, scene.height, noise=4.0, blur=2.0, clip_size=(1280, 720)
        )
        partial = path.with_name(f"partial_{path.name}")  # a run stopped midway leaves no cached clip
        try:
            write_video(partial, plaza, walkers, scene.seconds, fps=25.0)
        finally:
            plaza.close()
        partial.replace(path)
    return path, walkers


@dataclass(frozen=True)
class SeenFace:
    """A face the pipeline saw, as a scan would count it, with its mean encoding."""

    track: Track
    encoding: np.ndarray
    views: int  # encoded views the mean is of
    person: str  # who it was, where known ("" otherwise)


def seen_faces(video: Path, watchlist_path: Path) -> list[SeenFace]:
    """Every face seen in a clip, analysed in one segment, with the mean of its views:
    what a scan measures its faces with and then forgets (the benchmark keeps it, in a
    cache beside the clip that any change of the clip, the list or lfr_batch/vision voids)."""
    vision = hashlib.sha256(
        b"".join(path.read_bytes() for path in sorted((REPO / "lfr_batch" / "vision").glob("*.py")))
    ).hexdigest()
    key = hashlib.sha256(repr((file_stamp(video), file_stamp(watchlist_path), vision)).encode()).hexdigest()
    cache = watchlist_path.with_name(f"{watchlist_path.name}.{video.name}.seen-{key[:16]}.pkl")
    if cache.is_file():
        return [SeenFace(*fields) for fields in pickle.loads(cache.read_bytes())]
    faces = analysed_faces(video, watchlist_path)
    cache.write_bytes(pickle.dumps([(f.track, f.encoding, f.views, f.person) for f in faces]))
    return faces


def analysed_faces(video: Path, watchlist_path: Path) -> list[SeenFace]:
    settings = AnalysisSettings(
        watchlist=str(watchlist_path),
        watchlist_stamp=file_stamp(watchlist_path),
        fixed_threshold=None,
        max_false_alert_rate=DEFAULT_MAX_FALSE_ALERT_RATE,
        sample_fps=100.0,
        upsample=1,
        detector="blazeface",
        exhaustive=False,
        scanned_at=datetime.now(UTC),
    )
    result = analyse(SegmentTask(str(video), 0, 0, None, settings))
    tracks = {track.track_id: track for track in result.tracks}
    return [
        SeenFace(tracks[track_id], match.encoding, match.views, "")
        for track_id, match in result.matches.items()
        if match.encoding is not None
        and tracks[track_id].sure
        and tracks[track_id].detections >= MIN_DETECTIONS
    ]


def walker_at(walkers: list[Walker], time_s: float, box: np.ndarray | tuple) -> Walker | None:
    """The walker whose face was where ``box`` is at ``time_s``."""
    top, right, bottom, left = (float(v) for v in box)
    centre, size = ((left + right) / 2, (top + bottom) / 2), max(bottom - top, 20.0)
    placed = [(w, w.position(time_s)) for w in walkers]
    near = [(math.dist(centre, at), w) for w, at in placed if at is not None]
    distance, walker = min(near, key=lambda pair: pair[0], default=(math.inf, None))
    return walker if distance < size else None


def labelled(faces: list[SeenFace], walkers: list[Walker]) -> list[SeenFace]:
    """Each face with the walker it was, where both ends of its track agree."""
    found = []
    for face in faces:
        first = walker_at(walkers, face.track.first_seen_s, face.track.first_box)
        last = walker_at(walkers, face.track.last_seen_s, face.track.last_box)
        if first is not None and first is last:
            found.append(SeenFace(face.track, face.encoding, face.views, first.label))
    return found


def fit_reference(people: Watchlist, sources: list[Path], work: Path, half: str = "fit") -> FootageReference:
    """The reference, fitted on the strangers of one half's scenes (and, for the fitting
    half, on the faces of the fitting clips)."""
    encodings, who, where = [], [], []
    for scene in (s for s in FOOTAGE_SCENES if s.half == half):
        walking = passers(scene, people, sources)
        listed_path = keep_list(scene_list(people, walking), work / "footage" / f"{scene.file_name}.list.pkl")
        video, walkers = scene_video(scene, walking, work)
        strangers = {p.person for p in walking if not p.listed}
        for face in labelled(seen_faces(video, listed_path), walkers):
            if face.person in strangers:
                encodings.append(face.encoding)
                who.append(face.person)
                where.append(scene.name)
    all_list = keep_list(people, work / "real_watchlist.pkl")
    for clip in FIT_CLIPS if half == "fit" else ():
        for face in seen_faces(VIDEOS / clip, all_list):
            encodings.append(face.encoding)
            who.append(f"{clip}#{face.track.track_id}")  # each face a different person, as far as known
            where.append(clip)
    ids = [s.subject_id for s in people.subjects]
    clips = f" and {', '.join(FIT_CLIPS)}" if half == "fit" else ""
    fitted_on = (
        f"{len(encodings)} strangers' tracks ({len(set(who))} people) in {len(set(where))} clips: "
        f"{sum(1 for s in FOOTAGE_SCENES if s.half == half)} synthetic scenes{clips}"
    )
    return FootageReference.fit(np.array(encodings), who, where, people.centroids(), ids, fitted_on)


def strangers_within(
    reference: FootageReference, people: Watchlist, sources: list[Path], work: Path, half: str
) -> dict[float, tuple[float, int, int]]:
    """Each threshold: strangers' faces expected within it of anyone (each scene's faces
    calibrating its list of all but its strangers, as a scan does, with ``reference``),
    measured, and seen, over one half's scenes; no scan needed."""
    counts = {threshold: [0.0, 0, 0] for threshold in THRESHOLDS}
    for scene in (s for s in FOOTAGE_SCENES if s.half == half):
        walking = passers(scene, people, sources)
        path = keep_list(scene_list(people, walking), work / "footage" / f"{scene.file_name}.list.pkl")
        watchlist = load_watchlist(path)
        video, walkers = scene_video(scene, walking, work)
        faces = seen_faces(video, path)
        centroids = watchlist.centroids()
        histograms = DistanceHistograms(watchlist.size)
        ceilings = Calibration.for_list(centroids, DEFAULT_MAX_FALSE_ALERT_RATE, reference).ceilings
        histograms.add(pairwise_distances(np.array([f.encoding for f in faces]), centroids), ceilings)
        calibration = Calibration.for_list(centroids, DEFAULT_MAX_FALSE_ALERT_RATE, reference, histograms)
        strangers = {p.person for p in walking if not p.listed}
        nearest = pairwise_distances(
            np.array([f.encoding for f in labelled(faces, walkers) if f.person in strangers]), centroids
        ).min(axis=1)
        for threshold, count in counts.items():
            count[0] += calibration.expected_false_alert_rate(threshold) * len(nearest)
            count[1] += int((nearest <= threshold).sum())
            count[2] += len(nearest)
    return {threshold: (expected, hits, total) for threshold, (expected, hits, total) in counts.items()}


def wilson(hits: int, total: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share."""
    if not total:
        return math.nan, math.nan
    z, share = 1.96, hits / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(centre - half, 0.0), min(centre + half, 1.0)


@dataclass
class ListCheck:
    """One scene against one list: the scan's own alerts, judged by where each face was,
    and the scene's faces against the list at any single threshold."""

    scene: str
    list_name: str
    subjects: int
    passes: int  # listed walkers' passes
    found: int
    false_alerts: int
    cut_median: float
    calibration: Calibration
    old_threshold: float
    # per face seen: is it a listed walker's, its distance to its own subject (inf: none),
    # and its nearest distance to any other subject
    listed_face: np.ndarray
    own: np.ndarray
    other: np.ndarray
    person: list[str]

    def at(self, threshold: float) -> tuple[int, int]:
        """Passes found and false alerts at one threshold for every subject."""
        hit = (self.own <= threshold) & (self.own < self.other)
        false = int(((self.other <= threshold) & ~hit).sum())
        found = len({p for p, h in zip(self.person, hit, strict=True) if h})
        return found, false

    def best(self) -> tuple[float, int]:
        """The threshold finding the most passes with no false alert, and how many."""
        candidates = [(self.at(t)[0], -t) for t in np.arange(0.25, 0.701, 0.005) if self.at(t)[1] == 0]
        found, threshold = max(candidates, default=(0, -0.25))
        return -threshold, found

    def strangers_within(self, threshold: float) -> tuple[int, int]:
        """Strangers' faces (not listed walkers') within the threshold of any subject, of all."""
        strangers = ~self.listed_face
        return int((self.other[strangers] <= threshold).sum()), int(strangers.sum())


def check_scene(
    scene: FootageScene, people: Watchlist, sources: list[Path], work: Path, only_listed: bool
) -> ListCheck:
    walking = passers(scene, people, sources)
    watchlist = scene_list(people, walking, only_listed)
    list_name = "listed walkers" if only_listed else "all but strangers"
    path = keep_list(
        watchlist, work / "footage" / f"{scene.file_name}.{'walkers' if only_listed else 'list'}.pkl"
    )
    video, walkers = scene_video(scene, walking, work)
    out = work / "footage" / f"{scene.file_name}.{'walkers' if only_listed else 'list'}"
    _wall, result = timed_scan([video], path, out, workers=default_workers())
    ids = [s.subject_id for s in watchlist.subjects]
    alerts = pd.read_csv(out / "bench" / "alerts.csv", keep_default_na=False)
    listed_people = {p.person for p in walking if p.listed} & set(ids)
    found, false_alerts = set(), 0
    for alert in alerts.itertuples():
        walker = walker_at(walkers, alert.best_time_s, (alert.top, alert.right, alert.bottom, alert.left))
        if walker is not None and walker.label == alert.subject_id:
            found.add(walker.label)
        else:
            false_alerts += 1
    faces = labelled(seen_faces(video, path), walkers)
    distances = pairwise_distances(np.array([f.encoding for f in faces]), watchlist.centroids())
    own_index = np.array([ids.index(f.person) if f.person in listed_people else -1 for f in faces])
    rows = np.arange(len(faces))
    own = np.where(own_index >= 0, distances[rows, np.maximum(own_index, 0)], np.inf)
    masked = distances.copy()
    masked[rows[own_index >= 0], own_index[own_index >= 0]] = np.inf
    assert result.cuts is not None
    return ListCheck(
        scene.name,
        list_name,
        watchlist.size,
        len(listed_people),
        len(found),
        false_alerts,
        float(np.median(result.cuts.cuts)),
        result.cuts.calibration,
        photo_tail_threshold(watchlist),
        own_index >= 0,
        own,
        masked.min(axis=1),
        [f.person for f in faces],
    )


def part_calibration(people: Watchlist, sources: list[Path], work: Path, write_reference: bool) -> None:
    print(
        "\n## 3. The calibration on footage: fitted on one half of the people and clips, checked on the other"
    )
    for half, (orl, others) in halves(people).items():
        print(f"{half}: {len(orl)} of ORL's people, {len(others)} others")
    print(f"fitting clips: {', '.join(FIT_CLIPS)}; checking clips (part 4): {', '.join(CHECK_CLIPS)}")
    fitted = fit_reference(people, sources, work)
    bundled = load_reference()
    for label, reference in (("fitted now", fitted), ("bundled", bundled)):
        print(
            f"reference {label}: spread {reference.spread:.4f}, scale {reference.scale:.4f}, shift {reference.shift:.4f}, "
            f"tail {reference.tail_offset:+.3f} {reference.tail_slope:.3f}·probit; {reference.fitted_on}"
        )
    if write_reference:
        target = REPO / "lfr_batch" / "vision" / "data" / REFERENCE_FILE
        target.write_text(json.dumps(fitted.to_payload(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {target}: scans use the reference fitted now (checked below)")
    print(
        f"\n{'scene':<18} {'list':<18} {'subjects':>8} {'default: found':>14} {'false':>5} {'median cut':>10} "
        f"{'old rule: threshold':>19} {'found':>5} {'false':>5} {'best in hindsight':>17} {'found':>5}"
    )
    checks: list[ListCheck] = []
    for scene in (s for s in FOOTAGE_SCENES if s.half == "check"):
        for only_listed in (True, False):
            check = check_scene(scene, people, sources, work, only_listed)
            checks.append(check)
            old_found, old_false = check.at(check.old_threshold)
            best_threshold, best_found = check.best()
            print(
                f"{check.scene:<18} {check.list_name:<18} {check.subjects:>8} {check.found:>8}/{check.passes:<5} "
                f"{check.false_alerts:>5} {check.cut_median:>10.3f} {check.old_threshold:>19.3f} "
                f"{old_found:>3}/{check.passes:<1} {old_false:>5} {best_threshold:>17.3f} {best_found:>3}/{check.passes}"
            )
    for list_name in ("listed walkers", "all but strangers"):
        mine = [c for c in checks if c.list_name == list_name]
        passes = sum(c.passes for c in mine)
        old = [c.at(c.old_threshold) for c in mine]
        print(
            f"in all, {list_name}: default {sum(c.found for c in mine)}/{passes} found, "
            f"{sum(c.false_alerts for c in mine)} false; old rule {sum(f for f, _ in old)}/{passes}, "
            f"{sum(f for _, f in old)} false; best in hindsight {sum(c.best()[1] for c in mine)}/{passes}"
        )
    print(
        "\nexpected (each scan's own calibration, one threshold for every subject) against measured (strangers' "
        "faces within it of anyone), pooled over the checking scenes:"
    )
    print(f"{'list':<18} {'threshold':>9} {'expected':>9} {'measured':>9} {'95 % interval':>16} {'faces':>9}")
    for list_name in ("listed walkers", "all but strangers"):
        mine = [c for c in checks if c.list_name == list_name]
        for threshold in THRESHOLDS:
            counts = [c.strangers_within(threshold) for c in mine]
            hits, total = sum(h for h, _ in counts), sum(t for _, t in counts)
            expected = (
                sum(
                    c.calibration.expected_false_alert_rate(threshold) * t
                    for c, (_, t) in zip(mine, counts, strict=True)
                )
                / total
            )
            low, high = wilson(hits, total)
            print(
                f"{list_name:<18} {threshold:>9.2f} {100 * expected:>8.2f}% {100 * hits / total:>8.2f}% "
                f"{100 * low:>7.2f}-{100 * high:>5.2f}% {hits:>4}/{total:<4}"
            )
    reverse = fit_reference(people, sources, work, "check")
    print(
        f"\nthe other way round: a reference fitted on the checking half's scenes (scale {reverse.scale:.4f}, "
        f"shift {reverse.shift:.4f}, tail {reverse.tail_offset:+.3f} {reverse.tail_slope:.3f}·probit), "
        "checked on the fitting half's, lists of all but the scene's strangers:"
    )
    for threshold, (expected, hits, total) in strangers_within(reverse, people, sources, work, "fit").items():
        low, high = wilson(hits, total)
        print(
            f"{'all but strangers':<18} {threshold:>9.2f} {100 * expected / total:>8.2f}% {100 * hits / total:>8.2f}% "
            f"{100 * low:>7.2f}-{100 * high:>5.2f}% {hits:>4}/{total:<4}"
        )


# --- 4. The real clips ----------------------------------------------------------------------


def nearest_strangers(distances_csv: Path, shown: int = 3) -> list[tuple[float, str]]:
    """The tracks of people not known to be in their clip that came nearest a subject."""
    tracks = pd.read_csv(distances_csv, keep_default_na=False)
    tracks = tracks[tracks["views"] > 0]
    clip = tracks["video"].map(lambda video: Path(video).name)
    strangers = tracks[
        [subject not in KNOWN[name] for subject, name in zip(tracks["subject_1"], clip, strict=True)]
    ]
    nearest = strangers.sort_values("distance_1").head(shown)
    return [(row.distance_1, Path(row.video).stem[:24]) for row in nearest.itertuples()]


def part_real(people: Watchlist, work: Path) -> None:
    print(
        "\n## 4. Real clips against all 86 people (intel_actor_* references are frames of the head-pose clips)"
    )
    clips = [VIDEOS / name for name in KNOWN if (VIDEOS / name).is_file()]
    path = keep_list(people, work / "real_watchlist.pkl")
    out = work / "real_default"
    wall, result = timed_scan(clips, path, out, keep_distances=True, workers=default_workers())
    assert result.cuts is not None
    folder = out / "bench"
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False)
    distances = pd.read_csv(folder / "distances.csv", keep_default_na=False)
    clip_of = distances["video"].map(lambda video: Path(video).name)
    known_track = np.array(
        [subject in KNOWN[name] for subject, name in zip(distances["subject_1"], clip_of, strict=True)]
    )
    cuts = result.cuts
    print(
        f"default: cuts {cuts.cuts.min():.3f}-{cuts.cuts.max():.3f} (median {np.median(cuts.cuts):.3f}), "
        f"calibrated on {cuts.source}; {wall:.0f} s"
    )
    old = photo_tail_threshold(people)
    print(f"{'rule':<32} {'alerts on people known to be there':>35} {'false':>5}")
    rules = [("default (a cut per subject)", None), (f"old rule ({old:.3f}, read off the tracks)", old)]
    rules.append(("fixed 0.6 (read off the tracks)", 0.6))
    for label, threshold in rules:
        if threshold is None:
            known = [row.subject_id in KNOWN[Path(row.video).name] for row in alerts.itertuples()]
            true, false = sum(known), len(known) - sum(known)
        else:
            within = distances["distance_1"].astype(float) <= threshold
            true, false = int((within & known_track).sum()), int((within & ~known_track).sum())
        print(f"{label:<32} {true:>35} {false:>5}")
    listed = ", ".join(f"{d:.3f} ({clip})" for d, clip in nearest_strangers(folder / "distances.csv"))
    print(f"strangers' nearest tracks: {listed}")
    print("expected (the run's calibration, one threshold for all) against measured, strangers' tracks in:")
    for label, names in (("checking clips", set(CHECK_CLIPS)), ("every clip", set(KNOWN))):
        mine = clip_of.isin(names) & ~known_track
        print(f"  {label}:")
        for threshold in THRESHOLDS:
            hits, total = (
                int((distances["distance_1"][mine].astype(float) <= threshold).sum()),
                int(mine.sum()),
            )
            low, high = wilson(hits, total)
            print(
                f"    {threshold:.2f}: expected {100 * cuts.calibration.expected_false_alert_rate(threshold):6.2f}%, "
                f"measured {100 * hits / max(total, 1):6.2f}% ({hits}/{total}; {100 * low:.1f}-{100 * high:.1f}%)"
            )
    videos = pd.read_csv(folder / "videos.csv")
    faces_seen = {Path(row.video).name: row.faces_seen for row in videos.itertuples()}
    print(f"  {'clip':<60} {'faces seen':>10} {'showing a face':>14}  alerts")
    for name in KNOWN:
        shown = FACES_SHOWN.get(name)
        found = [
            f"{row.subject_id} {row.distance:.3f} (cut {row.threshold:.3f})"
            + ("" if row.subject_id in KNOWN[name] else " FALSE")
            for row in alerts.itertuples()
            if Path(row.video).name == name
        ]
        print(
            f"  {name:<60} {faces_seen.get(name, 0):>10} {'?' if shown is None else shown:>14}  "
            f"{'; '.join(found) or '-'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/lfr-accuracy"), help="cache and scratch folder"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default all)"
    )
    parser.add_argument(
        "--write-reference",
        action="store_true",
        help=f"part 3 writes the reference it fits into lfr_batch/vision/data/{REFERENCE_FILE}",
    )
    args = parser.parse_args()
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    shared = shared_people(args.work)
    if shared is None:
        return
    people, sources = shared
    parts = args.parts.split(",")
    if "1" in parts:
        part_photos(people)
    if "2" in parts:
        part_quality(people, sources)
    if "2b" in parts:
        part_footage_views(people, sources)
    if "3" in parts:
        part_calibration(people, sources, args.work, args.write_reference)
    if "4" in parts:
        part_real(people, args.work)


if __name__ == "__main__":
    main()
