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
    assert "False alert rate (% of faces seen)" in document
    assert visible_rows(document) == ["A00001", "A00002"]
    assert "True alert, confirmed / Arrest" in document
    assert "not reviewed" in document
    # Each figure's label and value share one box, so they cannot drift apart.
    pairs = dict(re.findall(r'<div data-figure="(\w+)"><dt>[^<]*</dt><dd>([^<]*)</dd></div>', document))
    assert pairs["faces_seen"] == "4"
    assert pairs["threshold_mode"] == (
        "calibrated on the reference photos (the watchlist is too small to calibrate itself)"
    )
    assert pairs["false_alert_rate_percent"] == "0"
    assert pairs["expected_false_alert_rate_percent"] == "0.00964"


def test_filter_and_sort(sheet: Path, tmp_path: Path) -> None:
    assert visible_rows(dom(sheet, "#q=not%20reviewed", tmp_path)) == ["A00002"]
    distances = pd.read_csv(sheet.parent / "alerts.csv").set_index("alert_id")["distance"]
    descending = distances.sort_values(ascending=False).index.tolist()
    assert visible_rows(dom(sheet, "#sort=distance&order=desc", tmp_path)) == descending


def test_each_video_has_a_timeline_with_its_alerts_coloured_by_review(sheet: Path) -> None:
    page = sheet.read_text()
    timelines = re.findall(r'<div class="timeline" data-video="([^"]+)">(.*?)</svg></div>', page, flags=re.S)
    videos = pd.read_csv(sheet.parent / "videos.csv")
    assert [video for video, _svg in timelines] == videos["video"].tolist()
    alerts = pd.read_csv(sheet.parent / "alerts.csv").set_index("alert_id")
    for alert_id, outcome in (("A00001", "true"), ("A00002", "none")):
        svg = next(svg for video, svg in timelines if video == alerts.loc[alert_id, "video"])
        assert f'<g data-marker="{alert_id}" data-outcome="{outcome}">' in svg
    # The bars add up to the faces seen, and say so when hovered.
    counts = [int(n) for n in re.findall(r"<title>[0-9:]+-[0-9:]+: (\d+) faces? seen</title>", page)]
    assert sum(counts) == int(pd.read_csv(sheet.parent / "deployment.csv").iloc[0]["faces_seen"])


LAYOUT_CHECK = """<script>
window.addEventListener('load', () => {
  const problems = [];
  const box = e => e.getBoundingClientRect();
  if (document.documentElement.scrollWidth > window.innerWidth) problems.push('page wider than the window');
  const figures = [...document.querySelectorAll('[data-figure]')];
  for (const figure of figures) {
    const label = box(figure.querySelector('dt')), value = box(figure.querySelector('dd'));
    if (value.top < label.bottom - 1 || value.top - label.bottom > 8 || Math.abs(value.left - label.left) > 1)
      problems.push('figure ' + figure.dataset.figure + ': value not under its label');
  }
  figures.forEach((a, i) => figures.slice(i + 1).forEach(b => {
    const p = box(a), q = box(b);
    if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
      problems.push('figures ' + a.dataset.figure + ' and ' + b.dataset.figure + ' overlap');
  }));
  for (const svg of document.querySelectorAll('.timeline svg')) {
    if (box(svg).right > window.innerWidth) problems.push('timeline wider than the window');
    const labels = [...svg.querySelectorAll('text')].map(box);
    labels.forEach((a, i) => labels.slice(i + 1).forEach(b => {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        problems.push('timeline labels overlap');
    }));
  }
  const images = [...document.images];
  if (!images.every(i => i.complete && i.naturalWidth > 0)) problems.push('an image did not load');
  document.body.dataset.layout = problems.length ? problems.join('; ') : 'ok';
});
</script>"""


WIDTHS = (900, 1280, 1920)


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_overlaps_or_drifts_apart_at_common_widths(sheet: Path, tmp_path: Path, width: int) -> None:
    check_layout(sheet, tmp_path, width)


def check_layout(sheet: Path, tmp_path: Path, width: int) -> None:
    """The figures' labels sit over their values, boxes and timeline labels never
    overlap, nothing runs off the page and every image loads, at laptop and desktop
    widths; a screenshot is taken at each width as a person would see it."""
    if BROWSER is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    checked = tmp_path / f"layout_{width}.html"
    checked.write_text(sheet.read_text().replace("</body>", LAYOUT_CHECK + "</body>"))
    common = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},1200",
        "--virtual-time-budget=5000",
    ]
    document = subprocess.run(
        [*common, "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert 'data-layout="ok"' in document, re.search(r'data-layout="([^"]*)"', document)
    screenshot = tmp_path / f"sheet_{width}.png"
    subprocess.run(
        [*common, f"--screenshot={screenshot}", sheet.as_uri()], capture_output=True, timeout=120, check=True
    )
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == width
