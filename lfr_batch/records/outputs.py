"""A folder's reports are outputs: written from its state, never read back as data.

People open ``alerts.csv`` in a spreadsheet, type reviews into it and save it over
the original, in whatever delimiter and encoding their spreadsheet uses. Reading
that back would make a hand-edited file a second source of truth, and one saved
with ``;`` or in Windows-1252 either lost its reviews silently or stopped every
later command. So the state is the only source of truth, and a report that is no
longer what lfr-batch last wrote there is never overwritten silently: before the
reports are rewritten it is kept beside them under a new name, with a warning that
points to ``review --import``, which checks and records the reviews typed into it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from lfr_batch.files import file_sha256, protect, write_atomic
from lfr_batch.records.state import DeploymentState

logger = logging.getLogger(__name__)

# The reports a reviewer types into. Written by a version that recorded no hashes, one
# of these is kept aside once, as it may hold reviews that version read back.
LISTINGS = ("alerts.csv", "candidates.csv")
EDITED = ".edited-"  # in the name of a copy kept aside


def edited_copies(folder: Path) -> list[Path]:
    """The hand-edited copies of reports kept in a folder."""
    return sorted(path for path in folder.glob(f"*{EDITED}*") if path.is_file())


def write_outputs(state: DeploymentState, files: list[tuple[Path, bytes]]) -> None:
    """Write a folder's reports, in order, each atomically; any that was edited by hand
    since it was written is kept aside first."""
    written = state.output_hashes()
    for path, _data in files:
        _keep_if_edited(state, path, written.get(path.name))
    fresh = {path.name: hashlib.sha256(data).hexdigest() for path, data in files}
    # Recorded before the files are written: a kill in between leaves files whose hash
    # is the one before, which is kept too.
    state.save_output_hashes(
        {**written, **{name: [*written.get(name, [])[-1:], digest] for name, digest in fresh.items()}}
    )
    for path, data in files:
        write_atomic(path, data)


def taken_in(state: DeploymentState, path: Path) -> None:
    """A report of the folder that reviews were just imported from, in place: it is
    written afresh like one of ours, not kept aside with a word to import it again."""
    written = state.output_hashes()
    if path.resolve().parent != state.deployment_dir.resolve() or path.name not in written:
        return
    state.save_output_hashes({**written, path.name: [*written[path.name][-1:], file_sha256(path)]})


def _keep_if_edited(state: DeploymentState, path: Path, hashes: list[str] | None) -> None:
    if not path.is_file():
        return
    if hashes is None and path.name not in LISTINGS:
        return  # a report of an earlier version, which nobody types into
    if hashes is not None and file_sha256(path) in hashes:
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = path.with_name(f"{path.stem}{EDITED}{stamp}{path.suffix}")
    number = 1
    while kept.exists():
        number += 1
        kept = path.with_name(f"{path.stem}{EDITED}{stamp}-{number}{path.suffix}")
    os.replace(path, kept)
    protect(kept)
    if path.name in LISTINGS:
        remedy = (
            f"to record the reviews typed into it: lfr-batch review {state.deployment_dir} --import {kept}"
        )
    else:
        remedy = "the report is written afresh from the folder's records"
    logger.warning("%s was changed since lfr-batch wrote it: kept as %s; %s", path, kept.name, remedy)
