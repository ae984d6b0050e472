"""One process at a time changes a deployment; a second is refused in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
from conftest import MALE_ONLY, scan_cli

from lfr_batch.cli import main
from lfr_batch.records.folder import DeploymentFolder

LOCK_FILE = DeploymentFolder(Path("d")).lock_file.name

HOLD = """
import sys, time
from pathlib import Path
from lfr_batch.records.folder import DeploymentFolder
with DeploymentFolder(Path(sys.argv[1])).lock("scan"):
    print("held", flush=True)
    time.sleep(60)
"""


def sample_scan_process(out: Path, *options: str) -> list[str]:
    """The README's sample scan as a separate process (run from the repository root)."""
    return [
        sys.executable,
        *("-m", "lfr_batch", "scan", "sample_videos", "--watchlist", "watchlists/sample.pkl"),
        *("--deployment", "d", "--out", str(out), "-q", *options),
    ]


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_command_is_refused_while_a_scan_holds_the_deployment(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    folder = tmp_path / "d"
    before = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    holder = hold_in_another_process(folder)
    try:
        capsys.readouterr()
        edited = tmp_path / "edited.csv"
        edited.write_bytes((folder / "alerts.csv").read_bytes())
        for command in (
            [
                "scan",
                str(MALE_ONLY),
                "--watchlist",
                "watchlists/sample.pkl",
                "--deployment",
                "d",
                "--out",
                str(tmp_path),
                "-q",
                "--overwrite",
            ],
            ["review", str(folder), "--import", str(edited)],
            ["purge", str(tmp_path), "--older-than", "1h"],
        ):
            assert main(command) == 1
            err = capsys.readouterr().err
            assert f"deployment d is in use by 'scan' (process {holder.pid}" in err
            assert err.count("\n") == 1
        after = {
            path.name: path.read_bytes()
            for path in folder.iterdir()
            if path.is_file() and path.name != LOCK_FILE
        }
        assert after == {name: data for name, data in before.items() if name != LOCK_FILE}
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops a killed holder's lock: the next command goes ahead.
    assert main(["purge", str(tmp_path), "--older-than", "1h"]) == 0


def test_the_lock_is_released_however_its_holder_ends(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path / "d")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with DeploymentFolder(tmp_path / "d").lock("test"):
        assert "'test' (process" in (tmp_path / "d" / LOCK_FILE).read_text(encoding="utf-8")


def test_what_a_killed_writer_left_half_written_goes_once_the_lock_is_taken(tmp_path: Path, caplog) -> None:
    folder = DeploymentFolder(tmp_path / "d")
    for place in ("snapshots", "mystuff", ".lfr-batch"):
        (folder.root / place).mkdir(parents=True)
    folder.lock_file.touch()
    unfinished = [
        folder.root / ".alerts.csv.k2x_9q4z.tmp",
        folder.root / ".report.html.abcdefgh.tmp",
        folder.root / "snapshots" / ".A00002.jpg.i6268b28.tmp",
        folder.root / ".lfr-batch" / ".probe.lfrlist.00000000.tmp",
    ]
    # The analyst's own files: what is not one of ours, or not where we write it, stays.
    theirs = [
        folder.root / "notes.tmp",
        folder.root / ".notes.tmp",
        folder.root / ".a.document.tmp",
        folder.root / ".My.Draft123.tmp",
        folder.root / ".alerts.csv.ABCDEFGH.tmp",
        folder.root / "mystuff" / ".alerts.csv.k2x_9q4z.tmp",
        folder.root / "snapshots" / ".thesis.backup01.tmp",
        folder.root / "snapshots" / "A.jpg",
    ]
    for path in unfinished + theirs:
        path.write_bytes(b"half")
    with caplog.at_level("WARNING"), folder.lock("test"):
        assert not any(path.exists() for path in unfinished)
        assert all(path.read_bytes() == b"half" for path in theirs)
    assert f"removed {len(unfinished)} half-written file(s)" in caplog.text


def test_a_folder_of_the_users_own_is_not_made_a_deployment(tmp_path: Path, capsys) -> None:
    theirs = tmp_path / "PROJ"
    (theirs / "thesis").mkdir(parents=True)
    (theirs / "readme.txt").write_text("mine", encoding="utf-8")
    (theirs / "thesis" / ".chapter1.draft_v2.tmp").write_text("mine", encoding="utf-8")
    theirs.chmod(0o755)
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="PROJ") == 2
    err = capsys.readouterr().err
    assert "already holds files that are not a deployment's or a case's" in err
    assert err.count("\n") == 1
    assert sorted(path.name for path in theirs.rglob("*")) == [
        ".chapter1.draft_v2.tmp",
        "readme.txt",
        "thesis",
    ]
    assert theirs.stat().st_mode & 0o777 == 0o755
    # An empty folder is taken, as a new deployment's.
    (tmp_path / "empty").mkdir()
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="empty") == 0


def test_two_scans_at_once_give_one_deployment_with_no_duplicate_alerts(tmp_path: Path) -> None:
    command = sample_scan_process(tmp_path, "--workers", "1")
    root = Path(__file__).resolve().parents[1]
    first = subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    first_err = first.communicate()[1]
    codes = sorted([first.returncode, second.returncode])
    # Either the second found the first still running (refused, 1), or it came after it
    # and found every file scanned already (0); never both writing at once.
    assert codes in ([0, 0], [0, 1])
    if 1 in codes:
        assert "is in use by 'scan'" in (second.stderr + first_err)
    alerts = pd.read_csv(tmp_path / "d" / "alerts.csv")
    assert alerts["alert_id"].is_unique
    assert len(alerts) == 1


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_workers_die_with_a_scan_killed_with_kill_9(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    command = sample_scan_process(tmp_path, "--workers", "2", "--fps", "25")
    scan = subprocess.Popen(command, cwd=root)
    workers: list[int] = []
    for _ in range(100):
        time.sleep(0.1)
        workers = [
            pid for pid in children(scan.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        if len(workers) >= 2:
            break
    assert workers, "the scan started no worker processes"
    os.kill(scan.pid, signal.SIGKILL)
    scan.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_scan_wait_waits_for_the_holder_instead_of_stopping(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path / "d")
    threading.Timer(1.5, holder.kill).start()
    began = time.monotonic()
    assert scan_cli(MALE_ONLY, out=tmp_path, options=("--wait",)) == 0
    assert time.monotonic() - began >= 1.0  # it waited for the holder to go
    holder.wait()
    assert (tmp_path / "d" / "deployment.csv").is_file()


def test_review_import_and_purge_wait_for_the_holder_too(tmp_path: Path) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    folder = tmp_path / "d"
    edited = tmp_path / "edited.csv"
    edited.write_bytes((folder / "alerts.csv").read_bytes())
    for command in (
        ["review", str(folder), "--import", str(edited), "--wait"],
        ["purge", str(tmp_path), "--older-than", "1h", "--wait"],
    ):
        holder = hold_in_another_process(folder)
        threading.Timer(1.0, holder.kill).start()
        began = time.monotonic()
        assert main(command) == 0
        assert time.monotonic() - began >= 0.5, command
        holder.wait()
