"""The README and docs/ as a newcomer meets them: a short front page, links that lead
somewhere, and every command shown in an `sh` block run as it is written.

Each page's `sh` blocks run in order, in one shell, in a folder of their own that
holds what a fresh clone holds for them (the bundled footage and watchlists, and
the set-up's .venv), with the virtual environment off the PATH as after the
README's set-up: the README and the guide put it there, and each reference page
says that its examples start where the guide's step 0 leaves off. Usage lines and
benchmarks are shown as `text` and not run; the pages of measurements
(accuracy.md, performance.md) hold benchmark commands of minutes to hours, run by
hand.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

README = REPO / "README.md"
GETTING_STARTED = REPO / "docs" / "getting-started.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MEASUREMENTS = {"accuracy.md", "performance.md"}
SETUP_INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && "
TEST_COMMAND = ".venv/bin/python -m pytest"
# What a reviewer types at the terminal review each page shows: true and confirmed,
# no action, a note.
REVIEW_ANSWERS = "tc\nn\nConfirmed at the scene\n"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 300
    assert sum(1 for line in lines if line.startswith("![")) == 1  # one picture in the tour


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a web address: nothing on this machine to check it against
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked.name})")
    assert not broken, f"{page.name}: {broken}"


def test_the_link_checker_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n", encoding="utf-8")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [bad](there.md#nowhere)\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"missing\.md \(no such file\).*there\.md#nowhere"):
        test_every_link_resolves(page)


def commands(page: Path) -> str:
    """The page's sh blocks, as one script. The README's set-up installs (what .ci/run
    does on a clean clone) before its scan, and names the test command, which is this."""
    blocks = SH_BLOCK.findall(page.read_text(encoding="utf-8"))
    if page == README:
        assert blocks[0].startswith(SETUP_INSTALL), "the README's set-up is no longer install-and-scan"
        assert blocks[1].strip() == TEST_COMMAND
        blocks = [blocks[0].removeprefix(SETUP_INSTALL), *blocks[2:]]
    return "".join(blocks)


def test_ci_runs_the_readmes_two_set_up_steps() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().splitlines()[-1] == TEST_COMMAND


RUN = [page for page in PAGES if page.name not in MEASUREMENTS and SH_BLOCK.search(page.read_text())]


@pytest.mark.parametrize("page", RUN, ids=lambda page: page.name)
def test_every_command_shown_runs(page: Path, tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip("the tests are not running in a virtual environment, as the README's set-up makes")
    clone = tmp_path / "clone"
    clone.mkdir()
    for folder in ("sample_videos", "watchlists"):
        shutil.copytree(REPO / folder, clone / folder)
    (clone / ".venv").symlink_to(venv)
    script = tmp_path / "commands.sh"
    # The README and the guide start from the set-up; a reference page from the guide's step 0.
    activated = "" if page in (README, GETTING_STARTED) else ". .venv/bin/activate\n"
    script.write_text("set -euo pipefail\n" + activated + commands(page), encoding="utf-8")
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if Path(entry).resolve() != venv / "bin"
    )
    done = subprocess.run(
        ["bash", str(script)],
        cwd=clone,
        input=REVIEW_ANSWERS,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, "VIRTUAL_ENV": ""},
        timeout=600,
        check=False,
    )
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{page.name}: exit {done.returncode}\n{output}"
    assert "Traceback" not in done.stderr


def test_getting_started_ends_in_a_reviewed_published_grid(tmp_path: Path) -> None:
    """What the guide promises at its end, checked on what its commands leave behind."""
    test_every_command_shown_runs(GETTING_STARTED, tmp_path)
    clone = tmp_path / "clone"
    record = pd.read_csv(clone / "reports" / "op-17" / "deployment.csv").iloc[0]
    assert (record["total_alerts"], record["true_alerts_confirmed"], record["no_action"]) == (1, 1, 1)
    assert str(record["start"]).startswith("2026-11-26T14:00:00")
    grid = pd.read_excel(clone / "grid.xlsx")
    assert grid["Deployment"].tolist() == ["op-17", "TOTAL"]
