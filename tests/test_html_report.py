"""The alert sheet, as a person sees it in a browser (headless Chromium)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import FEMALE_AND_MALE, scan_cli

from lfr_batch.cli import main
from lfr_batch.records.html_report import TEMPLATES
from lfr_batch.records.timeline import OUTCOME_COLOURS, Marker, camera, draw

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
    assert pairs["threshold_mode"] == "a cut per subject, calibrated on footage"
    assert pairs["calibration"].startswith("this run's footage")
    assert pairs["false_alert_rate_percent"] == "0"
    assert 0.005 < float(pairs["expected_false_alert_rate_percent"]) <= 0.01


def test_filter_and_sort(sheet: Path, tmp_path: Path) -> None:
    assert visible_rows(dom(sheet, "#q=not%20reviewed", tmp_path)) == ["A00002"]
    distances = pd.read_csv(sheet.parent / "alerts.csv").set_index("alert_id")["distance"]
    descending = distances.sort_values(ascending=False).index.tolist()
    assert visible_rows(dom(sheet, "#sort=distance&order=desc", tmp_path)) == descending


def test_one_timeline_with_every_alert_marked_by_its_id_and_review(sheet: Path) -> None:
    page = sheet.read_text()
    assert page.count('<figure class="timeline">') == 1
    alerts = pd.read_csv(sheet.parent / "alerts.csv").set_index("alert_id")
    for alert_id, outcome in (("A00001", "true"), ("A00002", "none")):
        assert re.search(
            rf'<rect class="marker"[^>]* data-marker="{alert_id}" data-outcome="{outcome}"', page
        )
        assert f'data-label="{alert_id}"' in page  # its id written beside its bar
    assert len(alerts) == 2
    # The bars add up to the faces seen, and say so when hovered.
    counts = [int(n) for n in re.findall(r"<title>(\d+) faces first seen on ", page)]
    assert sum(counts) == int(pd.read_csv(sheet.parent / "deployment.csv").iloc[0]["faces_seen"])
    picture = (sheet.parent / "timeline.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    drawn = re.search(r'<svg width="(\d+)" height="(\d+)"', page)
    assert drawn is not None
    # The same drawing, at twice the pixels.
    assert (int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")) == (
        2 * int(drawn[1]),
        2 * int(drawn[2]),
    )


def test_overlapping_alerts_take_lanes_of_their_own_and_all_show() -> None:
    """A true and a false alert over the same seconds (the alert that led to an arrest
    was once drawn under the other): each on its lane, its id clear of every other."""
    video = {
        "video": "cam1_20261126T140000.mp4",
        "status": "ok",
        "start": "2026-11-26T14:00:00",
        "duration_s": 60.0,
        "faces_seen_by_bin": [1] * 30,
    }
    markers = [
        Marker("A00001", video["video"], 10.0, 20.0, "true", "arrest"),
        Marker("A00002", video["video"], 12.0, 18.0, "false", "false"),
        Marker("A00003", video["video"], 40.0, 41.0, "", "later"),
    ]
    drawing = draw([video], markers, 2.0)
    assert drawing is not None
    bars = {box.marker: box for box in drawing.boxes if box.kind == "marker"}
    assert (bars["A00001"].lane, bars["A00002"].lane, bars["A00003"].lane) == (0, 1, 0)
    assert (bars["A00001"].fill, bars["A00002"].fill) == (OUTCOME_COLOURS["true"], OUTCOME_COLOURS["false"])
    ids = [text for text in drawing.texts if text.marker]
    assert sorted(text.text for text in ids) == ["A00001", "A00002", "A00003"]
    assert len({(text.x, text.y) for text in ids}) == 3


def test_a_camera_s_files_share_a_row_and_files_without_times_have_their_own() -> None:
    def video(name: str, start: str) -> dict:
        return {"video": name, "status": "ok", "start": start, "duration_s": 5.0, "faces_seen_by_bin": [1]}

    videos = [
        video("op/cam1_20261126T140000.mp4", "2026-11-26T14:00:00+01:00"),
        video("op/cam1_20261126T140005.mp4", "2026-11-26T14:00:05+01:00"),
        video("op/cam2_20261126T140002.mp4", "2026-11-26T14:00:02+01:00"),
        video("op/doorway.mp4", ""),
        video("op/lobby.mp4", ""),
    ]
    drawing = draw(videos, [], 2.0)
    assert drawing is not None
    rows = [text.text for text in drawing.texts if text.x == 0 and not text.bold]
    assert rows == ["cam1", "cam2", "doorway.mp4", "lobby.mp4"]
    panels = [text.text for text in drawing.texts if text.bold]
    assert panels == ["Wall-clock time (UTC+01:00)", "Time into each file (its start is not known)"]
    assert camera("op/cam1_20261126T140000.mp4") == camera("op/cam1_20261126T140005.mp4") == "op/cam1"
    assert camera("op/2026-11-26_14-00-00.avi") == "op"
    assert camera("op/doorway.mp4") is None


def test_a_night_of_3000_one_second_files_from_20_cameras_is_one_small_timeline() -> None:
    videos = [
        {
            "video": f"night/cam{camera_number:02d}_20261126T{14 + index // 1800:02d}"
            f"{index // 30 % 60:02d}{index * 2 % 60:02d}.mp4",
            "status": "ok",
            "start": f"2026-11-26T{14 + index // 1800:02d}:{index // 30 % 60:02d}:{index * 2 % 60:02d}",
            "duration_s": 1.0,
            "faces_seen_by_bin": [index % 3],
        }
        for camera_number in range(20)
        for index in range(150)
    ]
    drawing = draw(videos, [Marker("A00001", videos[7]["video"], 0.1, 0.9, "true", "")], 2.0)
    assert drawing is not None
    assert len([text for text in drawing.texts if text.x == 0 and not text.bold]) == 20
    svg = str(TEMPLATES.get_template("parts.html").module.timeline(drawing))
    assert len(svg) < 150_000


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
  // Text in the timeline is sized in pixels: the same at every window width.
  for (const text of document.querySelectorAll('.timeline svg text')) {
    const height = box(text).height;
    if (height < 9 || height > 18) problems.push('timeline text ' + height.toFixed(1) + ' px tall');
  }
  // No word broken over two lines: each word of a table cell or a figure lies on one line
  // (a hyphenated word may break after its hyphen, as print does).
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest('td, dd, th')) continue;
    for (const word of node.textContent.matchAll(/[^\\s-]+-?/g)) {  // a hyphen may end a line
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (lines.size > 1) problems.push('"' + word[0] + '" broken over two lines');
    }
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


def browser_args(tmp_path: Path, width: int) -> list[str]:
    if BROWSER is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    return [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},1200",
        "--virtual-time-budget=5000",
    ]


def layout_problems(page: str, tmp_path: Path, width: int) -> str:
    """What LAYOUT_CHECK finds wrong with ``page`` at ``width``: 'ok' for nothing."""
    checked = tmp_path / f"layout_{width}.html"
    checked.write_text(page.replace("</body>", LAYOUT_CHECK + "</body>"))
    document = subprocess.run(
        [*browser_args(tmp_path, width), "--dump-dom", checked.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'data-layout="([^"]*)"', document)
    return html.unescape(found[1]) if found else "no result"


def check_layout(sheet: Path, tmp_path: Path, width: int) -> None:
    """The figures' labels sit over their values, boxes and timeline labels never
    overlap, no word breaks over two lines, timeline text keeps its pixel size,
    nothing runs off the page and every image loads, at laptop and desktop widths;
    a screenshot is taken at each width as a person would see it."""
    assert layout_problems(sheet.read_text(), tmp_path, width) == "ok"
    screenshot = tmp_path / f"sheet_{width}.png"
    subprocess.run(
        [*browser_args(tmp_path, width), f"--screenshot={screenshot}", sheet.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == width


def test_the_layout_check_sees_a_word_broken_in_two(sheet: Path, tmp_path: Path) -> None:
    """The sheet's old rule (break anywhere) broke 'reviewed' and file names mid-word."""
    broken = sheet.read_text().replace(
        "</style>", "td{overflow-wrap:anywhere;word-break:break-all}</style>", 1
    )
    assert "broken over two lines" in layout_problems(broken, tmp_path, 900)


def test_the_sheet_prints_on_paper_without_its_filter_box(sheet: Path, tmp_path: Path) -> None:
    """Printed to PDF by headless Chromium: A4 landscape, the filter box left off the
    page, rows and the timeline kept whole."""
    if BROWSER is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    pdf = tmp_path / "sheet.pdf"
    subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            sheet.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert pages
    assert all(float(width) > float(height) for width, height in pages)  # landscape
    assert len(pages) <= 2  # two alerts and a timeline
    style = sheet.read_text().split("@media print", 1)[1]
    for rule in (".filter{display:none}", "break-inside:avoid", "thead{display:table-header-group}"):
        assert rule in style
