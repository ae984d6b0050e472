"""The audit log covers every command and cannot be turned against itself: a cut line with
an old head put back, a deployment named after the log, a key that is not text, a
keyless run, and a signed list scanned without the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_WATCHLIST, scan_cli

from lfr_batch.cli import main
from lfr_batch.records.audit import AUDIT_FILE, HEAD_FILE
from lfr_batch.watchlist.store import load_watchlist, save_watchlist

KEY = "s3cret"


@pytest.fixture
def keyed(monkeypatch) -> None:
    monkeypatch.setenv("LFR_BATCH_KEY", KEY)


def signed_list(folder: Path) -> Path:
    path = folder / "signed.pkl"
    save_watchlist(load_watchlist(SAMPLE_WATCHLIST), path, KEY.encode())
    return path


def commands(out: Path) -> list[str]:
    return [json.loads(line)["command"] for line in (out / AUDIT_FILE).read_text().splitlines()]


@pytest.mark.parametrize("command", ["purge", "grid"])
def test_a_purge_or_grid_line_cut_with_the_old_head_put_back_is_found(
    tmp_path: Path, walk_video: Path, capsys, keyed, command: str
) -> None:
    out = tmp_path / "out"
    listed = signed_list(tmp_path)
    assert scan_cli(walk_video, out=out, watchlist=listed, deployment="a") == 0
    assert scan_cli(MALE_ONLY, out=out, watchlist=listed, deployment="b") == 0
    log, head = out / AUDIT_FILE, out / HEAD_FILE
    kept_log, kept_head = log.read_bytes(), head.read_bytes()
    arguments = (
        ["purge", str(out), "--older-than", "1h", "--yes"] if command == "purge" else ["grid", str(out)]
    )
    assert main(arguments) == 0
    assert commands(out)[-1].startswith(command)
    # The forger's move: the line cut, the head as it was before it.
    log.write_bytes(kept_log)
    head.write_bytes(kept_head)
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "truncated: deployment a records 3 lines, 2 remain" in err
    assert "truncated: deployment b records 3 lines, 2 remain" in err


def test_a_deployment_records_of_the_log_are_signed(tmp_path: Path, capsys, keyed) -> None:
    """Rewriting a deployment's record of the log, as a forger without the key would, is found."""
    import sqlite3

    out = tmp_path / "out"
    listed = signed_list(tmp_path)
    for _ in range(2):
        assert scan_cli(MALE_ONLY, out=out, watchlist=listed) == 0
    first = json.loads((out / AUDIT_FILE).read_text().splitlines()[0])
    with sqlite3.connect(out / "d" / ".lfr-batch" / "state.sqlite") as db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'audit'",
            (json.dumps({"lines": 1, "hash": first["hash"]}),),
        )
    (out / AUDIT_FILE).write_text(json.dumps(first) + "\n")
    (out / HEAD_FILE).write_text(json.dumps({"lines": 1, "hash": first["hash"], "hmac": "0" * 64}))
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "deployment d's record of the log: written without the key" in err
    assert "audit.head: its HMAC does not match" in err


@pytest.mark.parametrize("reserved", ["audit.jsonl", "audit.head", "Audit.JSONL"])
def test_the_audit_log_s_names_are_refused_as_deployment_and_case_names(
    tmp_path: Path, capsys, reserved: str
) -> None:
    out = tmp_path / "out"
    assert scan_cli(MALE_ONLY, out=out, deployment=reserved) == 2
    assert "is reserved" in capsys.readouterr().err
    photo = Path(__file__).parents[1] / "watchlists" / "sample_photos" / "intel_actor_f1" / "1.png"
    search = ["search", str(photo), "--footage", str(MALE_ONLY), "--case", reserved, "--out", str(out)]
    assert main(search) == 2
    assert "case name" in capsys.readouterr().err
    assert not (out / reserved).is_dir()
    assert scan_cli(MALE_ONLY, out=out) == 0
    assert main(["audit", "verify", str(out)]) == 0


def test_an_audit_log_that_is_a_folder_stops_a_command_before_its_work(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    (out / AUDIT_FILE).mkdir(parents=True)
    assert scan_cli(MALE_ONLY, out=out) == 1
    err = capsys.readouterr().err
    assert "audit.jsonl is a folder, not the audit log" in err
    assert err.count("\n") == 1
    assert not (out / "d").exists()  # nothing done that the log could not record
    assert main(["audit", "verify", str(out)]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_a_key_of_any_bytes_signs_every_command(
    tmp_path: Path, walk_video: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(os.environb, b"LFR_BATCH_KEY", b"\xff\xfe not text")
    out = tmp_path / "out"
    listed = tmp_path / "signed.pkl"
    save_watchlist(load_watchlist(SAMPLE_WATCHLIST), listed, b"\xff\xfe not text")
    assert scan_cli(walk_video, out=out, watchlist=listed) == 0
    edited = tmp_path / "edited.csv"
    edited.write_text(
        (out / "d" / "alerts.csv")
        .read_text(encoding="utf-8-sig")
        .replace(",,,,\r\n", ",true_confirmed,,,\r\n")
    )
    assert main(["review", str(out / "d"), "--import", str(edited)]) == 0
    assert main(["purge", str(out), "--older-than", "1h", "--yes"]) == 0
    assert commands(out) == ["scan", "review --import", "purge --older-than 1h"]
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 0
    assert "3 lines, chain intact" in capsys.readouterr().out


def test_lines_written_without_the_key_can_be_vouched_for_and_the_vouching_is_logged(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("LFR_BATCH_KEY", KEY)
    listed = signed_list(tmp_path)
    assert scan_cli(MALE_ONLY, out=out, watchlist=listed) == 0
    monkeypatch.delenv("LFR_BATCH_KEY")
    assert scan_cli(FEMALE_AND_MALE, out=out, watchlist=listed) == 0  # someone forgot the key
    monkeypatch.setenv("LFR_BATCH_KEY", KEY)
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "line 2: written without the key" in err
    assert "audit resign" in err

    assert main(["audit", "resign", str(out)]) == 0
    assert "1 unsigned line vouched for" in capsys.readouterr().out
    last = json.loads((out / AUDIT_FILE).read_text().splitlines()[-1])
    assert last["command"] == "audit resign"
    assert last["vouched"] == [json.loads((out / AUDIT_FILE).read_text().splitlines()[1])["hash"]]
    assert main(["audit", "verify", str(out)]) == 0
    assert scan_cli(MALE_ONLY, out=out, watchlist=listed) == 0  # and the log goes on, signed
    assert main(["audit", "verify", str(out)]) == 0

    # A line whose HMAC is wrong is no missing signature: resign refuses to vouch for it.
    lines = (out / AUDIT_FILE).read_text().splitlines()
    forged = {**json.loads(lines[0]), "hmac": "0" * 64}
    (out / AUDIT_FILE).write_text("\n".join([json.dumps(forged, sort_keys=True), *lines[1:]]) + "\n")
    capsys.readouterr()
    assert main(["audit", "resign", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not re-signed" in err
    assert "line 1: its HMAC does not match" in err


def test_resign_needs_the_key(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    assert main(["audit", "resign", str(tmp_path)]) == 1
    assert "set $LFR_BATCH_KEY" in capsys.readouterr().err


def test_a_signed_list_used_without_the_key_says_its_signature_goes_unchecked(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    monkeypatch.setenv("LFR_BATCH_KEY", KEY)
    listed = signed_list(tmp_path)
    monkeypatch.delenv("LFR_BATCH_KEY")
    assert scan_cli(MALE_ONLY, out=tmp_path / "out", watchlist=listed) == 0
    assert any("is signed, but its signature was not checked" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert main(["watchlist", "info", str(listed)]) == 0
    assert any("is signed, but its signature was not checked" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("head", "problem"), [(None, "is missing"), (b"garbage", "is not an audit head")])
def test_a_head_removed_or_spoilt_is_found_without_the_key_too(
    tmp_path: Path, capsys, head: bytes | None, problem: str
) -> None:
    out = tmp_path / "out"
    assert scan_cli(MALE_ONLY, out=out) == 0
    if head is None:
        (out / HEAD_FILE).unlink()
    else:
        (out / HEAD_FILE).write_bytes(head)
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 1
    assert f"{out / HEAD_FILE} {problem}" in capsys.readouterr().err


# A process of its own that saves a change to a deployment's state, prints 'saved' and,
# with 'and wait', waits for its stdin to close: a command at work, or (ended) one killed
# before its audit line.
SAVE_A_CHANGE = (
    "import sys; from pathlib import Path; from lfr_batch.records.state import DeploymentState; "
    "DeploymentState(Path(sys.argv[1])).save_settings(); print('saved', flush=True); "
    "sys.argv[2:] and sys.stdin.read()"
)


def another_process_changes(folder: Path, *wait: str) -> subprocess.Popen:
    changer = subprocess.Popen(
        [sys.executable, "-c", SAVE_A_CHANGE, str(folder), *wait],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert changer.stdout is not None
    assert changer.stdout.readline() == "saved\n"
    if not wait:
        changer.communicate("")
    return changer


def test_a_change_whose_command_was_killed_before_its_line_is_found_and_then_recorded(
    tmp_path: Path, capsys
) -> None:
    """A command killed between saving its work and writing its line (a few milliseconds
    at the end of a scan or a purge) leaves its change marked: once its process is gone,
    verify names it, and the next command on the deployment records it in its own line."""
    out = tmp_path / "out"
    assert scan_cli(MALE_ONLY, out=out) == 0
    # Another process saves a change and ends without a line, as a killed purge would;
    # while it runs, its change is its own line's business (a scan runs for hours).
    changer = another_process_changes(out / "d", "and wait")
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 0
    assert main(["grid", str(out)]) == 0
    assert "unrecorded_changes" not in json.loads((out / AUDIT_FILE).read_text().splitlines()[-1])
    changer.communicate("")
    capsys.readouterr()
    assert main(["audit", "verify", str(out)]) == 1
    assert "deployment d: changed at " in capsys.readouterr().err
    assert main(["grid", str(out), "-o", str(tmp_path / "grid.csv")]) == 0
    assert "deployment d was changed at " in capsys.readouterr().err
    last = json.loads((out / AUDIT_FILE).read_text().splitlines()[-1])
    assert [change["deployment"] for change in last["unrecorded_changes"]] == ["d"]
    assert main(["audit", "verify", str(out)]) == 0
    # A command's own changes are its own line's business, not an earlier command's.
    assert scan_cli(FEMALE_AND_MALE, out=out) == 0
    assert "unrecorded_changes" not in json.loads((out / AUDIT_FILE).read_text().splitlines()[-1])
    assert main(["audit", "verify", str(out)]) == 0


def test_a_change_left_unrecorded_is_recorded_by_a_scan_that_overwrites_the_deployment(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert scan_cli(MALE_ONLY, out=out) == 0
    another_process_changes(out / "d")
    assert scan_cli(MALE_ONLY, out=out, options=("--overwrite",)) == 0
    last = json.loads((out / AUDIT_FILE).read_text().splitlines()[-1])
    assert [change["deployment"] for change in last["unrecorded_changes"]] == ["d"]
    assert main(["audit", "verify", str(out)]) == 0
