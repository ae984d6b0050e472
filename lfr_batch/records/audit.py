"""The audit log: one line per command that reads or changes deployment data.

``OUT/audit.jsonl`` is append-only JSON Lines. Each line records the time,
user, host, command, inputs with their content hashes, the watchlist hash,
threshold, software version and counts, and carries the hash of the line
before it, so editing or removing a line breaks the chain and
:func:`verify` finds it. With ``$LFR_BATCH_KEY`` set, each line also carries an
HMAC of its hash, which nobody without the key can recompute, so a forged
line or a re-chained log is found too; and ``OUT/audit.head`` records the
number of lines and the last hash (with its own HMAC), so lines cut from the
end are found. Each deployment's state keeps the same two facts as of the last
command on it, so a log cut short is found even with its head rewritten.
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
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lfr_batch import __version__
from lfr_batch.errors import ReportError
from lfr_batch.files import file_sha256, write_atomic
from lfr_batch.records.folder import DeploymentFolder, folders_in
from lfr_batch.records.state import DeploymentState
from lfr_batch.signing import sign, signature_matches, signing_key

logger = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64


def line_hash(entry: dict[str, Any]) -> str:
    """The hash of a line: of its canonical JSON without its own hash and HMAC."""
    body = {key: value for key, value in entry.items() if key not in ("hash", "hmac")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return str(os.getuid())


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


def _chain_hash(text: str) -> str:
    """What the next line links to: a line's own hash, or, for a line that is no audit
    entry (torn by a crash, or written by something else), the hash of its text, so the
    chain goes on past it and `audit verify` reports that one line."""
    try:
        stated = json.loads(text)["hash"]
    except (ValueError, KeyError, TypeError):
        return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()
    return stated if isinstance(stated, str) else hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def record(
    out_dir: Path,
    command: str,
    *,
    deployment: str = "",
    inputs: Iterable[Path | tuple[str, str]] = (),
    watchlist_sha256: str = "",
    threshold: float | None = None,
    counts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one line for a command; inputs are paths (hashed here) or (path, sha256)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / AUDIT_FILE
    hashed = [
        {"path": str(item[0]), "sha256": item[1]}
        if isinstance(item, tuple)
        else {"path": str(item), "sha256": file_sha256(item) if item.is_file() else ""}
        for item in inputs
    ]
    with path.open("a+b") as handle:
        # One writer at a time, so two commands never fork the chain.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a line torn by a crash: ours starts afresh
                    handle.write(b"\n")
            entry: dict[str, Any] = {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "user": _user(),
                "host": socket.gethostname(),
                "command": command,
                "deployment": deployment,
                "inputs": hashed,
                "watchlist_sha256": watchlist_sha256,
                "threshold": threshold,
                "software_version": __version__,
                "counts": counts or {},
                "previous": _last_hash(path) if path.stat().st_size else GENESIS,
            }
            entry["hash"] = line_hash(entry)
            key = signing_key()
            if key:
                entry["hmac"] = sign(key, entry["hash"].encode())
            handle.write((json.dumps(entry, sort_keys=True) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
            lines = _write_head(out_dir, path, entry["hash"], key)
            _mark_deployment(out_dir, deployment, lines, entry["hash"])
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


def _read_head(out_dir: Path) -> dict[str, Any] | None:
    try:
        head = json.loads((out_dir / HEAD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) else None


def _write_head(out_dir: Path, path: Path, last_hash: str, key: bytes | None) -> int:
    """Record how long the log is and how it ends (called under the log's lock)."""
    # Counted, not incremented: a torn or foreign line counts as a line too.
    lines = sum(1 for _entry in _entries(path))
    record: dict[str, Any] = {"lines": lines, "hash": last_hash}
    if key:
        record["hmac"] = sign(key, f"{lines}:{last_hash}".encode())
    write_atomic(out_dir / HEAD_FILE, json.dumps(record, sort_keys=True).encode())
    return lines


def _mark_deployment(out_dir: Path, deployment: str, lines: int, last_hash: str) -> None:
    """Keep the log's length and end in the deployment's own state too: a log cut short
    and its head rewritten still disagree with every deployment it ran on."""
    folder = DeploymentFolder(out_dir / deployment)
    if not deployment or not folder.holds_state:
        return
    try:
        DeploymentState(folder.root).save_audit_mark({"lines": lines, "hash": last_hash})
    except (ReportError, sqlite3.Error) as error:
        logger.warning("could not record the audit head in deployment %s: %s", deployment, error)


@dataclass(frozen=True)
class Verification:
    lines: int
    problems: list[str]


def _entries(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text


def verify(out_dir: Path, key: bytes | None = None) -> Verification:
    """Check every line's hash and its link to the line before; with ``key``, every
    line's HMAC and the recorded head (how many lines, and the last one's hash)."""
    path = out_dir / AUDIT_FILE
    if not path.is_file():
        return Verification(0, [f"{path} does not exist"])
    problems: list[str] = []
    previous = GENESIS
    count = 0
    hashes: list[str] = []
    for number, text in _entries(path):
        count += 1
        try:
            entry = json.loads(text)
            stated = entry["hash"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number}: not an audit entry (torn or foreign)")
            previous = _chain_hash(text)
            hashes.append(previous)
            continue
        hashes.append(str(stated))
        if key and not signature_matches(key, str(stated).encode(), str(entry.get("hmac", ""))):
            problems.append(f"line {number}: its HMAC does not match (forged, or written without the key)")
        if line_hash(entry) != stated:
            problems.append(f"line {number}: edited (its content does not match its hash)")
        if entry.get("previous") != previous:
            problems.append(
                f"line {number}: does not follow the line before it (a line was removed, added or moved)"
            )
        previous = stated
    problems.extend(_check_head(out_dir, hashes, key))
    problems.extend(_check_deployment_marks(out_dir, hashes))
    return Verification(count, problems)


def _check_head(out_dir: Path, hashes: list[str], key: bytes | None) -> list[str]:
    head = _read_head(out_dir)
    if head is None:
        return [f"{out_dir / HEAD_FILE} is missing or unreadable"] if key else []
    lines, last = head.get("lines"), head.get("hash")
    if not isinstance(lines, int) or not isinstance(last, str):
        return [f"{out_dir / HEAD_FILE} is not an audit head"]
    if key and not signature_matches(key, f"{lines}:{last}".encode(), str(head.get("hmac", ""))):
        return [f"{out_dir / HEAD_FILE}: its HMAC does not match (forged, or written without the key)"]
    return _against(hashes, lines, last, "the head")


def _against(hashes: list[str], lines: int, last: str, source: str) -> list[str]:
    """Whether the log still holds the line ``source`` records as its ``lines``-th."""
    if len(hashes) < lines:
        return [f"truncated: {source} records {lines} lines, {len(hashes)} remain"]
    if lines and hashes[lines - 1] != last:
        return [f"line {lines}: not the line {source} records as line {lines} (the log was rewritten)"]
    return []


def _check_deployment_marks(out_dir: Path, hashes: list[str]) -> list[str]:
    problems = []
    for folder in folders_in(out_dir):
        try:
            mark = DeploymentState(folder.root).audit_mark()
        except ReportError as error:
            problems.append(f"deployment {folder.name}: {error}")
            continue
        if mark is not None:
            problems.extend(_against(hashes, mark["lines"], mark["hash"], f"deployment {folder.name}"))
    return problems
