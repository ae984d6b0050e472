"""CenterFace marks where new faces may be for BlazeFace's scan of a video, at the
scale the reach asks for, with either engine; the schedule bounds where it looks."""

from __future__ import annotations

import functools
import sys

import cv2
import numpy as np
import pytest
from conftest import PHOTOS

from lfr_batch.errors import ModelError
from lfr_batch.synthetic import paste
from lfr_batch.vision import blazeface, centerface
from lfr_batch.vision.faces import FaceDetector, NewFaceSchedule
from lfr_batch.vision.motion import TRACKED_FACE_TARGET_PX, FrameRegions, Region
from lfr_batch.vision.photos import crop_face, load_photo

WHOLE = (0, 1280, 720, 0)
ANYWHERE = FrameRegions(None, [])  # a busy frame, nothing tracked


@functools.cache
def _head() -> np.ndarray:
    photo = load_photo(PHOTOS / "intel_actor_m1" / "1.png")
    return crop_face(photo, FaceDetector()(photo).boxes[0], margin=0.35)


def _scene(faces: list[tuple[tuple[float, float], int]]) -> np.ndarray:
    """Faces (centre, face size) pasted into a textured scene with no face of its own."""
    noise = np.random.default_rng(0).normal(110, 40, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    scene = cv2.GaussianBlur(noise, (0, 0), 3)
    head = _head()
    for centre, face_px in faces:
        # crop_face's margin of 0.35 makes the head 1.7 faces tall.
        paste(scene, head, centre, round(face_px * 1.7))
    return scene


def _nearest(marks, centre):
    return min(marks, key=lambda mark: np.hypot(*_centre(mark[0]) - np.array(centre)))


def _centre(box) -> np.ndarray:
    top, right, bottom, left = box
    return np.array([(left + right) / 2, (top + bottom) / 2])


@pytest.mark.parametrize("face_px", [30, 40, 65, 120])
def test_a_face_is_marked_where_it_is_at_about_its_size(face_px) -> None:
    centre = (500.0, 300.0)
    marks = centerface.CenterFace().marks(_scene([(centre, face_px)]), WHOLE, 40.0)
    assert marks
    box, size = _nearest(marks, centre)
    assert np.hypot(*(_centre(box) - centre)) < face_px / 4
    assert 0.7 * face_px < size < 1.4 * face_px


def test_marks_in_part_of_the_frame_are_in_frame_coordinates_and_stay_inside_it() -> None:
    image = _scene([((300.0, 200.0), 50), ((1000.0, 500.0), 50)])
    marks = centerface.CenterFace().marks(image, (400, 1280, 720, 640), 40.0)
    assert len(marks) == 1
    assert np.hypot(*(_centre(marks[0][0]) - (1000.0, 500.0))) < 12


@pytest.mark.parametrize("box", [(100, 100, 100, 50), (800, 1400, 900, 1300), (-50, 10, 10, -40)])
def test_a_box_with_nothing_of_the_frame_in_it_gives_no_marks(box) -> None:
    assert centerface.CenterFace().marks(_scene([]), box, 40.0) == []


def test_a_plain_frame_gives_no_marks() -> None:
    assert centerface.CenterFace().marks(np.full((720, 1280, 3), 90, np.uint8), WHOLE, 40.0) == []


def test_onnx_runtime_and_opencv_mark_the_same_places() -> None:
    # ONNX Runtime runs the model where it is installed, OpenCV's DNN module elsewhere:
    # a scan's figures must not depend on which.
    image = _scene([((300.0, 200.0), 35), ((900.0, 450.0), 70)])
    onnx_marks, opencv_marks = (
        centerface.CenterFace(engine=engine).marks(image, WHOLE, 40.0)
        for engine in (centerface.OnnxRuntimeNetwork, centerface.OpenCvNetwork)
    )
    assert len(onnx_marks) == len(opencv_marks) >= 2
    for (box, size), (other_box, other_size) in zip(sorted(onnx_marks), sorted(opencv_marks), strict=True):
        assert np.abs(np.array(box) - other_box).max() <= 1
        assert size == pytest.approx(other_size, rel=0.01)


def test_the_default_engine_is_onnx_runtime_where_it_is_installed() -> None:
    pytest.importorskip("onnxruntime")
    assert centerface.default_engine() is centerface.OnnxRuntimeNetwork


def test_without_a_working_onnx_runtime_opencv_runs_it(monkeypatch) -> None:
    # Not installed, or installed with a library that will not load: the scan goes on.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    assert centerface.default_engine() is centerface.OpenCvNetwork
    assert centerface.CenterFace().marks(_scene([((500.0, 300.0), 60)]), WHOLE, 40.0)


def test_loading_the_model_writes_nothing_between_the_progress_bars(capfd) -> None:
    # The bundled file's initializers are not graph inputs: ONNX Runtime warns of each
    # one that is (and cannot fold it), which the original file has 194 of.
    network = centerface.CenterFace(engine=centerface.OnnxRuntimeNetwork)
    network.marks(_scene([]), WHOLE, 40.0)
    assert capfd.readouterr().err == ""


def test_a_missing_model_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="CenterFace model is missing"):
        centerface.CenterFace(path=tmp_path / "absent.onnx")


def test_the_first_frame_is_searched_whole_then_only_what_moved_where_little_moves() -> None:
    schedule = NewFaceSchedule(spread_frames=5)
    walker = (300, 500, 400, 450)
    assert schedule.new_face_boxes((720, 1280), [walker]) == [WHOLE]
    for _ in range(12):
        assert schedule.new_face_boxes((720, 1280), [walker]) == [walker]
    assert schedule.new_face_boxes((720, 1280), []) == []


@pytest.mark.parametrize("moving", [None, [(0, 1280, 400, 0)]])  # anywhere; more than a fifth
def test_a_busy_frame_is_searched_whole_once_every_spread_frames(moving) -> None:
    schedule = NewFaceSchedule(spread_frames=5)
    searched = [schedule.new_face_boxes((720, 1280), moving) for _ in range(16)]
    assert [frame for frame, boxes in enumerate(searched) if boxes] == [0, 5, 10, 15]
    assert all(boxes == [WHOLE] for boxes in searched if boxes)


def test_a_face_that_enters_a_busy_scene_is_found_within_a_sweep_by_the_full_range_model() -> None:
    detector = FaceDetector("blazeface", upsample=1, frames_per_sweep=5)
    empty, with_face = _scene([]), _scene([((700.0, 380.0), 60)])
    assert len(detector.next_frame(empty, ANYWHERE)) == 0  # the first frame: searched whole
    found = [detector.next_frame(with_face, ANYWHERE) for _ in range(5)]
    # It came in after that sweep; the next one, a second of footage later, finds it.
    assert [len(faces) for faces in found] == [0, 0, 0, 0, 1]
    # Its box is the full-range model's, as HOG would draw it: nothing to redraw.
    assert np.array_equal(detector.boxes_to_describe(with_face, found[-1].boxes), found[-1].boxes)
    whole = FaceDetector("blazeface", upsample=1)(with_face)
    assert np.abs(found[-1].boxes[0] - whole.boxes[0]).max() <= 0.1 * 60


def test_a_mark_inside_a_tracked_faces_search_is_left_to_that_search(monkeypatch) -> None:
    # The tracked face's own search finds it; a second search of it would only cost.
    image = _scene([((700.0, 380.0), 60)])
    searched = []
    real_detect = blazeface.detect
    monkeypatch.setattr(
        blazeface, "detect", lambda image, tiles: searched.append(tiles) or real_detect(image, tiles)
    )
    tracked = Region((320, 760, 440, 640), scale=TRACKED_FACE_TARGET_PX / 60)
    faces = FaceDetector("blazeface", upsample=1).next_frame(image, FrameRegions(None, [tracked]))
    assert len(faces) == 1
    (tiles,) = searched
    assert {tile.model for tile in tiles} == {blazeface.SHORT_RANGE}
