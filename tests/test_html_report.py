"""The alert sheet, as a person sees it in a browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import FEMALE_AND_MALE, scan_cli

from lfr_batch.cli import main

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory, walk_video: Path) -> Path:
    out = tmp_path_factory.mktemp("sheet")
    assert scan_cli(FEMALE_AND_MALE, walk_video, out=out, deployment="op", options=("--workers", "1")) == 0
    edited = pd.read_csv(out / "op" / "alerts.csv", keep_default_na=False, dtype=str)
    edited.loc[0, ["outcome", "engagement"]] = ["true_confirmed", "arrest"]
    edited.to_csv(out / "edited.csv", index=False)
    assert main(["review", str(out / "op"), "--import", str(out / "edited.csv")]) == 0
    return out / "op" / "report.html"


def test_the_sheet_is_self_contained(sheet: Path) -> None:
    page = sheet.read_text()
    assert not re.search(r"(src|href)=\"(https?:|//)", page)
    assert "default-src 'none'" in page
    assert page.count('src="data:image/jpeg;base64,') == 4  # two alerts, probe and watchlist photo each


def dom(page: Path, fragment: str, tmp_path: Path) -> str:
    if BROWSER is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    done = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def visible_rows(document: str) -> list[str]:
    body = document.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr( hidden=\"\")?>(.*?)</tr>", body, flags=re.S)
    return [re.sub(r"<[^>]+>", " ", cells).split()[0] for hidden, cells in rows if not hidden]


def test_a_person_sees_the_figures_both_photos_and_every_alert(sheet: Path, tmp_path: Path) -> None:
    document = dom(sheet, "", tmp_path)
    assert 'data-images-shown="4"' in document  # every image decoded and shown
    assert "Deployment op" in document
    assert "Faces seen" in document
    assert "False alert rate (%)" in document
    assert visible_rows(document) == ["A00001", "A00002"]
    assert "True alert, confirmed / Arrest" in document
    assert "not reviewed" in document
    # Each figure's label and value share one box, so they cannot drift apart.
    pairs = dict(re.findall(r'<div data-figure="(\w+)"><dt>[^<]*</dt><dd>([^<]*)</dd></div>', document))
    assert pairs["faces_seen"] == "4"
    assert pairs["threshold_mode"] == "calibrated to the watchlist"
    assert pairs["false_alert_rate"] == "0"
    assert pairs["expected_false_alert_rate"] == "0.0098"


def test_filter_and_sort(sheet: Path, tmp_path: Path) -> None:
    assert visible_rows(dom(sheet, "#q=not%20reviewed", tmp_path)) == ["A00002"]
    distances = pd.read_csv(sheet.parent / "alerts.csv").set_index("alert_id")["distance"]
    descending = distances.sort_values(ascending=False).index.tolist()
    assert visible_rows(dom(sheet, "#sort=distance&order=desc", tmp_path)) == descending
