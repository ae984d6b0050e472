"""The exceptions lfr-batch raises; the CLI maps each to one line and an exit code."""

from collections.abc import Sequence


def one_line(error: BaseException | str) -> str:
    """An exception's message (or a text) on one line (native libraries' messages span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def first_of(names: Sequence[str], shown: int = 10) -> str:
    """Names for one line of a message: the first ``shown`` of them, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


class LfrBatchError(Exception):
    """Base of every error that ends a command with a one-line message."""

    exit_code = 1


class ConfigError(LfrBatchError):
    """A bad option or combination of options."""

    exit_code = 2


class ModelError(LfrBatchError):
    """The dlib model files cannot be found or loaded."""


class WatchlistError(LfrBatchError):
    """A watchlist (or its source folder) is missing, malformed or refused."""


class VideoError(LfrBatchError):
    """A video cannot be opened or decoded; in a batch it is recorded and skipped."""


class ReportError(LfrBatchError):
    """A report cannot be written, or would overwrite reports that exist."""


class ReviewError(LfrBatchError):
    """A review answer, an imported row or a deployment to review is not acceptable."""


class AuditError(LfrBatchError):
    """The audit log's hash chain is broken: a line was edited, removed or moved."""


class NothingScannedError(LfrBatchError):
    """No input could be scanned: no video found, or none that could be read. A
    deployment (or case) that did not exist before is not created."""

    exit_code = 4


class SearchError(LfrBatchError):
    """A probe photo cannot be used: unreadable, no face, or more than one."""
