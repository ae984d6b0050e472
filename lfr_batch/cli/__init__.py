"""The ``lfr-batch`` command: parse options, build a config, call the library.

One module per command group, each registering its commands on the group in
:mod:`.group`; what they share (option types, progress bars, how counts are shown)
is in :mod:`.common`. Only the commands that scan (``scan``, ``search``,
``watchlist build`` and ``info``) import the vision stack, inside the command, so
``grid``, ``purge``, ``audit`` and ``review`` start without OpenCV or dlib.
"""

# Each command module adds its commands to the group as it is imported.
from lfr_batch.cli import evaluate, grid, retention, review, scan, search, watchlist  # noqa: F401
from lfr_batch.cli.group import EXIT_INCOMPLETE, cli, entry_point, main, show_flag_defaults

show_flag_defaults(cli)

__all__ = ["EXIT_INCOMPLETE", "cli", "entry_point", "main"]
