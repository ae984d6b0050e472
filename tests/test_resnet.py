"""dlib's ResNet run in numpy gives dlib's own descriptors, and a weights file that
is not that network is refused in one line."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
from conftest import PHOTOS, SAMPLE_PHOTOS

from lfr_batch.errors import ModelError
from lfr_batch.vision.encodings import face_landmarks
from lfr_batch.vision.faces import face_detector
from lfr_batch.vision.models import ENCODER_MODEL, LANDMARK_MODEL, load_models, model_path
from lfr_batch.vision.photos import load_photo
from lfr_batch.vision.resnet import CHIP_PADDING, CHIP_SIZE, DlibResNet


def _faces_of_bundled_photos() -> tuple[list[np.ndarray], list[dlib.full_object_detections]]:
    detector = face_detector("hog", upsample=1)
    images, landmarks = [], []
    for photo in sorted([*PHOTOS.glob("*/*.png"), *SAMPLE_PHOTOS.glob("*/*.png")]):
        image = load_photo(photo)
        shapes = dlib.full_object_detections(face_landmarks(image, detector(image).boxes))
        if len(shapes):
            images.append(image)
            landmarks.append(shapes)
    assert len(images) >= 8
    return images, landmarks


def test_descriptors_equal_dlibs_own_network_within_float_rounding() -> None:
    """dlib's network (as face_recognition calls it) and ours on every face of the
    bundled photos: the same 128 numbers, one face at a time and all in one batch."""
    dlib_network = dlib.face_recognition_model_v1(str(model_path(ENCODER_MODEL)))
    ours = load_models().encoder
    images, landmarks = _faces_of_bundled_photos()
    expected, chips = [], []
    for image, shapes in zip(images, landmarks, strict=True):
        expected.extend(np.array(dlib_network.compute_face_descriptor(image, shapes, 1)))
        chips.extend(dlib.get_face_chips(image, shapes, size=CHIP_SIZE, padding=CHIP_PADDING))
    expected_array = np.array(expected)
    one_at_a_time = np.vstack([ours(chip[None]) for chip in chips])
    np.testing.assert_allclose(one_at_a_time, expected_array, atol=1e-5)
    np.testing.assert_allclose(ours(np.stack(chips)), expected_array, atol=1e-5)
    # Distances, which is what matching uses, agree to far below any threshold's step.
    pairs = np.linalg.norm(expected_array[:, None] - expected_array[None], axis=2)
    ours_pairs = np.linalg.norm(one_at_a_time[:, None] - one_at_a_time[None], axis=2)
    assert np.abs(pairs - ours_pairs).max() < 1e-5


@pytest.fixture(scope="module")
def weights() -> bytes:
    return model_path(ENCODER_MODEL).read_bytes()


def _damaged(weights: bytes, tmp_path: Path, how: str) -> Path:
    path = tmp_path / "encoder.dat"
    if how == "cut short":
        path.write_bytes(weights[: len(weights) // 2])
    elif how == "a layer renamed":
        path.write_bytes(weights.replace(b"\x01\x05relu_", b"\x01\x05relx_", 1))
    elif how == "another network's layers":
        # The stem's activation swapped for a residual addition: a readable file, but
        # not the network this reader runs.
        path.write_bytes(weights.replace(b"\x01\x05relu_", b"\x01\x09add_prev_", 1))
    elif how == "a layer of the wrong size":
        # The last layer says it takes 255 inputs; its weights are for 256.
        position = weights.rindex(b"\x01\x04fc_2\x01\x80\x02\x00\x01")
        path.write_bytes(weights[:position] + b"\x01\x04fc_2\x01\x80\x02\xff\x00" + weights[position + 11 :])
    elif how == "another dlib model":
        path.write_bytes(model_path(LANDMARK_MODEL).read_bytes())
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize(
    "how",
    [
        "cut short",
        "a layer renamed",
        "another network's layers",
        "a layer of the wrong size",
        "another dlib model",
        "empty",
        "random bytes",
    ],
)
def test_a_weights_file_that_is_not_the_network_is_one_line(weights: bytes, tmp_path: Path, how: str) -> None:
    with pytest.raises(ModelError) as error:
        DlibResNet.load(_damaged(weights, tmp_path, how))
    assert "\n" not in str(error.value)
    if how == "another network's layers":
        assert "where ('con', 'affine', 'relu', 'max_pool') was expected" in str(error.value)
    assert "encoder's weights" in str(error.value)


def test_a_missing_weights_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read the encoder's weights"):
        DlibResNet.load(tmp_path / "absent.dat")
