"""Times at the file boundary: the one place text becomes a ``datetime`` and back.

Records hold ``datetime`` objects; JSON, CSV and HTML hold ISO 8601 text. The one
rule for a time without a zone (a recorder's file name, a ``--start`` given
without one): it is the local time of the machine lfr-batch runs on, and it is
shown as it was given.

Every time the tool accepts or derives lies in one range, :data:`EARLIEST` to
:data:`LATEST`: wide enough for any footage, expiry or retention period, and far
enough inside Python's own (years 1 to 9999) that adding a video's length, a time
zone or a retention period to it can never overflow.
"""

from __future__ import annotations

import re
from datetime import datetime

# 20261126T140000, 2026-11-26_14-00-00, 20261126-140000 …: how recorders name exports.
FILENAME_TIMESTAMP = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[T _-]?(\d{2})[-:.h]?(\d{2})[-:.m]?(\d{2})")
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(2999, 12, 31, 23, 59, 59)
RANGE_TEXT = f"between {EARLIEST.year} and {LATEST.year}"


class TimeRangeError(ValueError):
    """A time outside :data:`EARLIEST` … :data:`LATEST`; the message says which."""


def in_range(moment: datetime) -> bool:
    """Whether the wall-clock time (whatever its zone) lies in the tool's range."""
    return EARLIEST <= moment.replace(tzinfo=None) <= LATEST


def bounded(moment: datetime, what: str = "time") -> datetime:
    """``moment``, if it lies in the tool's range."""
    if not in_range(moment):
        raise TimeRangeError(f"{what} {moment.isoformat()} is not {RANGE_TEXT}")
    return moment


def iso(moment: datetime | None) -> str:
    """ISO 8601 text, to the millisecond where there is one; empty for an unknown time."""
    return (
        ""
        if moment is None
        else moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    )


def parse_time(text: str | None) -> datetime | None:
    """A stored ISO 8601 time in the tool's range; None for an empty one. A malformed
    one, or one out of range, raises ValueError, which the reader of that file reports."""
    return bounded(datetime.fromisoformat(text)) if text else None


def comparable(moment: datetime) -> datetime:
    """A time that can be compared with any other, by the rule for times without a zone."""
    return moment if moment.tzinfo else moment.astimezone()
