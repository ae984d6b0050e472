"""``python -m lfr_batch`` runs the ``lfr-batch`` command."""

from lfr_batch.cli import entry_point

entry_point()
