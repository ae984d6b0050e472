"""``OUT/NAME/``: one deployment's folder (or one search case's), and the one object
that knows what lies where in it.

::

    OUT/NAME/
      .lfr-batch.lock         held by every command that changes the folder
      .lfr-batch/             the state (lfr_batch.records.state): state.sqlite
                              (settings, per-video records, reviews), and a
                              case's probe.lfrlist
      snapshots/              one crop per alert or listed candidate
      a deployment's:         alerts.csv, alerts.xlsx, deployment.csv, videos.csv,
                              report.html, watchlist_photos/, distances.csv,
                              evaluation.csv, det.png
      a case's:               candidates.csv, candidates.xlsx, videos.csv,
                              case.html, probe/

Every module reads and writes these through a :class:`DeploymentFolder`, so the
layout is written down once, here.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lfr_batch.errors import ConfigError, ReportError
from lfr_batch.files import make_folder, protect

logger = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# Letters of any script (Ærø, Łódź), digits, spaces, '.', '_' and '-': a folder name on
# every system, with no path separator or control character. It ends in neither a space
# nor a '.', which Windows drops and a spreadsheet's trimmed copy would lose.
_FOLDER_NAME = re.compile(r"[^\W_](?:[\w. -]{0,126}[\w-])?")
MAX_FOLDER_NAME = 128
MAX_FOLDER_NAME_BYTES = 255  # what Linux, macOS and Windows file systems take
# What lfr-batch writes directly under OUT itself: never a deployment's or case's name.
AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
RESERVED_NAMES = (AUDIT_FILE, HEAD_FILE)
# What write_atomic leaves of a file when its writer is killed: '.', the file's name, '.',
# mkstemp's eight random characters (lower case, digits, '_'), '.tmp'.
_UNFINISHED_WRITE = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
# Where a record's evidence may lie: one JPEG in one of the folder's evidence folders.
_EVIDENCE = re.compile(r"(?:snapshots|watchlist_photos|probe)/[^/\\\x00]+\.jpg")


def check_folder_name(name: str, noun: str) -> None:
    """Refuse a deployment or case name that could not be its own folder under OUT."""
    if name.casefold() in (reserved.casefold() for reserved in RESERVED_NAMES):
        raise ConfigError(
            f"{noun} name {name!r} is reserved: lfr-batch keeps its audit log in OUT/{name}; choose another"
        )
    if len(name) > MAX_FOLDER_NAME:
        raise ConfigError(f"{noun} name of {len(name):,} characters is longer than {MAX_FOLDER_NAME}")
    if len(name.encode("utf-8")) > MAX_FOLDER_NAME_BYTES:
        raise ConfigError(
            f"{noun} name {name!r} takes {len(name.encode('utf-8'))} bytes in UTF-8, more than a folder "
            f"name may ({MAX_FOLDER_NAME_BYTES}): shorten it"
        )
    if ".." in name:
        raise ConfigError(f"{noun} name {name!r} holds '..', which a path reads as the folder above")
    if not _FOLDER_NAME.fullmatch(name):
        raise ConfigError(
            f"{noun} name {name!r} must start with a letter or digit, end with a letter, digit or '_' "
            "or '-', and use only letters (of any alphabet), digits, spaces, '.', '_' and '-' "
            "(it names a folder)"
        )


@dataclass(frozen=True)
class DeploymentFolder:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    # --- the state ---------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / ".lfr-batch"

    @property
    def store(self) -> Path:
        """The SQLite file holding settings, per-video records and reviews."""
        return self.state_dir / "state.sqlite"

    # Where versions before the SQLite store kept the state (read once, to move it).
    @property
    def legacy_settings(self) -> Path:
        return self.state_dir / "settings.json"

    @property
    def legacy_reviews(self) -> Path:
        return self.state_dir / "reviews.json"

    @property
    def legacy_records(self) -> Path:
        return self.state_dir / "videos"

    @property
    def holds_state(self) -> bool:
        """Whether the folder holds a state, readable or not (a store replaced by a folder or
        a link is a damaged state, to be named, not a folder to pass over)."""
        return self.store.exists() or self.store.is_symlink() or self.legacy_settings.is_file()

    @property
    def probe_list(self) -> Path:
        """A case's one-subject list of the person searched for, for every worker."""
        return self.state_dir / "probe.lfrlist"

    @property
    def lock_file(self) -> Path:
        # Beside the state folder, not in it: --overwrite deletes that folder, and a lock
        # file deleted while held would let a second process lock a new one.
        return self.root / ".lfr-batch.lock"

    # --- a deployment's reports ------------------------------------------------------
    @property
    def alerts_csv(self) -> Path:
        return self.root / "alerts.csv"

    @property
    def alerts_xlsx(self) -> Path:
        return self.root / "alerts.xlsx"

    @property
    def deployment_csv(self) -> Path:
        return self.root / "deployment.csv"

    @property
    def videos_csv(self) -> Path:
        return self.root / "videos.csv"

    @property
    def distances_csv(self) -> Path:
        return self.root / "distances.csv"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def evaluation_csv(self) -> Path:
        return self.root / "evaluation.csv"

    @property
    def det_figure(self) -> Path:
        return self.root / "det.png"

    @property
    def timeline_png(self) -> Path:
        """The sheet's timeline as a picture, for a briefing (report.html and case.html)."""
        return self.root / "timeline.png"

    # --- a case's reports ------------------------------------------------------------
    @property
    def candidates_csv(self) -> Path:
        return self.root / "candidates.csv"

    @property
    def candidates_xlsx(self) -> Path:
        return self.root / "candidates.xlsx"

    @property
    def case_html(self) -> Path:
        return self.root / "case.html"

    # --- evidence, named relative to the folder in the records -----------------------
    SNAPSHOTS = "snapshots"
    SUBJECT_PHOTOS = "watchlist_photos"
    PROBE_FACES = "probe"

    def snapshot(self, finding_id: str) -> str:
        return f"{self.SNAPSHOTS}/{finding_id}.jpg"

    def subject_photo(self, subject_id: str) -> str:
        """Readable, short, and never shared by two ids (``a b`` and ``a_b`` look alike
        once made safe; a 240-character id is too long for a file name)."""
        digest = hashlib.sha256(subject_id.encode("utf-8")).hexdigest()[:12]
        return f"{self.SUBJECT_PHOTOS}/{_SAFE_NAME.sub('_', subject_id)[:60]}-{digest}.jpg"

    def probe_face(self, index: int) -> str:
        return f"{self.PROBE_FACES}/probe-{index + 1}.jpg"

    def file(self, relative: str) -> Path:
        return self.root / relative

    def evidence(self, relative: str) -> Path | None:
        """The evidence file a record names, if it is one inside this folder: a record
        edited to name ``../../etc/passwd`` (or a link out of the folder) names nothing."""
        if not _EVIDENCE.fullmatch(relative):
            return None
        path = self.root / relative
        try:
            inside = path.resolve(strict=True).is_relative_to(self.root.resolve(strict=True))
        except (OSError, RuntimeError):
            return None
        return path if inside and path.is_file() else None

    @property
    def deployment_outputs(self) -> tuple[Path, ...]:
        """What a deployment's --overwrite removes besides the state."""
        return (
            self.root / self.SNAPSHOTS,
            self.root / self.SUBJECT_PHOTOS,
            self.alerts_csv,
            self.alerts_xlsx,
            self.videos_csv,
            self.deployment_csv,
            self.distances_csv,
            self.report_html,
            self.timeline_png,
        )

    @property
    def case_outputs(self) -> tuple[Path, ...]:
        """What a case's --overwrite removes besides the state."""
        return (
            self.root / self.SNAPSHOTS,
            self.root / self.PROBE_FACES,
            self.candidates_csv,
            self.candidates_xlsx,
            self.videos_csv,
            self.case_html,
            self.timeline_png,
        )

    @contextmanager
    def lock(self, command: str, wait: bool = False) -> Iterator[None]:
        """Hold the folder for one command that changes it; a second process is refused
        in one line naming the holder, or with ``wait`` waits for it. The kernel releases
        the lock when its holder exits, however it exits (kill -9 included), so no stale
        lock remains; what a killed holder was half-way through writing is cleared away
        once the lock is taken."""
        self._refuse_if_not_ours()
        make_folder(self.root)
        protect(self.root, folder=True)  # a folder made by an earlier version, under umask 022
        handle = self.lock_file.open("a+", encoding="utf-8")
        try:
            protect(self.lock_file)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = " ".join(handle.read().split())[:200] or "another process"
                raise ReportError(
                    f"deployment {self.name} is in use by {holder}; run this again once that has finished"
                ) from None
            handle.seek(0)
            handle.truncate()
            since = datetime.now(UTC).isoformat(timespec="seconds")
            handle.write(f"'{command}' (process {os.getpid()} on {socket.gethostname()}, since {since})")
            handle.flush()
            removed = self._remove_unfinished_writes()
            if removed:
                logger.warning(
                    "removed %d half-written file(s) that a command killed mid-write left in %s",
                    removed,
                    self.root,
                )
            yield
        finally:
            handle.close()

    def _refuse_if_not_ours(self) -> None:
        """A folder of the user's own (files, but no state, lock or report of ours) is not
        made a deployment: its files would sit beside ours and --overwrite's reach."""
        if not self.root.is_dir() or self.holds_state or self.lock_file.exists():
            return
        if any(path.exists() for path in (*self.deployment_outputs, *self.case_outputs)):
            return
        if any(self.root.iterdir()):
            raise ConfigError(
                f"{self.root} already holds files that are not a deployment's or a case's: "
                "give another name, or an empty folder"
            )

    def _remove_unfinished_writes(self) -> int:
        """Delete the temporary files that a command killed mid-write left: write_atomic's
        names for the files this folder holds (its reports, its state's probe list, its
        evidence), where it writes them, and nothing else."""
        written = {
            path.relative_to(self.root).as_posix()
            for path in (
                *self.deployment_outputs,
                *self.case_outputs,
                self.evaluation_csv,
                self.det_figure,
                self.probe_list,
            )
        }
        evidence = (self.root / name for name in (self.SNAPSHOTS, self.SUBJECT_PHOTOS, self.PROBE_FACES))
        removed = 0
        for folder in (self.root, self.state_dir, *evidence):
            if folder.is_symlink() or not folder.is_dir():
                continue
            for path in folder.glob(".*.tmp"):
                found = _UNFINISHED_WRITE.fullmatch(path.name)
                if not found or not path.is_file() or path.is_symlink():
                    continue
                target = (folder / found["name"]).relative_to(self.root).as_posix()
                if target in written or _EVIDENCE.fullmatch(target):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def folders_in(out_dir: Path) -> list[DeploymentFolder]:
    """The deployment and case folders directly under ``out_dir`` that hold a state."""
    if not out_dir.is_dir():
        return []
    found = (DeploymentFolder(path) for path in sorted(out_dir.iterdir()) if path.is_dir())
    return [folder for folder in found if folder.holds_state]


OWN_FILE = "is lfr-batch's own (a deployment's or a case's files, or an audit log)"


def written_by_lfr_batch(path: Path) -> bool:
    """Whether ``path`` is one of the files lfr-batch keeps, which a file of another
    command's making must not replace: anything inside a deployment's or a case's folder
    (a folder above it holds a state), or an audit log or its head, by name (one not
    yet written would be the first line of a log). A link that leads round in a loop
    raises OSError."""
    try:
        resolved = path.resolve()
    except RuntimeError as error:  # Python 3.11's word for a loop of links
        raise OSError(f"{path}: {error}") from None
    if resolved.name.casefold() in (name.casefold() for name in RESERVED_NAMES):
        return True
    return any(DeploymentFolder(folder).holds_state for folder in resolved.parents)
