"""One table of the scan's and search's tunable options: name, type, default,
range and help.

The table drives the command line (:mod:`lfr_batch.cli` builds each click
option from its row), the TOML config (a ``[scan]`` key is an option's long
name, and it goes through the same click option) and the library's validation
(:meth:`lfr_batch.scan.ScanConfig.validate` and
:meth:`lfr_batch.search.SearchConfig.validate` check each value against its
row), so the three cannot disagree. Every numeric row has finite bounds, so no value
a user can give overflows what it feeds (a segment length in frames, an age in
hours); NaN and infinity are refused everywhere, and a whole-number row refuses a
fraction, as a number row refuses true or false, wherever the value comes from.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lfr_batch.errors import ConfigError
from lfr_batch.vision import DETECTORS
from lfr_batch.vision.calibration import DEFAULT_MAX_FALSE_ALERT_RATE

MAX_WORKERS = 1024
# Where --scheduler is also read from.
SCHEDULER_ENV = "LFR_BATCH_SCHEDULER"


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(max(cores, 1), MAX_WORKERS)


def _shown(bound: float) -> str:
    """A bound as the help and errors write it: 86400, 0.1, 1e-09."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def is_auto(value: Any) -> bool:
    """The word auto, however written: a row's ``auto`` value as a person gives it."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def _is_number_text(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


@dataclass(frozen=True)
class Option:
    name: str  # the config field
    flag: str  # the long option, and (without its dashes) the TOML key
    kind: type  # int, float or str
    default: Any  # a value (None: not given), or a function giving one (shown as ``shown_default``)
    help: str
    minimum: float | None = None
    maximum: float | None = None
    open_minimum: bool = False  # the minimum itself is refused
    open_maximum: bool = False
    choices: tuple[str, ...] = ()
    shown_default: str = ""
    auto: bool = False  # also the word auto, given as None: the library decides

    @property
    def value(self) -> Any:
        """The default value itself."""
        return self.default() if callable(self.default) else self.default

    @property
    def allowed(self) -> str:
        """The range in words, as the help and the error say it."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        whole = "a whole number" if self.kind is int else "a number"
        if self.auto:
            whole = f"'auto' or {whole}"
        if self.minimum is None or self.maximum is None:
            return whole
        low, high = _shown(self.minimum), _shown(self.maximum)
        if self.open_minimum and self.open_maximum:
            return f"{whole} between {low} and {high}"
        if not self.open_minimum and not self.open_maximum:
            return f"{whole} from {low} to {high}"
        if self.open_minimum:
            return f"{whole} over {low} and at most {high}"
        return f"{whole} of at least {low} and under {high}"

    def check_type(self, value: Any) -> None:
        """Refuse a value of the wrong kind (1.5 for a whole number, true for a number),
        before anything converts it, in one line."""
        if self.choices:
            fits = isinstance(value, str)
        elif self.auto and isinstance(value, str):
            # A config file may quote it: "auto", or a number as text, as --threshold takes it.
            fits = is_auto(value) or _is_number_text(value)
        elif self.kind is int:
            fits = type(value) is int
        else:
            fits = type(value) in (int, float)
        if not fits:
            raise ConfigError(f"{self.flag} {value!r} must be {self.allowed}")

    def check(self, value: Any) -> None:
        """Refuse a value outside the row's type and range, in one line."""
        if value is None and (self.auto or self.default is None):
            return
        self.check_type(value)
        if isinstance(value, str) and not self.choices:  # text is converted before the library sees it
            raise ConfigError(f"{self.flag} {value!r} must be {self.allowed}")
        if self.choices:
            if value not in self.choices:
                raise ConfigError(f"{self.flag} {value!r} must be {self.allowed}")
            return
        if not math.isfinite(value):
            raise ConfigError(f"{self.flag} {value!r} must be {self.allowed}")
        too_low = self.minimum is not None and (
            value <= self.minimum if self.open_minimum else value < self.minimum
        )
        too_high = self.maximum is not None and (
            value >= self.maximum if self.open_maximum else value > self.maximum
        )
        if too_low or too_high:
            raise ConfigError(f"{self.flag} {value!r} must be {self.allowed}")


# A walking person (about 1.4 m/s) crosses a CCTV view in a few seconds and faces the
# camera for about one of them; 5 samples a second give several looks in that second.
DEFAULT_SAMPLE_FPS = 5.0
DEFAULT_UPSAMPLE = 1
# The range --segment-seconds once had; it is still checked, though no longer used.
MIN_SEGMENT_SECONDS = 10.0
MAX_SEGMENT_SECONDS = 86_400.0  # a day: one segment of any recording there is
MAX_SAMPLE_FPS = 1000.0  # beyond any camera: every frame is analysed
MAX_WATCHLIST_AGE_H = 1_000_000.0  # a century: as good as never stale
MIN_FALSE_RATE = 1e-9
# Published LFR policy: a watchlist is compiled afresh for each deployment, within 24 hours.
DEFAULT_WATCHLIST_MAX_AGE_H = 24.0
# A reviewer reads every candidate and nobody is stopped on one, so a search's list may
# hold more false candidates than a live alert may: one in 1,000 faces seen, not 10,000.
DEFAULT_MAX_FALSE_CANDIDATE_RATE = 1e-3
DEFAULT_TOP = 50
DEFAULT_BELOW = 5
# How far below the cut a search's list may look: dlib's own cut for telling two photos
# apart. Nearer than this a face is kept (in memory) until the list is ranked; further, never.
LOOK_FURTHER = 0.6

_ROWS = (
    Option(
        "threshold",
        "--threshold",
        float,
        None,
        "Largest distance between a face's encodings (the mean over its track) and a subject's "
        "that counts as a match, the same for every subject; lower is stricter. 'auto': a cut per "
        "subject, calibrated on the faces this run sees, so that the list as a whole alerts on at "
        "most --max-false-alert-rate of strangers' faces.",
        0,
        2,
        open_minimum=True,
        open_maximum=True,
        shown_default="auto",
        auto=True,
    ),
    Option(
        "max_false_alert_rate",
        "--max-false-alert-rate",
        float,
        DEFAULT_MAX_FALSE_ALERT_RATE,
        "False alerts per face seen that --threshold auto allows (0.0001: one in 10,000).",
        # Rarer than one in a billion puts the auto threshold of a long list at or below 0.
        MIN_FALSE_RATE,
        1,
        open_maximum=True,
    ),
    Option(
        "sample_fps",
        "--fps",
        float,
        DEFAULT_SAMPLE_FPS,
        "Frames analysed per second of video (every frame if the video has fewer).",
        0,
        MAX_SAMPLE_FPS,
        open_minimum=True,
    ),
    Option(
        "upsample",
        "--upsample",
        int,
        DEFAULT_UPSAMPLE,
        "Times the frame is doubled before detection: 0 finds faces from ~80 px, "
        "1 from ~40 px, 2 from ~20 px; each step costs about 4x.",
        0,
        3,
    ),
    Option(
        "detector",
        "--detector",
        str,
        # BlazeFace: 4-5 times HOG's speed on busy footage, turned heads and small faces
        # found, the same alerts elsewhere (README, Performance and Accuracy).
        "blazeface",
        "Face detector: blazeface (MediaPipe's CNNs, bundled: full-range for new faces, "
        "short-range for tracked ones; turned heads and faces from ~24 px), hog (dlib: "
        "frontal faces only) or cnn (dlib's "
        "MMOD CNN: very slow without a GPU). Landmarks and encodings are dlib's whichever is "
        "chosen.",
        choices=DETECTORS,
    ),
    Option(
        "workers",
        "--workers",
        int,
        default_workers,
        "Local worker processes; each file is cut into segments by its own length alone (up "
        "to 8 of at least 7.5 s, more where a piece would pass 30 s), so one file keeps "
        "several busy.",
        1,
        MAX_WORKERS,
        shown_default="one per CPU core",
    ),
    Option(
        "segment_seconds",
        "--segment-seconds",
        float,
        None,
        "No longer used, and ignored with a warning, so that older scripts and config files "
        "still run: each file is now cut by its own length alone (see --workers), so that how "
        "the work is split never changes a face's views or distance.",
        MIN_SEGMENT_SECONDS,
        MAX_SEGMENT_SECONDS,
        shown_default="ignored",
    ),
    Option(
        "watchlist_max_age_h",
        "--watchlist-max-age",
        float,
        DEFAULT_WATCHLIST_MAX_AGE_H,
        "Hours after which the watchlist counts as stale and a warning is given.",
        0,
        MAX_WATCHLIST_AGE_H,
        open_minimum=True,
    ),
    Option(
        "top",
        "--top",
        int,
        DEFAULT_TOP,
        "Most candidates listed (and kept: the evidence of any ranked lower is deleted).",
        1,
        10_000,
    ),
    Option(
        "below",
        "--below",
        int,
        DEFAULT_BELOW,
        f"Candidates listed beneath the cut (the nearest, within {LOOK_FURTHER}), to show where "
        "the evidence thins out.",
        0,
        100,
    ),
    Option(
        "max_false_candidate_rate",
        "--max-false-candidate-rate",
        float,
        DEFAULT_MAX_FALSE_CANDIDATE_RATE,
        "False candidates per face seen that the cut allows (0.001: one in 1,000), calibrated as "
        "scan's --threshold auto is.",
        MIN_FALSE_RATE,
        0.1,
        open_maximum=True,
    ),
)
OPTIONS: dict[str, Option] = {row.name: row for row in _ROWS}


def check_all(config: Any, names: tuple[str, ...]) -> None:
    """Check the named fields of a config against their rows."""
    for name in names:
        OPTIONS[name].check(getattr(config, name))


def on_value(name: str) -> Callable[[], Any]:
    """A dataclass default factory for a row's default."""
    return lambda: OPTIONS[name].value
