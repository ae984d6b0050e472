"""Inputs that used to leave a deployment broken for good: each is refused in one line
or handled, and the next command on the deployment works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    SAMPLE_PHOTOS,
    SAMPLE_WATCHLIST,
    scan_args,
    scan_cli,
    write_corrupt_video,
)

from lfr_batch.cli import main
from lfr_batch.records.audit import AUDIT_FILE
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.review import MAX_NOTE_CHARS
from lfr_batch.watchlist.builder import build_watchlist
from lfr_batch.watchlist.store import load_watchlist, save_watchlist


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    """One deployment with one alert (F1 in the female-and-male clip)."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    return tmp_path


def test_a_torn_last_audit_line_is_reported_and_the_next_command_works(scanned: Path, capsys) -> None:
    log = scanned / AUDIT_FILE
    with log.open("ab") as handle:
        handle.write(b'{"time": "2026-11-26T1')  # a crash in the middle of a line
    assert scan_cli(MALE_ONLY, out=scanned) == 0
    assert main(["grid", str(scanned), "-o", str(scanned / "grid.csv")]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", str(scanned)]) == 1
    err = capsys.readouterr().err
    assert "line 2: not an audit entry (torn or foreign)" in err
    assert "line 3" not in err  # the chain goes on past the torn line
    lines = log.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["command"] == "grid"


def test_subject_photo_names_are_unique_and_short() -> None:
    photo = DeploymentFolder(Path("reports/d")).subject_photo
    assert photo("a b") != photo("a_b")
    assert len(photo("x" * 240)) <= 100
    assert photo("../../etc/passwd").startswith("watchlist_photos/.._.._etc_passwd-")


def test_review_import_refuses_repeated_alerts_other_deployments_and_long_notes(
    scanned: Path, tmp_path: Path, capsys
) -> None:
    folder = scanned / "d"
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    alerts["outcome"] = "true_confirmed"
    edited = tmp_path / "edited.csv"
    before = (folder / "deployment.csv").read_bytes()
    cases = {
        "alert A00001 again (first on line 2)": pd.concat([alerts, alerts]),
        "a row of deployment 'other', not 'd'": alerts.assign(deployment="other"),
        f"longer than {MAX_NOTE_CHARS:,}": alerts.assign(notes="n" * (MAX_NOTE_CHARS + 1)),
        "a control character (U+001B) in notes": alerts.assign(notes="seen \x1b[2J at the gate"),
        "a control character (U+0007) in the reviewer's name": alerts.assign(reviewer="PC\x07 1"),
    }
    for message, table in cases.items():
        table.to_csv(edited, index=False)
        assert main(["review", str(folder), "--import", str(edited)]) == 1
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1
        assert (folder / "deployment.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("reviewer", "message"),
    [("r" * 5000, "a reviewer name of 5,000 characters is too long"), ("PC\x1b]2;x\x07", "(U+001B)")],
)
def test_a_reviewer_name_no_answer_could_keep_is_refused_before_any_question(
    scanned: Path, reviewer: str, message: str
) -> None:
    folder = scanned / "d"
    before = (folder / "deployment.csv").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "lfr_batch", "review", str(folder), "--reviewer", reviewer, "--no-preview"],
        input="tc\nn\n\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # a bad option
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert "'--reviewer'" in done.stderr
    assert done.stdout == ""  # no alert shown, no question asked
    assert (folder / "deployment.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("reviewer", "typed", "error", "kept"),
    [
        # An empty name is asked for; one holding a control character is asked for again.
        (" ", "PC\x07 1\nPC 1\ntc\nn\n\n", "(U+0007) in the reviewer's name", ("PC 1", "")),
        (
            "PC 1",
            "tc\nn\nseen \x1b[2J at the gate\nseen at the gate\n",
            "(U+001B) in notes",
            ("PC 1", "seen at the gate"),
        ),
    ],
)
def test_an_answer_typed_with_a_control_character_is_asked_for_again(
    scanned: Path, reviewer: str, typed: str, error: str, kept: tuple[str, str]
) -> None:
    folder = scanned / "d"
    done = subprocess.run(
        [sys.executable, "-m", "lfr_batch", "review", str(folder), "--reviewer", reviewer, "--no-preview"],
        input=typed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Error: a control character {error}: leave it out" in done.stdout
    alert = pd.read_csv(folder / "alerts.csv", keep_default_na=False).iloc[0]
    assert (alert["outcome"], alert["reviewer"], alert["notes"]) == ("true_confirmed", *kept)


def test_a_huge_note_typed_into_alerts_csv_does_not_brick_the_deployment(scanned: Path) -> None:
    folder = scanned / "d"
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    alerts["notes"] = "n" * 200_000  # beyond csv's default field limit of 131,072
    alerts.to_csv(folder / "alerts.csv", index=False)
    assert scan_cli(MALE_ONLY, out=scanned) == 0
    assert main(["grid", str(scanned), "-o", str(scanned / "grid.csv")]) == 0


def test_start_times_with_and_without_a_zone_mix(tmp_path: Path, walk_video: Path) -> None:
    """The file name gives a time without a zone; a later run adds a file with a zoned
    --start. Comparing the two used to fail on every later command."""
    assert scan_cli(walk_video, out=tmp_path) == 0
    options = ("--start", "2026-11-26T15:00:00+00:00")
    assert scan_cli(MALE_ONLY, out=tmp_path, options=options) == 0
    record = pd.read_csv(tmp_path / "d" / "deployment.csv", keep_default_na=False).iloc[0]
    assert record["start"] == "2026-11-26T14:00:00"  # shown as given
    assert record["end"] == "2026-11-26T15:00:05.200+00:00"


def test_an_absurd_retention_period_is_one_line(scanned: Path, capsys) -> None:
    assert main(["purge", str(scanned), "--older-than", "99999999999d"]) == 2
    err = capsys.readouterr().err
    assert "longer than any retention period" in err
    assert err.count("\n") == 1


def test_a_subjects_csv_that_is_not_utf8_is_one_line(tmp_path: Path, capsys) -> None:
    source = tmp_path / "source"
    (source / "f1").mkdir(parents=True)
    (source / "f1" / "1.png").write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / "1.png").read_bytes())
    (source / "subjects.csv").write_bytes("subject_id,name\nf1,Zoë\n".encode("latin-1"))
    assert main(["watchlist", "build", str(source), "-o", str(tmp_path / "w.pkl"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "w.pkl").exists()


def test_terminal_escapes_in_a_watchlist_are_shown_not_obeyed(tmp_path: Path, capsys) -> None:
    source = tmp_path / "source"
    (source / "f1").mkdir(parents=True)
    (source / "f1" / "1.png").write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / "1.png").read_bytes())
    (source / "subjects.csv").write_text(
        "subject_id,name\nf1,\x1b]0;pwned\x07Ann \u202eevil\n", encoding="utf-8"
    )
    watchlist = build_watchlist(source).watchlist
    save_watchlist(watchlist, tmp_path / "w.pkl")
    assert main(["watchlist", "info", str(tmp_path / "w.pkl")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "\\x1b]0;pwned\\x07Ann ?evil" in out


def test_a_folder_given_as_the_watchlist_says_so(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path, watchlist=SAMPLE_PHOTOS) == 1
    err = capsys.readouterr().err
    assert "is a folder; give the file 'watchlist build' wrote" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("threshold = [1, 2]", "--threshold [1, 2] must be 'auto' or a number between 0 and 2"),
        ('threshold = "loose"', "--threshold 'loose' must be 'auto' or a number between 0 and 2"),
        ("threshold = true", "--threshold True must be 'auto' or a number between 0 and 2"),
        (
            "start = 2026-11-26",
            "start must be a date and time with its zone, such as 2026-11-26T14:00:00+00:00, not 2026-11-26",
        ),
        ("location = 2026-11-26", "location must be text, not the date or time 2026-11-26"),
        ("location = {a = 1}", "location must be a single value, not dict {'a': 1}"),
        ("inputs = 5", "inputs must be a path or a list of paths"),
        ("inputs = []", "inputs must be a path or a list of paths"),
        ("fps = nan", "--fps nan must be a number over 0"),
    ],
)
def test_config_values_of_the_wrong_shape_are_one_line(tmp_path: Path, capsys, line, message) -> None:
    config = tmp_path / "scan.toml"
    config.write_text(
        f'[scan]\nwatchlist = "watchlists/sample.pkl"\ndeployment = "t"\n{line}\n', encoding="utf-8"
    )
    assert main(["scan", "--config", str(config), "--out", str(tmp_path / "out"), str(MALE_ONLY)]) == 2
    assert message in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("line", "shown"), [('threshold = "auto"', "auto"), ('threshold = "0.45"', "0.450")])
def test_the_threshold_may_be_quoted_in_the_config(tmp_path: Path, capsys, line: str, shown: str) -> None:
    """As --threshold is written on the command line: the word auto, or a number as text."""
    config = tmp_path / "scan.toml"
    config.write_text(
        f'[scan]\nwatchlist = "watchlists/sample.pkl"\ndeployment = "t"\n{line}\n', encoding="utf-8"
    )
    assert main(["scan", "--config", str(config), "--out", str(tmp_path), "--json", str(MALE_ONLY)]) == 0
    cuts = json.loads(capsys.readouterr().out)["cuts"]
    assert cuts["mode"] == ("auto" if shown == "auto" else "fixed")
    assert shown == "auto" or f"{cuts['cut_median']:.3f}" == shown


def test_a_single_input_path_in_the_config_is_one_input(tmp_path: Path) -> None:
    config = tmp_path / "scan.toml"
    config.write_text(
        f'[scan]\nwatchlist = "watchlists/sample.pkl"\ndeployment = "t"\ninputs = "{MALE_ONLY}"\n'
        "start = 2026-11-26T14:00:00Z\nquiet = true\n",
        encoding="utf-8",
    )
    assert main(["scan", "--config", str(config), "--out", str(tmp_path)]) == 0
    videos = pd.read_csv(tmp_path / "t" / "videos.csv", keep_default_na=False)
    assert videos["video"].tolist() == [str(MALE_ONLY)]  # not one input per character
    assert videos["start"].tolist() == ["2026-11-26T14:00:00+00:00"]


def test_with_a_key_lists_are_signed_and_unsigned_or_altered_ones_refused(
    two_subject_source: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("LFR_BATCH_KEY", "correct horse battery staple")
    signed = tmp_path / "signed.pkl"
    assert main(["watchlist", "build", str(two_subject_source), "-o", str(signed), "-q"]) == 0
    assert signed.read_bytes().startswith(b"LFR-BATCH-SIGNED-1 ")
    assert main(["watchlist", "info", str(signed)]) == 0
    assert "signature: checked with $LFR_BATCH_KEY" in capsys.readouterr().out
    assert scan_cli(MALE_ONLY, out=tmp_path / "ok", watchlist=signed) == 0
    capsys.readouterr()

    altered = tmp_path / "altered.pkl"
    data = bytearray(signed.read_bytes())
    data[-40] ^= 1
    altered.write_bytes(bytes(data))
    unsigned = tmp_path / "unsigned.pkl"
    unsigned.write_bytes((Path(__file__).parents[1] / "watchlists" / "sample.pkl").read_bytes())
    for path, message in ((altered, "its signature does not match"), (unsigned, "it is not signed")):
        assert scan_cli(MALE_ONLY, out=tmp_path / path.stem, watchlist=path) == 1
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1
        assert not (tmp_path / path.stem).exists()
    monkeypatch.setenv("LFR_BATCH_KEY", "another key")
    assert scan_cli(MALE_ONLY, out=tmp_path / "other", watchlist=signed) == 1
    assert "signed with another key" in capsys.readouterr().err
    # Without a key, a signed list still loads (its signature unchecked).
    monkeypatch.delenv("LFR_BATCH_KEY")
    assert scan_cli(MALE_ONLY, out=tmp_path / "nokey", watchlist=signed) == 0


def rewrite_chain(lines: list[dict]) -> list[str]:
    """What a forger without the key can do: recompute every hash and link."""
    from lfr_batch.records.audit import GENESIS, line_hash

    previous, written = GENESIS, []
    for entry in lines:
        entry = {**entry, "previous": previous}
        entry["hash"] = line_hash(entry)
        previous = entry["hash"]
        written.append(json.dumps(entry, sort_keys=True))
    return written


def test_with_a_key_forged_rechained_and_truncated_audit_logs_are_found(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("LFR_BATCH_KEY", "s3cret")
    signed = tmp_path / "signed.pkl"
    save_watchlist(load_watchlist(SAMPLE_WATCHLIST), signed, b"s3cret")
    for _ in range(3):
        assert scan_cli(MALE_ONLY, out=tmp_path, watchlist=signed) == 0
    log = tmp_path / AUDIT_FILE
    original = log.read_text(encoding="utf-8")
    assert main(["audit", "verify", str(tmp_path)]) == 0
    entries = [json.loads(line) for line in original.splitlines()]

    forged = [*entries[:2], {**entries[2], "user": "someone else"}]
    log.write_text("\n".join(rewrite_chain(forged)) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "line 3: its HMAC does not match" in err  # a recomputed hash needs a new HMAC
    assert "line 1:" not in err

    removed = [entries[0], entries[2]]  # line 2 taken out, the chain recomputed
    log.write_text("\n".join(rewrite_chain(removed)) + "\n", encoding="utf-8")
    assert main(["audit", "verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "line 2: its HMAC does not match" in err
    assert "truncated: the head records 3 lines, 2 remain" in err

    log.write_text("".join(original.splitlines(keepends=True)[:2]), encoding="utf-8")
    assert main(["audit", "verify", str(tmp_path)]) == 1
    assert "truncated: the head records 3 lines, 2 remain" in capsys.readouterr().err

    # Without the key the chain alone cannot see a cut tail or a recomputed chain.
    log.write_text(original, encoding="utf-8")
    monkeypatch.delenv("LFR_BATCH_KEY")
    assert main(["audit", "verify", str(tmp_path)]) == 0


def test_a_cut_log_with_its_head_rewritten_still_disagrees_with_the_deployment(
    tmp_path: Path, capsys
) -> None:
    for _ in range(3):
        assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    log = tmp_path / AUDIT_FILE
    kept = log.read_text(encoding="utf-8").splitlines(keepends=True)[:2]
    log.write_text("".join(kept), encoding="utf-8")
    last = json.loads(kept[-1])["hash"]
    (tmp_path / "audit.head").write_text(json.dumps({"lines": 2, "hash": last}), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "verify", str(tmp_path)]) == 1
    assert "truncated: deployment d records 3 lines, 2 remain" in capsys.readouterr().err


def test_deployment_names_in_any_alphabet_stay_folder_names(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="Ærø Łódź 2026") == 0
    assert (tmp_path / "Ærø Łódź 2026" / "deployment.csv").is_file()
    refusals = {
        "../escape": "holds '..', which a path reads as the folder above",
        "a..b": "holds '..', which a path reads as the folder above",
        "a/b": "must start with a letter or digit",
        "_hidden": "must start with a letter or digit",
        "tab\there": "must start with a letter or digit",
        "x" * 129: "deployment name of 129 characters is longer than 128",
        "カ" * 90: "takes 270 bytes in UTF-8, more than a folder name may (255)",
    }
    for name, reason in refusals.items():
        assert scan_cli(MALE_ONLY, out=tmp_path, deployment=name) == 2
        assert reason in capsys.readouterr().err
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="x" * 128) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["audit.head", "audit.jsonl", "x" * 128, "Ærø Łódź 2026"]


def test_ffmpeg_noise_stays_off_stderr(tmp_path: Path) -> None:
    broken = write_corrupt_video(tmp_path / "broken.mp4")
    # A fresh process, as a user runs it: FFmpeg reads its log level once per process,
    # so a video opened earlier by another test (with -v) would decide it here.
    environment = {key: value for key, value in os.environ.items() if key != "OPENCV_FFMPEG_LOGLEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "lfr_batch", *scan_args(broken, MALE_ONLY, out=tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 3
    err = done.stderr
    assert "moov atom" not in err
    assert "broken.mp4: skipped" in err
    videos = pd.read_csv(tmp_path / "d" / "videos.csv", keep_default_na=False)
    assert videos["status"].tolist() == ["failed", "ok"]


def test_verbose_after_the_subcommand_and_before_it(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "after", options=("-v",)) == 0
    assert "frames analysed" in capsys.readouterr().err
    assert main(["-v", *scan_args(MALE_ONLY, out=tmp_path / "before")]) == 0
    assert "frames analysed" in capsys.readouterr().err
    assert scan_cli(MALE_ONLY, out=tmp_path / "plain") == 0
    assert "frames analysed" not in capsys.readouterr().err  # each command starts quiet again


def test_photos_given_as_footage_are_pointed_to_the_watchlist(tmp_path: Path, capsys) -> None:
    photo = SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"
    assert scan_cli(photo, out=tmp_path) == 1
    err = capsys.readouterr().err
    assert "1.png is a photo, not footage" in err
    assert "watchlist build" in err
    assert scan_cli(SAMPLE_PHOTOS, out=tmp_path) == 1
    err = capsys.readouterr().err
    assert "no video files in" in err
    assert "only 3 photos" in err
    assert not (tmp_path / "d").exists()


def test_links_that_lead_nowhere_or_round_a_loop_are_listed_not_followed(tmp_path: Path, caplog) -> None:
    footage = tmp_path / "footage"
    (footage / "cam2").mkdir(parents=True)
    shutil.copy(MALE_ONLY, footage / "cam1.mp4")
    (footage / "broken.mp4").symlink_to(footage / "gone.mp4")
    (footage / "loop.mp4").symlink_to(footage / "loop.mp4")
    (footage / "cam2" / "up").symlink_to(footage)
    assert scan_cli(footage, out=tmp_path / "out", options=("--workers", "1")) == 0
    warning = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped 3 links"))
    assert "broken.mp4 (a link that leads nowhere" in warning
    assert "loop.mp4 (a link that leads nowhere, or round in a loop)" in warning
    assert "up (a link to a folder, not followed" in warning
    videos = pd.read_csv(tmp_path / "out" / "d" / "videos.csv")
    assert videos["video"].tolist() == [str(footage / "cam1.mp4")]


def test_one_start_for_several_unnamed_files_or_no_time_zone_is_said(tmp_path: Path, caplog) -> None:
    inputs = (MALE_ONLY, FEMALE_AND_MALE)
    options = ("--workers", "1", "--start", "2026-11-26T14:00:00")
    assert scan_cli(*inputs, out=tmp_path, options=options) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert any("is taken as the first frame of each of 2 files" in message for message in messages)
    assert any("has no time zone: taken as this machine's local time" in message for message in messages)
    caplog.clear()
    zoned = ("--workers", "1", "--start", "2026-11-26T14:00:00+00:00")
    assert scan_cli(MALE_ONLY, out=tmp_path / "one", options=zoned) == 0
    assert not [r for r in caplog.records if "--start" in r.getMessage()]
