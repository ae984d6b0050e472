"""Times at the file boundary: the one place text becomes a ``datetime`` and back.

Records hold ``datetime`` objects; JSON, CSV and HTML hold ISO 8601 text. The one
rule for a time without a zone (a recorder's file name, a ``--start`` given
without one): it is the local time of the machine lfr-batch runs on, and it is
shown as it was given.
"""

from __future__ import annotations

import re
from datetime import datetime

# 20261126T140000, 2026-11-26_14-00-00, 20261126-140000 …: how recorders name exports.
FILENAME_TIMESTAMP = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[T _-]?(\d{2})[-:.h]?(\d{2})[-:.m]?(\d{2})")


def iso(moment: datetime | None) -> str:
    """ISO 8601 text, to the millisecond where there is one; empty for an unknown time."""
    return (
        ""
        if moment is None
        else moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    )


def parse_time(text: str | None) -> datetime | None:
    """A stored ISO 8601 time; None for an empty one. A malformed one raises ValueError,
    which the reader of that file reports."""
    return datetime.fromisoformat(text) if text else None


def comparable(moment: datetime) -> datetime:
    """A time that can be compared with any other, by the rule for times without a zone."""
    return moment if moment.tzinfo else moment.astimezone()
