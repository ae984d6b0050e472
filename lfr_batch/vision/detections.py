"""The faces of one frame: the typed rows that pass from the detector through the
tracker, the encoding policy and the quality gate to the encoder (numpy only, so every
stage can take it without loading a model)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Detections:
    """The faces of one frame, a row each: what the detector finds (:meth:`found`) and
    every later stage takes and returns (the tracker fills in ``track_ids``, ``crowded``
    and ``unsure``). Indexing with a mask or row numbers keeps every field in step."""

    boxes: np.ndarray  # N×4 int32 (top, right, bottom, left)
    scores: np.ndarray  # N float64; higher is a clearer, more frontal face
    sure: np.ndarray  # N bool: surely a face (a track with none is not a face seen)
    track_ids: np.ndarray  # N int64: -1 until the tracker links the face
    crowded: np.ndarray  # N bool: another face close by
    unsure: np.ndarray  # N bool: the tracker wants its link checked by appearance

    @classmethod
    def found(cls, boxes: np.ndarray, scores: np.ndarray, sure: np.ndarray | None = None) -> Detections:
        """Faces as a detector finds them: not linked to tracks yet."""
        rows = len(boxes)
        return cls(
            boxes,
            scores,
            np.ones(rows, dtype=bool) if sure is None else sure,
            np.full(rows, -1, dtype=np.int64),
            np.zeros(rows, dtype=bool),
            np.zeros(rows, dtype=bool),
        )

    def __post_init__(self) -> None:
        rows = len(self.boxes)
        if self.boxes.shape != (rows, 4):
            raise ValueError(f"boxes must be N×4, not {self.boxes.shape}")
        for name in ("scores", "sure", "track_ids", "crowded", "unsure"):
            if getattr(self, name).shape != (rows,):
                raise ValueError(
                    f"{name} must hold one value per box ({rows}), not {getattr(self, name).shape}"
                )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, rows: np.ndarray | slice) -> Detections:
        return Detections(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def sizes(self) -> np.ndarray:
        """Each face's size in pixels: the geometric mean of its width and height."""
        heights = (self.boxes[:, 2] - self.boxes[:, 0]).astype(np.float64)
        widths = (self.boxes[:, 1] - self.boxes[:, 3]).astype(np.float64)
        return np.sqrt(np.maximum(heights, 1.0) * np.maximum(widths, 1.0))


NO_DETECTIONS = Detections.found(np.zeros((0, 4), dtype=np.int32), np.zeros(0))
