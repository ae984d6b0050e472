"""The vision pipeline: video → faces → tracks → encodings → matches → alerts.

Each module is one stage with a small typed interface; :mod:`.pipeline` runs
them all over one segment of a video. Nothing here reads or writes a
deployment's folder: that is :mod:`lfr_batch.records`.
"""

from typing import Literal

# The face detectors a scan can use (lfr_batch.vision.faces); named here, where importing
# them loads no model, so the options table can offer them.
DetectorName = Literal["hog", "blazeface", "cnn"]
DETECTORS: tuple[DetectorName, ...] = ("hog", "blazeface", "cnn")
