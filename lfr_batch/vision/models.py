"""Locating and loading the dlib models, once per process.

The weights come from the ``face-recognition-models`` distribution. Importing that
package needs ``pkg_resources`` (gone from current setuptools), so its folder is
found with :func:`importlib.util.find_spec` and the files are read directly.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlib

from lfr_batch.errors import ModelError
from lfr_batch.vision.resnet import DlibResNet

LANDMARK_MODEL = "shape_predictor_5_face_landmarks"
ENCODER_MODEL = "dlib_face_recognition_resnet_model_v1"
CNN_DETECTOR_MODEL = "mmod_human_face_detector"
HOG_DETECTOR_MODEL = "dlib_frontal_face_detector_hog"


def models_dir() -> Path:
    """The folder holding the ``*.dat`` weights of face-recognition-models."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the dlib model weights are missing: install the 'face-recognition-models' package")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not folder.is_dir():
        raise ModelError(f"face-recognition-models has no models folder at {folder}")
    return folder


def model_path(name: str) -> Path:
    path = models_dir() / f"{name}.dat"
    if not path.is_file():
        raise ModelError(f"dlib model file not found: {path}")
    return path


@dataclass(frozen=True)
class DlibModels:
    """The dlib objects one process needs; load with :func:`load_models`."""

    landmark_predictor: Any
    encoder: DlibResNet

    @functools.cached_property
    def hog_detector(self) -> Any:
        # Half a second to load: a process scanning with BlazeFace never does.
        return dlib.get_frontal_face_detector()

    @functools.cached_property
    def cnn_detector(self) -> Any:
        # The CNN detector is large and slow on a CPU: load it only when asked for.
        return dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR_MODEL)))


@functools.cache
def load_models() -> DlibModels:
    """Load the models the first time they are needed, then reuse them."""
    try:
        return DlibModels(
            landmark_predictor=dlib.shape_predictor(str(model_path(LANDMARK_MODEL))),
            encoder=DlibResNet.load(model_path(ENCODER_MODEL)),
        )
    except RuntimeError as error:
        raise ModelError(f"cannot load the dlib models: {error}") from error
