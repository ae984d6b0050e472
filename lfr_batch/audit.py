"""The audit log: one line per command that reads or changes deployment data.

``OUT/audit.jsonl`` is append-only JSON Lines. Each line records the time,
user, host, command, inputs with their content hashes, the watchlist hash,
threshold, software version and counts, and carries the hash of the line
before it, so editing or removing a line breaks the chain and
:func:`verify` finds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lfr_batch import __version__
from lfr_batch.files import file_sha256

AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64


def line_hash(entry: dict[str, Any]) -> str:
    """The hash of a line: of its canonical JSON without its own hash."""
    body = {key: value for key, value in entry.items() if key != "hash"}
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
            handle.write((json.dumps(entry, sort_keys=True) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


@dataclass(frozen=True)
class Verification:
    lines: int
    problems: list[str]


def _entries(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text


def verify(out_dir: Path) -> Verification:
    """Check every line's hash and its link to the line before."""
    path = out_dir / AUDIT_FILE
    if not path.is_file():
        return Verification(0, [f"{path} does not exist"])
    problems: list[str] = []
    previous = GENESIS
    count = 0
    for number, text in _entries(path):
        count += 1
        try:
            entry = json.loads(text)
            stated = entry["hash"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"line {number}: not an audit entry (torn or foreign)")
            previous = _chain_hash(text)
            continue
        if line_hash(entry) != stated:
            problems.append(f"line {number}: edited (its content does not match its hash)")
        if entry.get("previous") != previous:
            problems.append(
                f"line {number}: does not follow the line before it (a line was removed, added or moved)"
            )
        previous = stated
    return Verification(count, problems)
