"""lfr-batch: batch face matching of recorded CCTV footage against a watchlist.

The pipeline, one module per stage: video → motion (where to look) → faces →
tracks → encodings → matches → alerts (:mod:`lfr_batch.vision.pipeline` runs them over
one segment of a video) → reports, review, grid. :mod:`lfr_batch.scan` plans
and runs a whole scan; :mod:`lfr_batch.watchlist` builds and loads the
watchlist that :mod:`lfr_batch.vision.matches` compares against.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lfr-batch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

SOFTWARE_NAME = "lfr-batch"
