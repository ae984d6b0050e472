"""The audit log: one line per command that reads or changes deployment data.

``OUT/audit.jsonl`` is append-only JSON Lines. Each line records the time,
user, host, command, the deployments it read or changed, inputs with their
content hashes, the watchlist hash, threshold, software version and counts, and
carries the hash of the line before it, so editing or removing a line breaks the
chain and :func:`verify` finds it. With ``$LFR_BATCH_KEY`` set, each line also
carries an HMAC of its hash, which nobody without the key can recompute, so a
forged line or a re-chained log is found too; and ``OUT/audit.head`` records the
number of lines and the last hash (with its own HMAC), so lines cut from the end
are found. Each deployment's state keeps the same two facts (signed too) as of
the last command that read or changed it, a purge or a grid included, so a log
cut short is found even with an old head put back.

A line written without the key stays unsigned; :func:`resign`, run with the key,
vouches for such lines in a signed line of its own (the log stays append-only),
so a keyless run does not leave the log failing for ever and the vouching is
itself on record.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import logging
import os
import socket
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from lfr_batch import __version__
from lfr_batch.errors import AuditError, ReportError
from lfr_batch.files import (
    file_sha256,
    make_folder,
    open_regular,
    protect,
    read_regular,
    warn_if_readable_by_others,
    write_atomic,
)
from lfr_batch.records.folder import AUDIT_FILE, HEAD_FILE, DeploymentFolder, folders_in
from lfr_batch.records.state import DeploymentState, UnrecordedChange, unrecorded_changes
from lfr_batch.signing import SIGNING_KEY_ENV, sign, signature_matches, signing_key
from lfr_batch.times import iso

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
RESIGN_COMMAND = "audit resign"
HEAD_LIMIT = 4096
UNSIGNED = (
    "written without the key (if it is yours, run 'lfr-batch audit resign' with the key to vouch for it)"
)


def line_hash(entry: dict[str, Any]) -> str:
    """The hash of a line: of its canonical JSON without its own hash and HMAC."""
    body = {key: value for key, value in entry.items() if key not in ("hash", "hmac")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def user_name() -> str:
    """Who runs the command, as the log and a review record them."""
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return str(os.getuid())


def _own_file(path: Path) -> None:
    """Refuse an audit file that is not a plain file of its own (a folder, a link, a pipe)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else "not a plain file"
        raise AuditError(
            f"{path} is {kind}, not the audit log lfr-batch writes: move it away and run this again "
            "(nothing was done)"
        )


def prepare(out_dir: Path) -> None:
    """Before a command reads or changes anything under ``out_dir``: the audit log and its
    head are files of their own that can take its line, so no command does its work and
    then fails to record it; and a warning if every user of the machine can look in the
    folder."""
    for name in (AUDIT_FILE, HEAD_FILE):
        _own_file(out_dir / name)
    if out_dir.is_dir():
        warn_if_readable_by_others(out_dir, "reports folder")


def _last_hash(path: Path) -> str:
    """The hash of the log's last line, read from the end (logs grow long)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        block = b""
        while position > 0 and block.count(b"\n") < 2:
            step = min(4096, position)
            position -= step
            handle.seek(position)
            block = handle.read(step) + block
    lines = [line for line in block.splitlines() if line.strip()]
    return _chain_hash(lines[-1].decode("utf-8", "replace")) if lines else GENESIS


def _parsed(text: str) -> dict[str, Any] | None:
    """A line as an audit entry (a table with a hash), or None for a torn or foreign line."""
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("hash"), str) else None


def _chain_hash(text: str) -> str:
    """What the next line links to: a line's own hash, or, for a line that is no audit
    entry (torn by a crash, or written by something else), the hash of its text, so the
    chain goes on past it and `audit verify` reports that one line."""
    entry = _parsed(text)
    return entry["hash"] if entry else hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def _sealed(lines: int, last_hash: str, key: bytes | None) -> dict[str, Any]:
    """A record of how long the log is and how it ends, signed with the key if one is set."""
    mark: dict[str, Any] = {"lines": lines, "hash": last_hash}
    if key:
        mark["hmac"] = sign(key, f"{lines}:{last_hash}".encode())
    return mark


def record(
    out_dir: Path,
    command: str,
    *,
    deployment: str = "",
    touched: Iterable[str] = (),
    inputs: Iterable[Path | tuple[str, str]] = (),
    watchlist_sha256: str = "",
    threshold: float | None = None,
    counts: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one line for a command; inputs are paths (hashed here) or (path, sha256).
    ``deployment`` is the folder the command ran on; ``touched`` names every other it
    read or changed (a purge's, a grid's), each of which records the line too."""
    make_folder(out_dir)
    for name in (AUDIT_FILE, HEAD_FILE):
        _own_file(out_dir / name)
    path = out_dir / AUDIT_FILE
    deployments = sorted({*touched, *([deployment] if deployment else [])})
    unrecorded = _unrecorded_changes(out_dir, deployments)
    fields: dict[str, Any] = {
        "user": user_name(),
        "host": socket.gethostname(),
        "command": command,
        "deployment": deployment,
        "inputs": _hashed(inputs),
        "watchlist_sha256": watchlist_sha256,
        "threshold": threshold,
        "software_version": __version__,
        "counts": counts or {},
        **({"deployments": deployments} if touched else {}),
        **(
            {
                "unrecorded_changes": [
                    {"deployment": name, "since": iso(change.since)}
                    for name, changes in unrecorded.items()
                    for change in changes
                ]
            }
            if unrecorded
            else {}
        ),
        **(extra or {}),
    }
    with path.open("a+b") as handle:
        # One writer at a time, so two commands never fork the chain.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            key = signing_key()
            entry = _append(handle, path, fields, key)
            # Counted, not incremented: a torn or foreign line counts as a line too.
            lines = sum(1 for _entry in _entries(path))
            mark = _sealed(lines, entry["hash"], key)
            write_atomic(out_dir / HEAD_FILE, json.dumps(mark, sort_keys=True).encode())
            for name in deployments:
                _mark_deployment(out_dir, name, mark, unrecorded.get(name, []))
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


def _unrecorded_changes(out_dir: Path, deployments: list[str]) -> dict[str, list[UnrecordedChange]]:
    """By deployment, the changes earlier commands made and wrote no line for (killed
    between their work and their line): this line puts them on record."""
    unrecorded: dict[str, list[UnrecordedChange]] = {}
    for name in deployments:
        folder = DeploymentFolder(out_dir / name)
        if not folder.holds_state:
            continue
        try:
            changes = unrecorded_changes(folder.store)
        except ReportError:
            continue  # a malformed mark is audit verify's to report
        if changes:
            logger.warning(
                "deployment %s was changed at %s by a command that ended without an audit line "
                "(killed?): this command's line records it",
                name,
                iso(changes[0].since),
            )
            unrecorded[name] = changes
    return unrecorded


def _hashed(inputs: Iterable[Path | tuple[str, str]]) -> list[dict[str, str]]:
    """Each input as the log names it: its path and its content's SHA-256."""
    return [
        {"path": str(item[0]), "sha256": item[1]}
        if isinstance(item, tuple)
        else {"path": str(item), "sha256": file_sha256(item) if item.is_file() else ""}
        for item in inputs
    ]


def _append(handle: BinaryIO, path: Path, fields: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """Write one line, chained to the last and signed where a key is set, to the locked
    log; a line torn by a crash is ended first, so ours starts afresh."""
    protect(path)
    handle.seek(0, os.SEEK_END)
    if handle.tell():
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) != b"\n":
            handle.write(b"\n")
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
        "previous": _last_hash(path) if path.stat().st_size else GENESIS,
    }
    entry["hash"] = line_hash(entry)
    if key:
        entry["hmac"] = sign(key, entry["hash"].encode())
    handle.write((json.dumps(entry, sort_keys=True) + "\n").encode())
    handle.flush()
    os.fsync(handle.fileno())
    return entry


def _read_head(out_dir: Path) -> dict[str, Any] | None:
    try:
        head = json.loads(read_regular(out_dir / HEAD_FILE, "audit head", HEAD_LIMIT))
    except (OSError, ValueError, RecursionError):
        return None
    return head if isinstance(head, dict) else None


def _mark_deployment(
    out_dir: Path, deployment: str, mark: dict[str, Any], recorded: list[UnrecordedChange]
) -> None:
    """Keep the log's length and end in the deployment's own state too: a log cut short
    and its head rewritten still disagree with every deployment it ran on."""
    folder = DeploymentFolder(out_dir / deployment)
    if not folder.holds_state:
        return
    try:
        DeploymentState(folder.root).save_audit_mark(mark, recorded)
    except ReportError as error:
        logger.warning("could not record the audit head in deployment %s: %s", deployment, error)


@dataclass
class Verification:
    lines: int
    problems: list[str]  # everything found, as 'audit verify' lists it
    # Of those, the ones only a missing signature causes, which 'audit resign' can vouch for;
    # and the hashes of the lines that lack one.
    unsigned: list[str] = field(default_factory=list)
    unsigned_lines: list[str] = field(default_factory=list)


def _entries(path: Path) -> Iterator[tuple[int, str]]:
    with open_regular(path, "audit log") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, raw.decode("utf-8", "replace")


def verify(out_dir: Path, key: bytes | None = None) -> Verification:
    """Check every line's hash and its link to the line before; with ``key``, every
    line's HMAC (or a later signed 'audit resign' line vouching for it), the recorded
    head and each deployment's record of the log."""
    path = out_dir / AUDIT_FILE
    _own_file(path)
    if not path.is_file():
        raise AuditError(f"no audit log at {path}")
    result = Verification(0, [])
    previous = GENESIS
    hashes: list[str] = []
    unsigned: list[tuple[int, str]] = []
    vouched: set[str] = set()
    for number, text in _entries(path):
        result.lines += 1
        entry = _parsed(text)
        if entry is None:
            result.problems.append(f"line {number}: not an audit entry (torn or foreign)")
            previous = _chain_hash(text)
            hashes.append(previous)
            continue
        stated = entry["hash"]
        hashes.append(stated)
        signed = "hmac" in entry
        if key and signed and not signature_matches(key, stated.encode(), str(entry["hmac"])):
            result.problems.append(
                f"line {number}: its HMAC does not match (forged, or signed with another key)"
            )
        elif key and not signed:
            unsigned.append((number, stated))
        edited = line_hash(entry) != stated
        if edited:
            result.problems.append(f"line {number}: edited (its content does not match its hash)")
        if entry.get("previous") != previous:
            result.problems.append(
                f"line {number}: does not follow the line before it (a line was removed, added or moved)"
            )
        listed = entry.get("vouched")
        if (
            key
            and signed
            and not edited
            and entry.get("command") == RESIGN_COMMAND
            and isinstance(listed, list)
        ):
            vouched.update(str(line) for line in listed)
        previous = stated
    for number, stated in unsigned:
        if stated not in vouched:
            _unsigned(result, f"line {number}: {UNSIGNED}", stated)
    _check_head(result, out_dir, hashes, key)
    _check_deployment_marks(result, out_dir, hashes, key)
    return result


def _unsigned(result: Verification, problem: str, line: str = "") -> None:
    result.problems.append(problem)
    result.unsigned.append(problem)
    if line:
        result.unsigned_lines.append(line)


def _check_signature(result: Verification, mark: dict[str, Any], source: str, key: bytes | None) -> None:
    if not key:
        return
    if "hmac" not in mark:
        _unsigned(result, f"{source}: {UNSIGNED}")
    elif not signature_matches(key, f"{mark['lines']}:{mark['hash']}".encode(), str(mark["hmac"])):
        result.problems.append(f"{source}: its HMAC does not match (forged, or signed with another key)")


def _check_head(result: Verification, out_dir: Path, hashes: list[str], key: bytes | None) -> None:
    head_path = out_dir / HEAD_FILE
    if not head_path.exists() and not head_path.is_symlink():
        # Every line has been written with the head beside it: without it, lines cut
        # from the end are found only where a deployment's state remembers them.
        if hashes:
            result.problems.append(
                f"{head_path} is missing: lines cut from the end of the log would go unseen"
            )
        return
    head = _read_head(out_dir)
    if head is None or not isinstance(head.get("lines"), int) or not isinstance(head.get("hash"), str):
        result.problems.append(f"{head_path} is not an audit head")
        return
    _check_signature(result, head, str(head_path), key)
    result.problems.extend(_against(hashes, head["lines"], head["hash"], "the head"))


def _against(hashes: list[str], lines: int, last: str, source: str) -> list[str]:
    """Whether the log still holds the line ``source`` records as its ``lines``-th."""
    if len(hashes) < lines:
        return [f"truncated: {source} records {lines} lines, {len(hashes)} remain"]
    if lines > 0 and hashes[lines - 1] != last:
        return [f"line {lines}: not the line {source} records as line {lines} (the log was rewritten)"]
    return []


def _check_deployment_marks(
    result: Verification, out_dir: Path, hashes: list[str], key: bytes | None
) -> None:
    for folder in folders_in(out_dir):
        try:
            mark, unrecorded = DeploymentState(folder.root).audit_mark(), unrecorded_changes(folder.store)
        except ReportError as error:
            result.problems.append(f"deployment {folder.name}: {error}")
            continue
        if unrecorded:
            result.problems.append(
                f"deployment {folder.name}: changed at {iso(unrecorded[0].since)} by a command that ended "
                "without an audit line (killed?); the next command that writes a line for it (scan, "
                "review, purge, grid) puts the change on record"
            )
        if mark is not None:
            _check_signature(result, mark, f"deployment {folder.name}'s record of the log", key)
            result.problems.extend(_against(hashes, mark["lines"], mark["hash"], f"deployment {folder.name}"))


def resign(out_dir: Path, key: bytes | None) -> dict[str, Any]:
    """Vouch, with the key, for the lines a run without it left unsigned: one signed line
    names their hashes, and the head and every deployment's record of the log are
    signed afresh. Refused when anything but a missing signature is wrong."""
    if not key:
        raise AuditError(f"audit resign signs with the key: set ${SIGNING_KEY_ENV} and run it again")
    path = out_dir / AUDIT_FILE
    verification = verify(out_dir, key)
    blocking = [problem for problem in verification.problems if problem not in verification.unsigned]
    if blocking:
        raise AuditError(
            f"{path}: not re-signed, it has {len(blocking)} problem(s) a signature cannot mend "
            f"(first: {blocking[0]}); run 'lfr-batch audit verify' to see them"
        )
    return record(
        out_dir,
        RESIGN_COMMAND,
        touched=[folder.name for folder in folders_in(out_dir)],
        counts={"lines_vouched": len(verification.unsigned_lines)},
        extra={"vouched": verification.unsigned_lines},
    )
