"""Over a thousand generated edits of the files the tool reads (tests/hostile_properties.py),
in a process that may use no more than 2 GB: no traceback, no hang, and no damage in
one deployment that reaches another."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest
from conftest import REPO

MEMORY_LIMIT = 2 * 1024**3


def limit_memory() -> None:
    """The heap and every private mapping (RLIMIT_DATA): a reader that decoded a
    60000×60000 photo, or read /dev/zero whole, would fail here."""
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.timeout(1800)
def test_generated_edits_of_every_file_we_read_within_2_gb() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(REPO),
            "-o",
            "timeout=1200",
            str(REPO / "tests" / "hostile_properties.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=limit_memory,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
