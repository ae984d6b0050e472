"""The two halves of the package stay apart: the deployment's records never need the vision stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The deployment side: what reads and writes OUT/NAME/ and the published figures.
DEPLOYMENT_SIDE = (
    "state",
    "reports",
    "html_report",
    "spreadsheets",
    "review",
    "grid",
    "retention",
    "audit",
    "evaluation",
    "signing",
    "files",
    "deployment",
    "times",
    "case_report",
)


@pytest.mark.parametrize("module", DEPLOYMENT_SIDE)
def test_the_deployment_side_never_imports_opencv_or_dlib(module: str) -> None:
    """So reports, review, grid and purge run where no video library is installed,
    and a change to the vision pipeline cannot reach the published records."""
    code = f"import sys, lfr_batch.{module}; print(','.join(m for m in ('cv2', 'dlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"lfr_batch.{module} imports {done.stdout.strip()}"
