"""The BlazeFace detector: its boxes feed dlib's landmarks and encoder as HOG's do,
it finds turned heads and small faces HOG misses, and its tiles find each face once."""

from __future__ import annotations

import functools
import itertools

import cv2
import numpy as np
import pytest
from conftest import FEMALE_AND_MALE, PHOTOS, SAMPLE_PHOTOS, STRANGERS_WALKING

from lfr_batch.errors import ModelError
from lfr_batch.vision import blazeface
from lfr_batch.vision.encodings import FaceEncoder, face_landmarks, face_sharpness
from lfr_batch.vision.faces import FaceDetector, face_detector
from lfr_batch.vision.motion import FrameRegions, Region
from lfr_batch.vision.photos import crop_face, load_photo
from lfr_batch.vision.synthetic import paste
from lfr_batch.vision.video import VideoReader

MODEL_BYTES = blazeface.FULL_RANGE.path.read_bytes()

PEOPLE = {
    "intel_actor_f1": sorted((SAMPLE_PHOTOS / "intel_actor_f1").glob("*.png")),
    "intel_actor_m1": sorted((PHOTOS / "intel_actor_m1").glob("*.png")),
    "orl_s01": sorted((PHOTOS / "orl_s01").glob("*.png")),
}


def _encodings(detector: FaceDetector) -> dict[str, list[np.ndarray]]:
    encoder = FaceEncoder()
    found: dict[str, list[np.ndarray]] = {}
    for person, photos in PEOPLE.items():
        for photo in photos:
            image = load_photo(photo)
            boxes = detector(image).boxes
            assert len(boxes) == 1, f"{detector.model} finds {len(boxes)} faces in {photo.name} of {person}"
            found.setdefault(person, []).append(encoder(image, boxes)[0])
    return found


def test_same_person_distances_do_not_grow_with_blazeface_boxes() -> None:
    """dlib's landmark model was trained on HOG's boxes: BlazeFace's are mapped to
    them, so the encodings of one person stay as close as with HOG."""
    by_detector = {name: _encodings(face_detector(name, upsample=1)) for name in ("hog", "blazeface")}
    same_person = {
        name: [
            float(np.linalg.norm(a - b))
            for encodings in found.values()
            for a, b in itertools.combinations(encodings, 2)
        ]
        for name, found in by_detector.items()
    }
    assert np.mean(same_person["blazeface"]) <= np.mean(same_person["hog"]) + 0.01
    # And one photo encoded from either detector's box is mostly nearly the same encoding
    # (a turned head's landmarks move most: 0.22 for F1's first photo).
    apart = [
        float(np.linalg.norm(ours - hogs))
        for person, encodings in by_detector["blazeface"].items()
        for ours, hogs in zip(encodings, by_detector["hog"][person], strict=True)
    ]
    assert np.median(apart) < 0.06
    assert max(apart) < 0.3


def test_a_tracked_face_is_described_from_a_box_like_hogs() -> None:
    """A tracked face is found by the short-range model and, before its landmarks are
    found, redrawn by the full-range model in the same search: one photo's encoding
    from either box is nearly the same. (From the short-range box itself F1's turned
    head in her first photo came out 0.42 from HOG's box's encoding.)"""
    hog, blaze, encoder = (
        face_detector("hog", upsample=1),
        face_detector("blazeface", upsample=1),
        FaceEncoder(),
    )
    apart = []
    for photo in itertools.chain.from_iterable(PEOPLE.values()):
        image = load_photo(photo)
        hog_boxes = hog(image).boxes
        assert len(hog_boxes) == 1
        top, right, bottom, left = hog_boxes[0].tolist()
        size = float(np.sqrt((bottom - top) * (right - left)))
        margin = round(size / 2)  # as motion.py asks for a tracked face
        height, width = image.shape[:2]
        region = Region(
            (
                max(top - margin, 0),
                min(right + margin, width),
                min(bottom + margin, height),
                max(left - margin, 0),
            ),
            scale=110.0 / size,
        )
        tracked = blaze(image, [region])
        assert len(tracked) == 1, photo
        described = blaze.boxes_to_describe(image, tracked.boxes)
        assert not np.array_equal(described, tracked.boxes)
        apart.append(float(np.linalg.norm(encoder(image, described)[0] - encoder(image, hog_boxes)[0])))
    assert np.median(apart) < 0.06
    assert max(apart) < 0.2


def test_a_face_found_by_the_full_range_sweep_keeps_its_box() -> None:
    image = _scene_with_face(100, (640.0, 360.0))
    detector = face_detector("blazeface", upsample=1)
    found = detector(image)
    assert len(found) == 1
    assert np.array_equal(detector.boxes_to_describe(image, found.boxes), found.boxes)


def test_the_quality_gate_measures_a_face_alike_whichever_detector_drew_its_box() -> None:
    """Sharpness is measured on the landmark-aligned chip, so the gate does not move
    with the box: the same face, found by each detector, soft and sharp, gives the
    same figure within 30 % (inside the two boxes it had given 0.131 and 0.175)."""
    hog, blaze = face_detector("hog", upsample=1), face_detector("blazeface", upsample=1)
    compared = 0
    for photo in itertools.chain.from_iterable(PEOPLE.values()):
        sharp = load_photo(photo)
        for image in (sharp, cv2.GaussianBlur(sharp, (0, 0), 1.0)):
            hog_boxes, blaze_boxes = hog(image).boxes, blaze(image).boxes
            if len(hog_boxes) != 1 or len(blaze_boxes) != 1:
                continue
            by_hog = face_sharpness(image, face_landmarks(image, hog_boxes))[0]
            by_blaze = face_sharpness(image, face_landmarks(image, blaze_boxes))[0]
            assert by_blaze == pytest.approx(by_hog, rel=0.3), photo
            compared += 1
    assert compared >= 10


def _frames_with_faces(detector: FaceDetector, path, at_least: int) -> int:
    with VideoReader(path) as reader:
        return sum(len(detector(frame.image)) >= at_least for frame in reader.frames(5.0, 0, None))


def test_blazeface_keeps_turned_heads_that_hog_loses() -> None:
    # Both actors are in every frame; the woman turns her head away and back.
    both_hog = _frames_with_faces(face_detector("hog", upsample=1), FEMALE_AND_MALE, 2)
    both_blazeface = _frames_with_faces(face_detector("blazeface", upsample=1), FEMALE_AND_MALE, 2)
    assert both_blazeface > 2 * max(both_hog, 1)


def test_blazeface_finds_faces_of_about_20_pixels_that_hog_misses() -> None:
    # Two people walk towards the camera with faces of 18-26 px.
    assert _frames_with_faces(face_detector("hog", upsample=1), STRANGERS_WALKING, 1) == 0
    assert _frames_with_faces(face_detector("blazeface", upsample=1), STRANGERS_WALKING, 1) > 5


def _scene_with_face(face_height: int, centre: tuple[float, float]) -> np.ndarray:
    """A face pasted into a textured scene with no face of its own."""
    noise = np.random.default_rng(0).normal(110, 40, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    scene = cv2.GaussianBlur(noise, (0, 0), 3)
    photo = load_photo(PHOTOS / "intel_actor_m1" / "1.png")
    paste(scene, crop_face(photo, face_detector()(photo).boxes[0], margin=0.35), centre, face_height)
    return scene


@pytest.mark.parametrize(
    "centre",
    [
        (640.0, 360.0),
        (137.0, 100.0),  # across the seam between the first two tiles of the finest level
        (1250.0, 680.0),  # running off the frame's corner
    ],
)
def test_one_face_is_found_once_wherever_the_tiles_cut_it(centre) -> None:
    image = _scene_with_face(100, centre)
    detections = face_detector("blazeface", upsample=1)(image)
    assert len(detections) == 1
    top, right, bottom, left = detections.boxes[0]
    assert left <= centre[0] <= right or right == 1280
    assert 0 <= top < bottom <= 720
    assert 0 <= left < right <= 1280


def test_a_tracked_face_is_found_in_its_region_at_its_own_size() -> None:
    image = _scene_with_face(200, (400.0, 300.0))
    whole = face_detector("blazeface", upsample=1)(image)
    assert len(whole) == 1
    size = float(whole.sizes[0])
    region = Region((150, 600, 450, 200), scale=110.0 / size)  # as motion.py asks for a tracked face
    tracked = face_detector("blazeface", upsample=1)(image, [region])
    assert len(tracked) == 1
    assert np.abs(tracked.boxes[0] - whole.boxes[0]).max() < 0.15 * size


def test_a_tracked_face_is_searched_in_every_busy_frame() -> None:
    """Where most of the frame moves, new faces are looked for in a share of the frame
    at a time; a tracked face is searched all the same, so its track gets a detection
    in every frame, not only in those whose share covers it."""
    image = _scene_with_face(60, (400.0, 300.0))
    region = Region((240, 460, 360, 340), scale=110.0 / 50)  # about the face's size
    counts = {}
    for label, tracked in (("tracked", [region]), ("not tracked", [])):
        detector = face_detector("blazeface", upsample=1)
        detector.next_frame(image, FrameRegions(None, []))  # the first frame is searched whole
        counts[label] = sum(len(detector.next_frame(image, FrameRegions(None, tracked))) for _ in range(5))
    assert counts["tracked"] == 5
    assert counts["not tracked"] < 5  # found only by the shares of the pyramid that hold it


def test_the_tiles_of_every_level_cover_the_whole_box() -> None:
    box = (10, 1290, 730, 7)  # top, right, bottom, left; not a multiple of anything
    tiles = blazeface.pyramid(box, 40.0)
    scales = sorted({round(blazeface.FULL_RANGE.input_side / t.side, 6) for t in tiles}, reverse=True)
    assert scales[0] == pytest.approx(blazeface.RELIABLE_FACE_PX / 40.0, rel=1e-3)
    assert len(scales) > 1
    for scale in scales:
        level = [t for t in tiles if round(blazeface.FULL_RANGE.input_side / t.side, 6) == scale]
        covered = np.zeros((730, 1290), dtype=bool)
        for tile in level:
            side = round(tile.side)
            covered[max(tile.top, 0) : tile.top + side, max(tile.left, 0) : tile.left + side] = True
        assert covered[10:730, 7:1290].all()
    # The coarsest level sees the whole box in one tile.
    assert max(box[2] - box[0], box[1] - box[3]) * scales[-1] <= blazeface.FULL_RANGE.input_side


def test_no_face_gives_no_boxes() -> None:
    detections = face_detector("blazeface")(np.full((480, 640, 3), 90, np.uint8))
    assert detections.boxes.shape == (0, 4)


def test_a_missing_model_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="BlazeFace model is missing"):
        blazeface.BlazeFace(path=tmp_path / "absent.tflite")


def test_litert_and_opencv_find_the_same_faces() -> None:
    # LiteRT runs the model where it has a wheel; OpenCV's DNN module elsewhere. The
    # two must agree, or a scan's figures would depend on the platform.
    image = _scene_with_face(90, (300.0, 200.0))
    paste(image, crop_face(load_photo(PHOTOS / "orl_s01" / "1.png"), (20, 80, 90, 15), 0.1), (900, 450), 60)
    tiles = blazeface.pyramid((0, 1280, 720, 0), 40.0)
    tracked = blazeface.tiles_over((120, 380, 280, 220), 32.0 / 90.0, blazeface.SHORT_RANGE)
    for searched in (tiles, tracked):
        litert, opencv = (
            blazeface.detect(image, searched, functools.partial(blazeface.BlazeFace, engine=engine))
            for engine in (blazeface.LiteRtNetwork, blazeface.OpenCvNetwork)
        )
        assert len(litert[0]) == len(opencv[0]) >= 1
        assert np.abs(litert[0] - opencv[0]).max() <= 1
        assert np.abs(litert[1] - opencv[1]).max() < 1e-4


def test_the_default_engine_is_litert_where_it_is_installed() -> None:
    pytest.importorskip("ai_edge_litert")
    assert blazeface.default_engine() is blazeface.LiteRtNetwork


def test_loading_the_model_writes_nothing_between_the_progress_bars(capfd, caplog) -> None:
    caplog.set_level("DEBUG", logger="lfr_batch.vision.blazeface")
    blazeface.BlazeFace(engine=blazeface.LiteRtNetwork)
    assert capfd.readouterr().err == ""
    assert "face_detection_full_range.tflite runs in LiteRT" in caplog.text


def test_the_model_loads_in_a_process_without_a_stderr(monkeypatch) -> None:
    monkeypatch.setattr("sys.stderr", None)  # pythonw, a Windows service
    blazeface.BlazeFace(engine=blazeface.LiteRtNetwork)


@pytest.mark.parametrize("engine", [blazeface.LiteRtNetwork, blazeface.OpenCvNetwork])
@pytest.mark.parametrize("content", [b"", b"TFL3" + bytes(5000), MODEL_BYTES[:100_000]])
def test_a_damaged_model_file_is_one_clear_error(tmp_path, engine, content) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="cannot load the BlazeFace model") as raised:
        blazeface.BlazeFace(path=path, engine=engine)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "tile",
    [
        blazeface.Tile(100, 200, 274.3),  # inside the frame, a little larger than the input
        blazeface.Tile(-50, 1100, 274.3),  # running off the top and the right
        blazeface.Tile(-400, -300, 2194.3),  # the coarsest level: the whole frame and more
        blazeface.Tile(200, 300, 1097.1),
        blazeface.Tile(-20, 40, 240.5, blazeface.SHORT_RANGE),  # a tracked face's tile
    ],
)
def test_a_tile_is_cropped_as_if_the_frame_were_padded_with_black_then_resized(tile) -> None:
    noise = np.random.default_rng(1).normal(120, 50, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 2)
    side, pad = round(tile.side), 3000
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    region = padded[tile.top + pad : tile.top + pad + side, tile.left + pad : tile.left + pad + side]
    input_side = tile.model.input_side
    expected = cv2.resize(region, (input_side, input_side), interpolation=cv2.INTER_AREA).astype(np.float64)
    cropped = blazeface.crop_tile(image, tile)
    assert cropped.shape == (input_side, input_side, 3)
    assert np.abs(cropped - expected).mean() < 3.0


def test_a_tile_wholly_outside_the_frame_is_black() -> None:
    image = np.full((100, 100, 3), 200, np.uint8)
    assert not blazeface.crop_tile(image, blazeface.Tile(150, 150, 300.0)).any()
