"""The two halves of the package stay apart: the deployment's records never need the vision stack."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import MALE_ONLY, SAMPLE_WATCHLIST, scan_cli

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


# What only the commands that scan may load.
VISION_STACK = ("cv2", "dlib", "lfr_batch.vision.faces", "lfr_batch.scan", "lfr_batch.watchlist.store")
RUN_AND_LIST_MODULES = (
    "import sys\n"
    "from lfr_batch.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"print('loaded:', *[m for m in {VISION_STACK!r} if m in sys.modules])\n"
    "sys.exit(code)\n"
)


def test_the_commands_over_records_start_without_the_vision_stack(tmp_path: Path) -> None:
    """grid, purge, audit and review --import read and write records only: they run
    where OpenCV or dlib cannot load, and start without the seconds those take."""
    out = tmp_path / "reports"
    assert scan_cli(MALE_ONLY, out=out) == 0
    deployment = out / "d"
    commands = [
        ["--help"],
        ["grid", str(out)],
        ["grid", str(out), "--summary"],
        ["purge", str(out), "--older-than", "1000d", "--dry-run"],
        ["audit", "verify", str(out)],
        ["review", str(deployment), "--import", str(deployment / "alerts.csv")],
        ["review", str(deployment), "--no-preview", "--reviewer", "PC 1"],
    ]
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-c", RUN_AND_LIST_MODULES, *command],
            capture_output=True,
            text=True,
            input="q\n",
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        loaded = done.stdout.splitlines()[-1]
        assert loaded == "loaded:", f"lfr-batch {' '.join(command[:2])} {loaded}"


def test_the_scan_commands_load_the_vision_stack_when_they_run(tmp_path: Path) -> None:
    """The other side of the test above: the import is in the command, not lost."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, "watchlist", "info", str(SAMPLE_WATCHLIST)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {"dlib", "lfr_batch.watchlist.store"} <= set(done.stdout.splitlines()[-1].split())


# Each module's layer, lowest first: a module imports only from its own layer or
# below, so the vision pipeline knows nothing of files, runs or commands, and the
# watchlist's model nothing of its file or its builder.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("lfr_batch", "errors", "times", "files", "signing", "safe_pickle", "readers"),
    ("watchlist", "watchlist.model"),
    ("vision",),
    ("records", "watchlist.store", "watchlist.builder", "options", "command_settings", "synthetic"),
    ("executors",),
    ("scan", "search", "terminal"),
    ("cli", "__main__"),
)


def layer_of(module: str) -> int:
    """The layer of ``lfr_batch.X.Y``: the most specific entry of LAYERS that names it."""
    name = module.removeprefix("lfr_batch.") if module != "lfr_batch" else "lfr_batch"
    for length in range(name.count(".") + 1, 0, -1):
        prefix = ".".join(name.split(".")[:length])
        for layer, members in enumerate(LAYERS):
            if prefix in members:
                return layer
    raise AssertionError(f"{module} is in no layer of LAYERS")


def imported_modules(path: Path) -> set[str]:
    """The lfr_batch modules a file imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lfr_batch"):
            found |= {
                f"{node.module}.{alias.name}"
                if (REPO / node.module.replace(".", "/") / f"{alias.name}.py").exists()
                else node.module
                for alias in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("lfr_batch")}
    return found


PACKAGE_MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for path in (REPO / "lfr_batch").rglob("*.py")
)


@pytest.mark.parametrize("module", PACKAGE_MODULES)
def test_no_import_runs_back_up_the_layers(module: str) -> None:
    path = REPO / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = REPO / module.replace(".", "/") / "__init__.py"
    upward = sorted(name for name in imported_modules(path) if layer_of(name) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports {', '.join(upward)} from above it"


def test_only_the_vision_pipeline_imports_opencv_or_dlib() -> None:
    outside = [
        str(path.relative_to(REPO))
        for path in (REPO / "lfr_batch").rglob("*.py")
        if "vision" not in path.parts
        and re.search(r"^\s*(import|from) (cv2|dlib)\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert not outside, f"{', '.join(outside)} import OpenCV or dlib outside lfr_batch/vision"


def test_an_installed_copy_holds_every_module_and_data_file(tmp_path: Path) -> None:
    """A wheel (pip install ., not -e) carries every module of the package and every file
    it reads as a resource: a package left out of pyproject.toml fails here, not for a user."""
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    source = tmp_path / "source"  # the working tree's files alone: no build/ left by an earlier build
    for name in tracked:
        if (REPO / name).is_file() and (name.startswith("lfr_batch/") or "/" not in name):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("lfr_batch-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        name
        for name in tracked
        if name.startswith("lfr_batch/")
        and (name.endswith(".py") or "/data/" in name or "/templates/" in name)
    }
    assert not sorted(wanted - packed), f"missing from the wheel: {sorted(wanted - packed)}"
