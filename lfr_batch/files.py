"""File helpers: reading only regular files of a bounded size, atomic writes (a crash or
kill never leaves half a file), owner-only permissions, and content hashes.

Everything lfr-batch writes holds personal data (face crops, the biometric templates of
everyone on a watchlist, who was seen where), so it is made readable by its owner alone
(folders 0700, files 0600), whatever the umask. ``$LFR_BATCH_GROUP`` (or ``lfr-batch
--group``) names one group to share it with instead: folders 0750, files 0640, that
group's. Writing stays the owner's.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lfr_batch.errors import ConfigError

logger = logging.getLogger(__name__)

SHARE_GROUP_ENV = "LFR_BATCH_GROUP"
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600
SHARED_FOLDER, SHARED_FILE = 0o750, 0o640


class RefusedFileError(OSError):
    """A file that is not read: not a regular file, too large, not there, or not what it
    should hold. The message names the file (``what`` and ``path``) and the ``reason``,
    with what to do; each reader turns it into its own error (callers that catch
    OSError catch it too)."""

    def __init__(self, what: str, path: Path, reason: str) -> None:
        super().__init__(f"{what} {path} {reason}")
        self.reason = reason


def share_group() -> int | None:
    """The group given ``$LFR_BATCH_GROUP``, by name or number; None: owner only."""
    name = os.environ.get(SHARE_GROUP_ENV, "").strip()
    if not name:
        return None
    try:
        group = int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(
            f"group {name!r} (--group or ${SHARE_GROUP_ENV}) does not exist on this machine"
        ) from None
    if os.geteuid() != 0 and group != os.getegid() and group not in os.getgroups():
        raise ConfigError(
            f"group {name!r} (--group or ${SHARE_GROUP_ENV}): you are not a member, so cannot share with it"
        )
    return group


def protect(path: Path, folder: bool = False) -> None:
    """Owner-only (or the share group's to read), whatever the umask made it; a file
    another user owns (a group member reading a shared folder) is left as it is."""
    if path.stat().st_uid != os.geteuid():
        return
    group = share_group()
    if group is None:
        os.chmod(path, PRIVATE_FOLDER if folder else PRIVATE_FILE)
        return
    os.chown(path, -1, group)
    os.chmod(path, SHARED_FOLDER if folder else SHARED_FILE)


def make_folder(path: Path) -> None:
    """Create ``path`` and any missing parents, each created one owner-only; folders that
    exist are left as they are."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_FOLDER)
            protect(folder, folder=True)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))


def readable_by_others(path: Path) -> bool:
    """Whether users outside the owner and the share group may read ``path``."""
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def warn_if_readable_by_others(path: Path, what: str) -> None:
    if readable_by_others(path):
        logger.warning(
            "%s %s is readable by every user of this machine (mode %o): run chmod o-rwx %s, or "
            "share it with one group (%s)",
            what,
            path,
            stat.S_IMODE(path.stat().st_mode),
            path,
            SHARE_GROUP_ENV,
        )


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    ``os.replace``; the file is owner-only (see :func:`protect`). A process killed
    mid-write leaves that hidden temporary file, ``.NAME.XXXXXXXX.tmp``, and nothing
    else (:meth:`lfr_batch.records.folder.DeploymentFolder.lock` clears them away)."""
    make_folder(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        protect(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _refusal(path: Path, what: str, error: OSError) -> RefusedFileError:
    if error.errno == errno.ELOOP:
        return RefusedFileError(what, path, "is a link that leads round in a loop")
    if error.errno == errno.ENOENT:
        nowhere = path.is_symlink()
        return RefusedFileError(what, path, "is a link that leads nowhere" if nowhere else "not found")
    if error.errno == errno.EACCES:
        return RefusedFileError(what, path, "cannot be read: permission denied")
    return RefusedFileError(what, path, f"cannot be read: {error.strerror or error}")


@contextlib.contextmanager
def open_regular(path: Path, what: str, limit: int | None = None) -> Iterator[BinaryIO]:
    """``path`` opened for reading, if it is a regular file of at most ``limit`` bytes.

    Opened without blocking and checked on the open handle, so a named pipe (which
    would wait for ever for a writer), a device (``/dev/zero`` never ends) or a folder
    is refused in one line, and nothing can swap the file between the check and the
    read. ``what`` names the file in the message ("config file", "photo")."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise _refusal(path, what, error) from None
    handle = os.fdopen(descriptor, "rb")
    with handle:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise RefusedFileError(what, path, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFileError(
                what, path, "is not a regular file (a pipe, socket or device): give a file"
            )
        if limit is not None and info.st_size > limit:
            raise RefusedFileError(
                what, path, f"holds {info.st_size:,} bytes, more than the {limit:,} it may have"
            )
        os.set_blocking(descriptor, True)
        yield handle


def read_regular(path: Path, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path, what, limit) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(size + 1)  # as much as the file holds: a limit's worth is never set aside
    if len(data) > size:
        raise RefusedFileError(what, path, "grew while it was read: run this again once it is complete")
    return data


def file_sha256(path: Path) -> str:
    """The SHA-256 of a regular file's content, read in blocks (videos can be many GB)."""
    with open_regular(path, "file") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_utf8_text(text: str) -> bool:
    """Whether the text can be written as UTF-8: it cannot where it holds a lone
    surrogate, which is how Python carries bytes of a name in another encoding."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_utf8_name(path: Path) -> bool:
    """Whether the path's bytes decode as UTF-8: this OpenCV build crashes the process
    (a segmentation fault, not an error) on a name that does not, and the reports and
    the state could not hold it either."""
    return is_utf8_text(str(path))


def shown_name(path: Path) -> str:
    """The path as it can be printed and logged, its undecodable bytes as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
