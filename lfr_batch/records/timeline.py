"""The timeline of a deployment or a case: one drawing, laid out once, shown as SVG in
report.html and case.html and saved as timeline.png for a briefing.

One row per camera on a shared wall-clock axis: a camera's files, named with the time
their first frame was taken (``cam1_20261126T140000.mp4``), are joined on its row by
those times. A file whose name carries no time has a row of its own, on the
wall-clock axis where its start is known (``--start``), else on a second axis of time
into the file. In each row, grey bars count the faces first seen, a pale band shows
where there is footage, and each finding (an alert, a candidate) is a bar in its
review's colour from its first to its last sighting, marked with its id. Findings
whose bars or ids would overlap go to lanes of their own, so none hides another.

Sizes are in pixels, text included: the drawing is as wide on a laptop as on a
large screen, and its text never grows or shrinks with the window.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

from lfr_batch.times import FILENAME_TIMESTAMP, comparable, parse_time

logger = logging.getLogger(__name__)

# Colour-blind-safe (Okabe-Ito): unreviewed orange, true alerts vermilion, false alerts blue.
OUTCOME_COLOURS = {"": "#e69f00", "true": "#d55e00", "false": "#0072b2"}
FACES_COLOUR = "#b8b8b8"
FOOTAGE_COLOUR = "#e8eef4"
TEXT_COLOUR, AXIS_COLOUR = "#333", "#666"

WIDTH = 840  # fits a 900 px window beside the page's margins
LABELS_WIDTH = 150  # the camera names, left of the plot
PLOT_LEFT, PLOT_RIGHT = LABELS_WIDTH + 6, WIDTH - 12
TEXT_PX, ID_PX = 12, 11
CHAR_PX = 0.62  # average glyph width per pixel of font size, for fitting text
BARS_HEIGHT, LANE_HEIGHT, ROW_GAP = 22, 18, 8
AXIS_HEIGHT, TITLE_HEIGHT = 26, 20
BAR_PX = 4  # the faces-seen bars: one per this many pixels of the axis
MERGE_PX = 3  # footage this close on the axis is drawn as one stretch
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MOST_TICKS = 8


def legend(unreviewed: str, true: str, false: str) -> tuple[tuple[str, str], ...]:
    """What each colour means: faces seen, footage, and the findings by their review."""
    return (
        (FACES_COLOUR, "faces first seen (bar height: how many)"),
        (FOOTAGE_COLOUR, "footage"),
        (OUTCOME_COLOURS[""], unreviewed),
        (OUTCOME_COLOURS["true"], true),
        (OUTCOME_COLOURS["false"], false),
    )


@dataclass(frozen=True)
class Marker:
    """A finding on the timeline: an alert, or a search candidate."""

    finding_id: str
    video: str
    first_seen_s: float
    last_seen_s: float
    verdict: str  # a key of OUTCOME_COLOURS: "", "true" or "false"
    label: str  # shown when hovered


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str = ""
    kind: str = ""  # "faces", "footage" or "marker"
    marker: str = ""  # the finding's id
    outcome: str = ""
    lane: int = 0


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: int = TEXT_PX
    anchor: str = "start"  # "start", "middle" or "end", as SVG says it
    title: str = ""
    bold: bool = False
    marker: str = ""


@dataclass(frozen=True)
class Bars:
    """A row's faces-seen bars: one shape, however many bars, so a long night stays small."""

    rects: tuple[tuple[float, float, float, float], ...]  # x, y, width, height
    fill: str
    title: str

    @property
    def path(self) -> str:
        return "".join(f"M{x:.1f} {y:.1f}h{w:.1f}v{h:.1f}h{-w:.1f}z" for x, y, w, h in self.rects)


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Drawing:
    width: int
    height: int = 0
    boxes: list[Box] = field(default_factory=list)
    bars: list[Bars] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)


@dataclass
class Row:
    """One camera, or one file whose name carries no time."""

    label: str
    videos: list[tuple[dict[str, Any], float]] = field(default_factory=list)  # (video, start on the axis)
    markers: list[tuple[Marker, float]] = field(default_factory=list)  # (finding, start of its video)


def camera(video: str) -> str | None:
    """A file's camera: its folder and its name without the time in it; None where
    the name carries no time."""
    path = PurePath(video)
    found = FILENAME_TIMESTAMP.search(path.stem)
    if not found:
        return None
    rest = (path.stem[: found.start()] + " " + path.stem[found.end() :]).strip(" _-.")
    return str(path.parent / rest) if rest else str(path.parent) or "camera"


def _fit(text: str, width: float, size: int = TEXT_PX) -> str:
    """Text cut in its middle with … to fit ``width`` pixels: a file name keeps its
    camera's prefix and its extension."""
    most = max(int(width / (size * CHAR_PX)), 3)
    if len(text) <= most:
        return text
    tail = (most - 1) // 2
    return text[: most - 1 - tail] + "…" + text[len(text) - tail :]


def _text_width(text: str, size: int) -> float:
    return len(text) * size * CHAR_PX


def draw(
    videos: list[dict[str, Any]],
    markers: list[Marker],
    bin_s: float,
    legend: tuple[tuple[str, str], ...] = (),
) -> Drawing | None:
    """The timeline of ``videos`` (each with video, status, start, duration_s and
    faces_seen_by_bin per ``bin_s``) and their ``markers``, under its ``legend`` (colour,
    meaning); None when no video was read."""
    shown = [video for video in videos if video.get("status") in ("ok", "partial")]
    if not shown:
        return None
    starts = {str(video["video"]): parse_time(video.get("start") or None) for video in shown}
    known = {name: comparable(start) for name, start in starts.items() if start is not None}
    timed = [video for video in shown if str(video["video"]) in known]
    untimed = [video for video in shown if str(video["video"]) not in known]
    drawing = Drawing(width=WIDTH)
    y = _legend(drawing, legend)
    if timed:
        origin = min(known.values())
        offsets = {name: (start - origin).total_seconds() for name, start in known.items()}
        first = starts[str(timed[0]["video"])]
        zone = _zone(first) if first is not None else ""
        y = _panel(drawing, y, f"Wall-clock time ({zone})", _rows(timed, offsets, markers), bin_s, origin)
    if untimed:
        title = "Time into each file (its start is not known)" if timed else "Time into each file"
        y = _panel(drawing, y, title, _rows(untimed, dict.fromkeys(starts, 0.0), markers), bin_s, None)
    drawing.height = math.ceil(y)
    return drawing


def _legend(drawing: Drawing, legend: tuple[tuple[str, str], ...]) -> float:
    """The colours' meanings, left to right, wrapped to the drawing's width; where they end."""
    x, y = 0.0, 0.0
    for colour, meaning in legend:
        width = 16 + _text_width(meaning, TEXT_PX) + 14
        if x and x + width > WIDTH:
            x, y = 0.0, y + TITLE_HEIGHT
        drawing.boxes.append(Box(x, y + 4, 11, 11, colour, kind="legend"))
        drawing.texts.append(Text(x + 16, y + 14, meaning))
        x += width
    return y + TITLE_HEIGHT + 6 if legend else 0.0


def _zone(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        return "local time where lfr-batch ran"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _rows(videos: list[dict[str, Any]], offsets: dict[str, float], markers: list[Marker]) -> list[Row]:
    rows: dict[str, Row] = {}
    for video in videos:
        name = str(video["video"])
        key = camera(name)
        row = rows.setdefault(key or name, Row(label=PurePath(key or name).name or name))
        row.videos.append((video, offsets[name]))
        row.markers.extend((marker, offsets[name]) for marker in markers if marker.video == name)
    return list(rows.values())


@dataclass(frozen=True)
class _Axis:
    """One panel's time axis: seconds from the start of its footage to x on the page."""

    span: float  # seconds the axis covers
    origin: datetime | None  # the wall-clock time of its 0, where known

    @property
    def scale(self) -> float:
        return (PLOT_RIGHT - PLOT_LEFT) / self.span

    def x(self, seconds: float) -> float:
        return PLOT_LEFT + seconds * self.scale

    def moment(self, seconds: float) -> str:
        return _moment(self.origin, seconds)


def _panel(
    drawing: Drawing, top: float, title: str, rows: list[Row], bin_s: float, origin: datetime | None
) -> float:
    """One axis and its rows, from ``top``; returns where it ends."""
    end = max(offset + float(video.get("duration_s") or 0.0) for row in rows for video, offset in row.videos)
    axis = _Axis(max(end, 1.0), origin)
    drawing.texts.append(Text(0, top + 14, title, bold=True))
    y = top + TITLE_HEIGHT
    counts_by_row = [_faces(row, bin_s, axis.span) for row in rows]
    most = max((count for counts in counts_by_row for count in counts), default=0) or 1
    bar_s = axis.span / len(counts_by_row[0]) if counts_by_row and counts_by_row[0] else axis.span
    for row, counts in zip(rows, counts_by_row, strict=True):
        lanes = _lanes(row, axis.x)
        height = BARS_HEIGHT + max(len(lanes), 1) * LANE_HEIGHT
        _draw_label(drawing, y, row)
        _draw_footage(drawing, y, height, row, axis)
        _draw_faces(drawing, y, row, counts, most, bar_s, axis)
        _draw_markers(drawing, y, lanes)
        y += height + ROW_GAP
    return _draw_axis(drawing, y, axis)


def _draw_label(drawing: Drawing, y: float, row: Row) -> None:
    """The row's name, with its files listed where the pointer rests on it."""
    files = [str(video["video"]) for video, _offset in row.videos]
    listing = files[0] if len(files) == 1 else f"{len(files)} files: " + ", ".join(files[:20])
    title = listing + (" …" if len(files) > 20 else "")
    drawing.texts.append(Text(0, y + BARS_HEIGHT + 4, _fit(row.label, LABELS_WIDTH), title=title))


def _draw_footage(drawing: Drawing, y: float, height: float, row: Row, axis: _Axis) -> None:
    """Where the row has footage: a band for each stretch of it."""
    for start, end, count in _footage(row, axis.scale):
        what = row.videos[0][0]["video"] if count == 1 else f"{count} files"
        drawing.boxes.append(
            Box(
                axis.x(start),
                y,
                max((end - start) * axis.scale, 1.0),
                height,
                FOOTAGE_COLOUR,
                title=f"{what}: {axis.moment(start)} to {axis.moment(end)}",
                kind="footage",
            )
        )


def _draw_faces(
    drawing: Drawing, y: float, row: Row, counts: list[int], most: int, bar_s: float, axis: _Axis
) -> None:
    """The faces first seen in each stretch of the row, as bars against the panel's busiest."""
    rects = tuple(
        (
            axis.x(index * bar_s),
            y + BARS_HEIGHT * (1 - count / most),
            max(bar_s * axis.scale - 1, 1.0),
            BARS_HEIGHT * count / most,
        )
        for index, count in enumerate(counts)
        if count
    )
    if not rects:
        return
    busiest = max(range(len(counts)), key=counts.__getitem__)
    drawing.bars.append(
        Bars(
            rects,
            FACES_COLOUR,
            f"{sum(counts)} faces first seen on {row.label}; most ({counts[busiest]}) from "
            f"{axis.moment(busiest * bar_s)} to {axis.moment((busiest + 1) * bar_s)}",
        )
    )


def _draw_markers(drawing: Drawing, y: float, lanes: list[list[tuple[Marker, float, float, float]]]) -> None:
    """Each finding as a mark from its first to its last sighting, in its review's colour, with its id."""
    for lane, placed in enumerate(lanes):
        lane_top = y + BARS_HEIGHT + lane * LANE_HEIGHT
        for marker, x0, x1, text_x in placed:
            drawing.boxes.append(
                Box(
                    x0,
                    lane_top + 12,
                    x1 - x0,
                    5,
                    OUTCOME_COLOURS.get(marker.verdict, OUTCOME_COLOURS[""]),
                    title=marker.label,
                    kind="marker",
                    marker=marker.finding_id,
                    outcome=marker.verdict or "none",
                    lane=lane,
                )
            )
            drawing.texts.append(
                Text(
                    text_x,
                    lane_top + 10,
                    marker.finding_id,
                    ID_PX,
                    title=marker.label,
                    marker=marker.finding_id,
                )
            )


def _draw_axis(drawing: Drawing, y: float, axis: _Axis) -> float:
    """The time axis under the rows, with its ticks; returns where the panel ends."""
    drawing.lines.append(Line(PLOT_LEFT, y, PLOT_RIGHT, y))
    for seconds, text in _ticks(axis.span, axis.origin):
        x = axis.x(seconds)
        drawing.lines.append(Line(x, y, x, y + 4))
        anchor = "start" if x < PLOT_LEFT + 30 else "end" if x > PLOT_RIGHT - 30 else "middle"
        drawing.texts.append(Text(x, y + 17, text, anchor=anchor))
    return y + AXIS_HEIGHT


def _footage(row: Row, scale: float) -> list[tuple[float, float, int]]:
    """Where the row has footage, as (start, end, files): files less than MERGE_PX apart
    on the axis are one stretch, so a night of one-second files is a few boxes."""
    stretches: list[tuple[float, float, int]] = []
    for video, offset in sorted(row.videos, key=lambda item: item[1]):
        end = offset + float(video.get("duration_s") or 0.0)
        if stretches and (offset - stretches[-1][1]) * scale < MERGE_PX:
            first, last, count = stretches[-1]
            stretches[-1] = (first, max(last, end), count + 1)
        else:
            stretches.append((offset, end, 1))
    return stretches


def _faces(row: Row, bin_s: float, span: float) -> list[int]:
    """Faces first seen along the row, added up into one bar per BAR_PX pixels."""
    bars = max(int((PLOT_RIGHT - PLOT_LEFT) / BAR_PX), 1)
    counts = [0] * bars
    for video, offset in row.videos:
        for index, count in enumerate(video.get("faces_seen_by_bin") or []):
            if count:
                at = min(int((offset + index * bin_s) / span * bars), bars - 1)
                counts[at] += int(count)
    return counts


def _lanes(row: Row, x_of: Any) -> list[list[tuple[Marker, float, float, float]]]:
    """The row's findings in lanes: each in the first lane where neither its bar nor its
    id overlaps another's, so every one shows."""
    lanes: list[list[tuple[Marker, float, float, float]]] = []
    ends: list[float] = []
    placed = sorted(row.markers, key=lambda item: (item[1] + item[0].first_seen_s, item[0].finding_id))
    for marker, offset in placed:
        x0 = x_of(offset + marker.first_seen_s)
        x1 = max(x_of(offset + marker.last_seen_s), x0 + 4)
        text_x = min(x0, PLOT_RIGHT - _text_width(marker.finding_id, ID_PX))
        left = min(x0, text_x)
        right = max(x1, text_x + _text_width(marker.finding_id, ID_PX))
        lane = next((index for index, end in enumerate(ends) if end + 4 <= left), len(lanes))
        if lane == len(lanes):
            lanes.append([])
            ends.append(0.0)
        lanes[lane].append((marker, x0, x1, text_x))
        ends[lane] = right
    return lanes


def _moment(origin: datetime | None, seconds: float) -> str:
    """A point on the axis as a person reads it: a wall-clock time, or a time into the file."""
    if origin is None:
        return clock(seconds)
    return (origin + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _ticks(span: float, origin: datetime | None) -> Iterable[tuple[float, str]]:
    step = next((s for s in TICK_STEPS_S if span / s <= MOST_TICKS), TICK_STEPS_S[-1])
    if origin is None:
        for index in range(int(span // step) + 1):
            yield index * step, clock(index * step)
        return
    # Ticks on round wall-clock times: 14:00:00, 14:00:05 ...
    first = math.ceil(origin.timestamp() / step) * step - origin.timestamp()
    days = (origin + timedelta(seconds=span)).date() != origin.date()
    shown = "%m-%d %H:%M" if days else "%H:%M" if step >= 60 else "%H:%M:%S"
    seconds = first
    while seconds <= span + 1e-6:
        yield seconds, (origin + timedelta(seconds=seconds)).strftime(shown)
        seconds += step


def clock(seconds: float) -> str:
    """A time into a video as h:mm:ss or m:ss."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def png(drawing: Drawing, scale: float = 2.0) -> bytes:
    """The same drawing as a PNG (matplotlib, as the DET curve), ``scale`` pixels per pixel."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    dpi = 100 * scale
    figure = Figure(figsize=(drawing.width / 100, drawing.height / 100), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, drawing.width)
    axes.set_ylim(drawing.height, 0)
    axes.axis("off")
    for box in drawing.boxes:
        axes.add_patch(Rectangle((box.x, box.y), box.width, box.height, facecolor=box.fill, linewidth=0))
    for bars in drawing.bars:
        for x, y, width, height in bars.rects:
            axes.add_patch(Rectangle((x, y), width, height, facecolor=bars.fill, linewidth=0))
    for line in drawing.lines:
        axes.plot([line.x1, line.x2], [line.y1, line.y2], color=AXIS_COLOUR, linewidth=0.8)
    for text in drawing.texts:
        axes.text(
            text.x,
            text.y,
            text.text,
            fontsize=text.size * 72 / 100,  # pixels at 100 per inch, in points
            ha={"start": "left", "middle": "center", "end": "right"}[text.anchor],
            va="baseline",
            color=TEXT_COLOUR,
            fontweight="bold" if text.bold else "normal",
        )
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        # matplotlib warns, past -q, of each character its font lacks (names in other scripts).
        warnings.simplefilter("always")
        figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if any("missing from font" in str(warning.message) for warning in caught):
        logger.warning(
            "timeline.png shows some characters of the video names as boxes (its font lacks them); "
            "the HTML report shows them as they are"
        )
    return buffer.getvalue()
