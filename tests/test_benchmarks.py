"""The benchmark scripts load, and the same-results check tells reports apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(path.stem for path in (REPO / "benchmarks").glob("*.py"))
sys.path.insert(0, str(REPO / "benchmarks"))

from same_results import SCAN_TIME_COLUMNS, Timed, differences, stage_seconds, summary  # noqa: E402


def test_every_benchmark_script_loads() -> None:
    """A script a refactoring broke (a name moved, a module renamed) fails here, not on the
    day someone measures with it."""
    code = "import importlib, sys; sys.path.insert(0, 'benchmarks'); " + "; ".join(
        f"importlib.import_module({name!r})" for name in BENCHMARKS
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-1500:]


def write_reports(folder: Path, alerts: str, deployment: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "alerts.csv").write_text(alerts, encoding="utf-8")
    (folder / "deployment.csv").write_text(deployment, encoding="utf-8")
    return folder


ALERTS = "alert_id,subject_id,distance\nA00001,s1,0.250\n"
DEPLOYMENT = "faces_seen,processing_seconds,scanned_at\n30,9.4,2026-12-07T03:08:55+00:00\n"


def test_the_same_scan_run_twice_is_the_same(tmp_path: Path) -> None:
    before = write_reports(tmp_path / "a", ALERTS, DEPLOYMENT)
    after = write_reports(
        tmp_path / "b",
        ALERTS,
        "faces_seen,processing_seconds,scanned_at\n30,10.2,2026-12-07T03:09:06+00:00\n",
    )
    assert {"processing_seconds", "scanned_at"} <= SCAN_TIME_COLUMNS
    assert differences(before, after) == []


@pytest.mark.parametrize(
    ("alerts", "deployment", "said"),
    [
        (
            ALERTS.replace("0.250", "0.251"),
            DEPLOYMENT,
            "alerts.csv: distance differs in 1 row(s), first row 1",
        ),
        (ALERTS + "A00002,s2,0.3\n", DEPLOYMENT, "alerts.csv: 1 rows in the base, 2 here"),
        (
            ALERTS,
            DEPLOYMENT.replace("30,", "31,"),
            "deployment.csv: faces_seen differs in 1 row(s), first row 1",
        ),
        (ALERTS, "faces_seen,scanned_at\n30,x\n", "deployment.csv: columns differ"),
    ],
)
def test_a_changed_alert_count_or_figure_is_a_difference(
    tmp_path: Path, alerts: str, deployment: str, said: str
) -> None:
    before = write_reports(tmp_path / "a", ALERTS, DEPLOYMENT)
    after = write_reports(tmp_path / "b", alerts, deployment)
    assert differences(before, after) == [said]


def test_the_stage_seconds_of_a_scan_are_summed_over_its_videos_and_summarised_by_median() -> None:
    log = (
        "2026-12-07T07:00:00+0000 lfr-batch: INFO: /v/a.mp4: 75 frames analysed, 2 faces seen, 1 alerts\n"
        "2026-12-07T07:00:00+0000 lfr-batch: INFO: /v/a.mp4: processing seconds by stage: decode 0.50, "
        "detect 1.25, encode 2.00\n"
        "2026-12-07T07:00:01+0000 lfr-batch: INFO: /v/b, c.mp4: processing seconds by stage: decode 0.25, "
        "detect 0.75, encode 1.00\n"
    )
    assert stage_seconds(log) == {"decode": 0.75, "detect": 2.0, "encode": 3.0}
    assert stage_seconds("no stage lines: a base too old to log them") == {}
    runs = [Timed(9.0, {"detect": 2.0}), Timed(7.0, {"detect": 1.0}), Timed(8.0, {"detect": 4.0})]
    assert summary(runs) == "8.0 s (7.0-9.0) [detect 2.0]"
    assert summary([Timed(5.25, {})]) == "5.2 s"
