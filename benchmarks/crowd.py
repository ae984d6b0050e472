"""Crowded footage: speed, recall, repeats and counting of `lfr-batch scan`, per detector,
beside the naive loop, over a real moving background, in one run.

    .venv/bin/python benchmarks/crowd.py [--seconds 30] [--seed 11] [--work DIR] [--skip-slow | --scans-only]

Needs ../shared/data (skips with a message when it is absent). Scenes, written once
into --work and reused:

- busy 720p: OpenCV's vtest.avi plaza (real pedestrians) looped at 1280x720 25 fps,
  softened so that its own people's faces cannot be detected (the truth stays
  exact), with sensor noise and MPEG-4 compression; people walk across with six
  in view at any time, in both directions, so that paths cross; heads 40-110 px.
  The watchlist is 70 people of ../shared/data/faces; 12 of them walk past (a
  held-out photo each) among 14 strangers who pass again, with other photos, but
  never within 12 passers of their last pass, so at least 4 s after leaving the
  view: a person seen twice at once, or again where they just left (within the
  3 s in which the tracker takes a face for the one it just lost), would make the
  true number of faces seen ambiguous. Heads are pasted 40-110 px tall with hair
  and chin (the crop is up to 1.7 times the face), so the faces themselves, as
  dlib's detector draws them, are about 24-65 px: a third to a half of them under
  the 40 px reach of the default --upsample 1. --seed gives another crowd (order,
  paths, sizes).
- busy 1080p: the same people at 1920x1080 (faces about 35-95 px), over the plaza played
  at 1280x720 in the middle of the frame and mirrored out to its edges: upscaled,
  the plaza's own people had 16-20 px faces that BlazeFace finds, and counted as
  faces seen that no truth lists.
- still 720p: the same people over one still frame of the plaza (the easy case).
- soft 720p: busy 720p with each pasted face softened (a Gaussian of 1 px) until the
  quality gate's sharpness of its faces matches that of the faces in a real crowd
  clip (facenet_pytorch_video.mp4, a handheld view of a busy arcade: 0.18 at
  40-65 px, against 0.56 for the sharp photos pasted in busy 720p). The hard case:
  real footage's faces are softer than photos.

Methods, on the same clip in the same run: the scan at its defaults with each
detector (BlazeFace, HOG), the default against the same list without its footage
views (as `watchlist build --no-footage-views` makes it), the exhaustive scan (every frame, whole frame, every
face encoded: the reference for recall; left out with --skip-slow), and the naive
loop (decode every frame, full-frame HOG at upsample 1, encode and match every
face; timed on the first 10 s, which is enough for a rate). --scans-only leaves
out both, to see the scans on more crowds (--seed) in a few minutes.

Columns: x real time (seconds of video / wall seconds); x naive (the naive loop's
wall time for the same footage / this method's); found (watchlisted passes alerted
on their own subject, of those in the truth, then of those the exhaustive scan
found); false alerts; repeated (extra alerts for one pass); faces seen against the
true number of passes; where the processing time went (share by stage).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from accuracy import VIDEOS, face_crop, shared_people, split_people
from common import both_lists, naive_loop, timed_scan

from lfr_batch.options import default_workers
from lfr_batch.records.evaluation import evaluate
from lfr_batch.scan import ScanResult
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.matches import WatchlistMatcher
from lfr_batch.vision.synthetic import MovingBackground, Walker, background_from_video, write_video
from lfr_batch.watchlist.store import load_watchlist

IN_VIEW = 6
REPEAT_GAP = 12  # passers between two passes of one person
SCENE_VERSION = 4  # in the cached clips' names: a change of the scenes makes new clips
CROSSING_S = (4.0, 6.0)
FACE_HEIGHTS_720P = (40, 110)
NAIVE_SECONDS = 10.0
# Pasted photos are sharper than faces in real footage: the quality gate's sharpness
# (encodings.face_sharpness) of 40-65 px faces is about 0.56 in the busy scene and 0.18
# in the handheld arcade of ../shared/data/videos/facenet_pytorch_video.mp4 (65 px and
# up: 0.52 and 0.21). Softened by this, the soft scene's faces measure as the arcade's.
SOFT_FACE_BLUR = 1.0


@dataclass(frozen=True)
class Scene:
    label: str
    width: int
    height: int
    moving: bool
    # The plaza's size in the frame: no larger than in the 720p scene, so that its
    # own people's faces stay too small to be found.
    plaza: tuple[int, int] = (1280, 720)
    face_blur: float = 0.0  # sigma in pixels: faces as soft as a real camera's


SCENES = (
    Scene("busy 720p", 1280, 720, True),
    Scene("busy 1080p", 1920, 1080, True),
    Scene("still 720p", 1280, 720, False),
    Scene("soft 720p", 1280, 720, True, face_blur=SOFT_FACE_BLUR),
)


def spaced(people: list[tuple[str, Path]], rng: np.random.Generator) -> list[tuple[str, Path]]:
    """The passers in random order, each person's passes at least REPEAT_GAP apart."""
    remaining = [people[i] for i in rng.permutation(len(people))]
    ordered: list[tuple[str, Path]] = []
    while remaining:
        recent = {identity(person) for person in ordered[-REPEAT_GAP:]}
        pick = next((person for person in remaining if identity(person) not in recent), remaining[0])
        remaining.remove(pick)
        ordered.append(pick)
    return ordered


def identity(person: tuple[str, Path]) -> str:
    subject, photo = person
    return subject or photo.parent.name  # a stranger's photos lie in their own folder


def crowd(people: list[tuple[str, Path]], seconds: float, scene: Scene, seed: int) -> list[Walker]:
    """People crossing in both directions, IN_VIEW at a time, at random heights in the view."""
    width, height = scene.width, scene.height
    rng = np.random.default_rng(seed)
    people = spaced(people, rng)
    detector = face_detector()
    crops = {photo: face_crop(photo, detector) for _subject, photo in people}
    scale = height / 720
    walkers, enter_s, index = [], 0.3, 0
    while True:
        crossing_s = float(rng.uniform(*CROSSING_S))
        if enter_s + crossing_s > seconds:
            return walkers
        subject, photo = people[index % len(people)]
        face_height = int(rng.integers(*FACE_HEIGHTS_720P) * scale)
        y = float(rng.uniform(face_height, height - face_height))
        ends = ((-face_height * 0.2, y), (width + face_height * 0.2, y + float(rng.uniform(-60, 60) * scale)))
        start, end = ends if index % 2 == 0 else ends[::-1]
        walkers.append(
            Walker(
                subject, crops[photo], enter_s, enter_s + crossing_s, start, end, face_height, scene.face_blur
            )
        )
        enter_s += float(np.mean(CROSSING_S)) / IN_VIEW
        index += 1


def write_scene(scene: Scene, walkers: list[Walker], seconds: float, seed: int, work: Path) -> Path:
    path = work / f"{scene.label.replace(' ', '_')}_{seconds:.0f}s_seed{seed}_v{SCENE_VERSION}.mp4"
    if path.is_file():
        return path
    vtest = VIDEOS / "vtest.avi"
    background = (
        MovingBackground(
            vtest, scene.width, scene.height, noise=4.0, blur=scene.plaza[1] / 360, clip_size=scene.plaza
        )
        if scene.moving
        else background_from_video(vtest, scene.width, scene.height)
    )
    try:
        write_video(path, background, walkers, seconds, fps=25.0)
    finally:
        if isinstance(background, MovingBackground):
            background.close()
    return path


def truth_of(walkers: list[Walker], video: Path) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"video": video.name, "subject_id": w.label, "start_s": w.enter_s, "end_s": w.leave_s}
            for w in walkers
        ]
    )


def naive_seconds_per_footage_second(path: Path, watchlist: Path) -> float:
    """The naive loop's wall seconds per second of footage, timed on its first seconds."""
    matcher = WatchlistMatcher(load_watchlist(watchlist), 0.6, at=pd.Timestamp.now(tz="UTC").to_pydatetime())
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    began = time.perf_counter()
    naive_loop(path, matcher, frames=round(NAIVE_SECONDS * fps))
    return (time.perf_counter() - began) / NAIVE_SECONDS


def stage_shares(result: ScanResult) -> str:
    total = sum(result.stage_seconds.values()) or 1.0
    return " ".join(
        f"{stage} {100 * seconds / total:.0f}%" for stage, seconds in result.stage_seconds.items() if seconds
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each scene (default 30)")
    parser.add_argument("--seed", type=int, default=11, help="which crowd: order, paths, sizes (default 11)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lfr-crowd"), help="cache and scratch folder")
    parser.add_argument("--skip-slow", action="store_true", help="leave out the exhaustive scan")
    parser.add_argument(
        "--skip-naive", action="store_true", help="leave out the naive loop (the exhaustive scan stays)"
    )
    parser.add_argument(
        "--scans-only", action="store_true", help="leave out the exhaustive scan and the naive loop"
    )
    parser.add_argument("--scenes", default=",".join(s.label for s in SCENES), help="comma-separated")
    args = parser.parse_args()
    shared = shared_people(args.work)
    if shared is None:
        return
    people, sources = shared
    listed_walkers, strangers, watchlist = split_people(people, sources)
    lists = both_lists(watchlist, args.work / "crowd_watchlist.pkl")
    watchlist_path = lists[True]
    passers = listed_walkers + strangers
    # method: (scan options, whether the list has its footage views)
    methods: dict[str, tuple[dict[str, object], bool]] = {
        "scan, blazeface": ({"detector": "blazeface"}, True),
        "scan, photos-only list": ({"detector": "blazeface"}, False),
        "scan, hog": ({"detector": "hog"}, True),
    }
    if not (args.skip_slow or args.scans_only):
        methods["exhaustive, blazeface"] = ({"exhaustive": True, "detector": "blazeface"}, True)
    print(
        f"crowd seed {args.seed}; watchlist {watchlist.size} subjects; {IN_VIEW} people in view at a time; "
        f"{default_workers()} workers"
        + (
            ""
            if args.scans_only or args.skip_naive
            else f"; naive loop timed on the first {NAIVE_SECONDS:.0f} s"
        )
    )
    header = (
        f"{'scene':<11} {'method':<22} {'x real time':>11} {'x naive':>7} {'found':>7} {'of exh.':>7} "
        f"{'false':>5} {'repeated':>8} {'faces seen':>10}  where the time went"
    )
    print(header)
    for scene in SCENES:
        if scene.label not in args.scenes.split(","):
            continue
        walkers = crowd(passers, args.seconds, scene, args.seed)
        clip = write_scene(scene, walkers, args.seconds, args.seed, args.work)
        truth_path = args.work / f"{clip.stem}_truth.csv"
        truth_of(walkers, clip).to_csv(truth_path, index=False)
        naive_wall = None
        if not (args.scans_only or args.skip_naive):
            naive_wall = naive_seconds_per_footage_second(clip, watchlist_path) * args.seconds
            print(f"{scene.label:<11} {'naive loop':<22} {args.seconds / naive_wall:>11.2f} {1.0:>7.1f}")
        found_by: dict[str, set[int]] = {}
        rows = []
        for method, (options, footage_views) in methods.items():
            out = args.work / "out" / method.replace(" ", "_").replace(",", "")
            wall, result = timed_scan([clip], lists[footage_views], out, workers=default_workers(), **options)
            evaluation = evaluate(out / "bench", truth_path, None)[0]
            overall = evaluation[0]
            found_by[method] = found_passes(out / "bench", truth_path)
            rows.append((method, wall, overall, result))
        reference = found_by.get("exhaustive, blazeface")
        for method, wall, overall, result in rows:
            of_exhaustive = (
                f"{len(found_by[method] & reference)}/{len(reference)}" if reference is not None else "-"
            )
            print(
                f"{scene.label:<11} {method:<22} {args.seconds / wall:>11.2f} "
                f"{'-' if naive_wall is None else f'{naive_wall / wall:.1f}':>7} "
                f"{overall.watchlisted_found:>3}/{overall.watchlisted_appearances:<3} {of_exhaustive:>7} "
                f"{overall.false_alerts:>5} {overall.repeated_alerts:>8} "
                f"{overall.faces_seen:>4}/{overall.true_appearances:<5}  {stage_shares(result)}"
            )


def found_passes(folder: Path, truth_path: Path) -> set[int]:
    """Which watchlisted passes (rows of the truth) an alert on their own subject overlaps."""
    truth = pd.read_csv(truth_path, keep_default_na=False)
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False)
    found = set()
    for row in truth.itertuples():
        if not row.subject_id:
            continue
        hit = alerts[
            (alerts["subject_id"] == row.subject_id)
            & (alerts["first_seen_s"] <= row.end_s + 0.5)
            & (alerts["last_seen_s"] >= row.start_s - 0.5)
        ]
        if len(hit):
            found.add(int(row.Index))
    return found


if __name__ == "__main__":
    main()
