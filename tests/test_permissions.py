"""What lfr-batch writes is its owner's alone, whatever the umask: face crops, the
templates of everyone on a watchlist and who was seen where are not for every user
of a shared server. One group can be let in to read; a folder or list others can
read is warned of."""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FEMALE_AND_MALE, scan_args, scan_cli

from lfr_batch.cli import main


@pytest.fixture
def shared_server_umask() -> Iterator[None]:
    """umask 022, as most servers set it: without care, everything is world-readable."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.lstat().st_mode)
        for path in [root, *root.rglob("*")]
        if not path.is_symlink()
    }


def test_deployment_folders_files_and_the_audit_log_are_owner_only(
    tmp_path: Path, shared_server_umask: None
) -> None:
    out = tmp_path / "reports"
    assert scan_cli(FEMALE_AND_MALE, out=out) == 0
    found = modes(out)
    assert {name for name in found if name.startswith("d/")} >= {
        "d/snapshots/A00001.jpg",
        "d/.lfr-batch/state.sqlite",
        "d/alerts.csv",
        "d/report.html",
    }
    for name, mode in found.items():
        folder = (out / name).is_dir()
        assert mode == (0o700 if folder else 0o600), f"{name} is {mode:o}"


def test_a_built_watchlist_is_owner_only(
    tmp_path: Path, two_subject_source: Path, shared_server_umask
) -> None:
    target = tmp_path / "lists" / "w.pkl"
    assert main(["watchlist", "build", str(two_subject_source), "-o", str(target), "-q"]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


@pytest.fixture
def group_restored(monkeypatch) -> None:
    """--group sets $LFR_BATCH_GROUP for the rest of the process: unset it afterwards."""
    monkeypatch.setenv("LFR_BATCH_GROUP", "")


def test_a_group_can_be_given_read_access_instead(
    tmp_path: Path, shared_server_umask, group_restored
) -> None:
    group = grp.getgrgid(os.getegid()).gr_name
    out = tmp_path / "reports"
    assert main(["--group", group, *scan_args(FEMALE_AND_MALE, out=out)]) == 0
    for name, mode in modes(out).items():
        folder = (out / name).is_dir()
        assert mode == (0o750 if folder else 0o640), f"{name} is {mode:o}"
        assert (out / name).stat().st_gid == os.getegid()


def test_an_unknown_group_is_refused_before_anything_is_written(
    tmp_path: Path, capsys, group_restored
) -> None:
    out = tmp_path / "reports"
    assert main(["--group", "no-such-group-here", *scan_args(FEMALE_AND_MALE, out=out)]) == 2
    err = capsys.readouterr().err
    assert "group 'no-such-group-here' (--group or $LFR_BATCH_GROUP) does not exist" in err
    assert not out.exists()


def test_a_reports_folder_or_watchlist_others_can_read_is_warned_of(
    tmp_path: Path, two_subject_source: Path, caplog
) -> None:
    out = tmp_path / "reports"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    listed = tmp_path / "w.pkl"
    assert main(["watchlist", "build", str(two_subject_source), "-o", str(listed), "-q"]) == 0
    listed.chmod(0o644)
    assert scan_cli(FEMALE_AND_MALE, out=out, watchlist=listed) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"reports folder {out} is readable by every user" in message for message in messages)
    assert any(f"watchlist {listed} is readable by every user" in message for message in messages)
