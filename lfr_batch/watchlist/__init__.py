"""The watchlist: subjects and their reference encodings, in three parts.

- :mod:`.model`: what a list is (:class:`~.model.Subject`, :class:`~.model.Watchlist`,
  the published categories, expiry): plain data and numpy, what the vision pipeline
  matches against, and all of the list it imports.
- :mod:`.store`: the file (load, save, sign) that never runs code.
- :mod:`.builder`: a list from a folder of photos and a subjects.csv.

Nothing is imported here, so importing the model loads neither the file format nor
the builder's detector.
"""
