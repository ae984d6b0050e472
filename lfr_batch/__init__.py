"""lfr-batch: batch face matching of recorded CCTV footage against a watchlist.

The pipeline, one module per stage:
video → faces (detection) → tracks → encodings → matches → alerts → reports,
driven by :mod:`lfr_batch.scan`. :mod:`lfr_batch.watchlist` builds and loads
the watchlist that :mod:`lfr_batch.matches` compares against.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lfr-batch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

SOFTWARE_NAME = "lfr-batch"
