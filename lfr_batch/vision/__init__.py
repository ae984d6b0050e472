"""The vision pipeline: video → faces → tracks → encodings → matches → alerts.

Each module is one stage with a small typed interface; :mod:`.pipeline` runs
them all over one segment of a video. Nothing here reads or writes a
deployment's folder: that is :mod:`lfr_batch.records`.
"""
