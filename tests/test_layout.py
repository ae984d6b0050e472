"""The two halves of the package stay apart: the deployment's records never need the vision stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The deployment side: what reads and writes OUT/NAME/ and the published figures.
DEPLOYMENT_SIDE = sorted(path.stem for path in (REPO / "lfr_batch" / "records").glob("[!_]*.py"))


def test_the_records_package_holds_every_deployment_module() -> None:
    assert {"folder", "state", "reports", "review", "grid", "retention", "audit", "case_report"} <= set(
        DEPLOYMENT_SIDE
    )


@pytest.mark.parametrize("module", DEPLOYMENT_SIDE)
def test_the_deployment_side_never_imports_opencv_or_dlib(module: str) -> None:
    """So reports, review, grid and purge run where no video library is installed,
    and a change to the vision pipeline cannot reach the published records."""
    code = (
        f"import sys, lfr_batch.records.{module}; "
        "print(','.join(m for m in ('cv2', 'dlib', 'lfr_batch.vision') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"lfr_batch.records.{module} imports {done.stdout.strip()}"


VISION = sorted(path.stem for path in (REPO / "lfr_batch" / "vision").glob("[!_]*.py"))


@pytest.mark.parametrize("module", VISION)
def test_the_vision_pipeline_never_touches_a_deployment_folder(module: str) -> None:
    """Frames go in and numbers and crops come out; what is kept on disk is decided
    by the run (scan, search) and written by lfr_batch.records."""
    code = f"import sys, lfr_batch.vision.{module}; print('lfr_batch.records' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", f"lfr_batch.vision.{module} imports lfr_batch.records"
