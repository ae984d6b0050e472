"""Where to look: the regions of a frame worth running the face detector on.

Fixed CCTV cameras see mostly still scenes. Comparing each analysed frame with
the previous one on a small greyscale copy finds what moved; the detector then
searches those regions (at the full reach of ``--upsample``) and the
neighbourhood of every face already tracked (at a scale chosen from that
face's size, which is much cheaper than upsampling). A frame where nothing
moved and nobody is tracked costs almost nothing. The whole frame is still
searched on the first frame, at regular keyframes (so a person who never
moves is found too) and where most of it moved; each tracked face's
neighbourhood is given on every frame all the same, for a detector that looks
for new faces in a whole frame at a bounded cost and so would not otherwise
search it there (see :class:`~lfr_batch.vision.blazeface.TileSchedule`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MOTION_WIDTH = 320  # analysis width; enough to see a walking person at 720p-4K
PIXEL_CHANGE = 18  # grey levels: above compression noise, below a person's contrast
KEYFRAME_INTERVAL_S = 10.0
# Around what moved, the detector needs the whole head plus HOG's context window.
REGION_PADDING = 0.35  # of the region's longer side
MIN_REGION_PADDING_PX = 48
# Around a tracked face (where it was, and where its pace says it will be): how far
# it may stray from that pace before the next analysed frame.
TRACK_PADDING = 0.5  # face sizes
# A tracked face is searched at the scale that makes it this many pixels: HOG finds
# faces from 80 px, and the margin allows the face to shrink as it walks away.
TRACKED_FACE_TARGET_PX = 110.0
FULL_FRAME_SHARE = 0.45  # when new motion covers more than this, search the whole frame

Box = tuple[int, int, int, int]  # (top, right, bottom, left)


@dataclass(frozen=True)
class Region:
    """Part of a frame to search, and the scale to search it at
    (``None``: the detector's own upsampling, the reach for unknown faces)."""

    box: Box
    scale: float | None = None


@dataclass(frozen=True)
class FrameRegions:
    """Where to search one analysed frame: ``moving``, where new faces may be
    (``None``: anywhere, the whole frame), and ``tracked``, each tracked face's
    neighbourhood at its own scale."""

    moving: list[Region] | None
    tracked: list[Region]

    def merged(self) -> list[Region] | None:
        """Both in one list, or ``None`` where the whole frame is to be searched anyway."""
        return None if self.moving is None else self.moving + self.tracked


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[3] < b[1] and b[3] < a[1]


def union(a: Box, b: Box) -> Box:
    """The smallest box holding both (top, right, bottom, left)."""
    return (min(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]))


def merge_regions(regions: list[Region]) -> list[Region]:
    """Union overlapping regions until none overlap; a union keeps the larger
    scale, so the smaller face in it is still searched at its size."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        result: list[Region] = []
        for region in merged:
            for index, other in enumerate(result):
                if overlaps(region.box, other.box):
                    box = union(region.box, other.box)
                    scales = [s for s in (region.scale, other.scale) if s is not None]
                    result[index] = Region(box, max(scales) if scales else None)
                    changed = True
                    break
            else:
                result.append(region)
        merged = result
    return merged


def pad_box(box: Box, margin: int, height: int, width: int) -> Box:
    top, right, bottom, left = box
    return (
        max(top - margin, 0),
        min(right + margin, width),
        min(bottom + margin, height),
        max(left - margin, 0),
    )


class MotionRegions:
    """Turns each analysed frame of one video or segment into the regions to search."""

    def __init__(self, keyframe_interval_s: float = KEYFRAME_INTERVAL_S) -> None:
        self.keyframe_interval_s = keyframe_interval_s
        self._previous: np.ndarray | None = None
        self._last_keyframe_s = -np.inf

    def regions(self, image: np.ndarray, time_s: float, tracked: np.ndarray) -> FrameRegions:
        """The regions to search in this frame.

        ``tracked`` holds, for each face being tracked, two boxes between which it
        should be (where it was and where its pace puts it), one after the other
        (2N×4; see ``FaceTracker.expected_boxes``).
        """
        height, width = image.shape[:2]
        scale = MOTION_WIDTH / width if width > MOTION_WIDTH else 1.0
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
        previous, self._previous = self._previous, grey
        track_regions = []
        for one_end, other_end in tracked.reshape(-1, 2, 4).tolist():
            top, right, bottom, left = one_end
            size = max(float(np.sqrt(max(bottom - top, 1) * max(right - left, 1))), 1.0)
            box = pad_box(union(one_end, other_end), int(size * TRACK_PADDING), height, width)
            track_regions.append(Region(box, TRACKED_FACE_TARGET_PX / size))
        if previous is None or time_s - self._last_keyframe_s >= self.keyframe_interval_s:
            self._last_keyframe_s = time_s
            return FrameRegions(None, track_regions)

        changed = (cv2.absdiff(grey, previous) > PIXEL_CHANGE).astype(np.uint8)
        for region in track_regions:
            # What moved there is the tracked face itself: it needs no wider search.
            top, right, bottom, left = region.box
            changed[
                int(top * scale) : int(bottom * scale) + 1, int(left * scale) : int(right * scale) + 1
            ] = 0

        changed = cv2.dilate(changed, np.ones((3, 3), np.uint8), iterations=2)
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(changed, connectivity=8)
        moving = []
        for left, top, box_width, box_height, area in stats[1:count].tolist():
            if area < 4:
                continue
            box = (
                int(top / scale),
                int((left + box_width) / scale),
                int((top + box_height) / scale),
                int(left / scale),
            )
            margin = max(int(max(box[2] - box[0], box[1] - box[3]) * REGION_PADDING), MIN_REGION_PADDING_PX)
            moving.append(Region(pad_box(box, margin, height, width)))
        moving = merge_regions(moving)
        if (
            sum((r.box[2] - r.box[0]) * (r.box[1] - r.box[3]) for r in moving)
            > FULL_FRAME_SHARE * height * width
        ):
            return FrameRegions(None, track_regions)
        return FrameRegions(moving, track_regions)
