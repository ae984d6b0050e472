"""What scripts rely on: --json objects, -q and -v on every command, one-line refusals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import MALE_ONLY, SAMPLE_PHOTOS, SAMPLE_WATCHLIST, scan_args

from lfr_batch.cli import cli, main
from lfr_batch.readers import column_for
from lfr_batch.records.grid import collect


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, walk_video: Path) -> Path:
    out = tmp_path_factory.mktemp("scripted")
    assert main(scan_args(walk_video, out=out, options=("--workers", "1"))) == 0
    return out


def test_scan_json_is_one_object_with_the_run_s_figures(tmp_path: Path, walk_video: Path, capsys) -> None:
    assert main(scan_args(walk_video, out=tmp_path, options=("--workers", "1", "--json"))) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["deployment"] == "d"
    assert (result["videos_scanned"], result["videos_skipped"], result["videos_failed"]) == (1, 0, [])
    assert result["faces_seen"] == 2
    assert result["alerts"] == 1
    cuts = result["cuts"]
    assert cuts["mode"] == "auto"
    assert 0 < cuts["expected_false_alert_rate_percent"] <= 0.01
    assert cuts["cut_min"] <= cuts["cut_median"] <= cuts["cut_max"]
    assert cuts["faces"] <= result["faces_seen"]
    assert all(Path(path).is_file() for path in result["reports"])


def test_grid_summary_json_has_the_published_figures(scanned: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["grid", str(scanned), "--summary", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["deployments"] == 1
    assert figures["faces_seen"] == 2
    assert figures["alerts"] == 1
    assert figures["false_alerts"] == 0
    assert figures["watchlist_categories"] == {"Suspected of an offence": 1}
    assert main(["grid", str(scanned), "--json"]) == 2  # the grid itself is CSV or xlsx
    assert "--json goes with --summary" in capsys.readouterr().err


def test_audit_verify_json_reports_an_intact_and_a_broken_chain(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(scan_args(MALE_ONLY, out=out, options=("--workers", "1"))) == 0
    capsys.readouterr()
    assert main(["audit", "verify", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["lines"], report["intact"], report["problems"]) == (1, True, [])
    log = out / "audit.jsonl"
    log.write_text(log.read_text().replace('"scan"', '"purge"'))
    assert main(["audit", "verify", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["intact"] is False
    assert report["problems"]


def test_watchlist_info_json_and_long_names_keep_their_columns(tmp_path: Path, capsys) -> None:
    source = tmp_path / "src"
    long_name = ("Subject with a very long name that would push every column " * 3).strip()
    for subject in ("a", "b" * 80):
        (source / subject).mkdir(parents=True)
        (source / subject / "1.png").write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / "1.png").read_bytes())
    (source / "subjects.csv").write_text(f"subject_id,name,category\na,{long_name},wanted\n{'b' * 80},Bob,\n")
    watchlist = tmp_path / "w.pkl"
    assert main(["watchlist", "build", str(source), "-o", str(watchlist)]) == 0
    capsys.readouterr()
    assert main(["watchlist", "info", str(watchlist), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["subjects"], info["encodings"], info["footage_views"]) == (2, 4, 2)
    assert [s["photos"] for s in info["subject_list"]] == [1, 1]
    assert {s["subject_id"]: s["name"] for s in info["subject_list"]}["a"] == long_name
    assert main(["watchlist", "info", str(watchlist)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("subject_id"))) :][:3]
    # Every column starts at the same place on each line, and long cells are cut.
    # (the photo count is right-aligned under its header: both end at the same place)
    ends = {line.index("photos") + len("photos") for line in table[:1]}
    ends |= {line.index(" 1 ") + 2 for line in table[1:]}
    assert len(ends) == 1
    assert all(len(line) < 160 for line in table)
    assert "…" in table[1] or "…" in table[2]


def _commands(group=cli, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("command", list(_commands()), ids=" ".join)
def test_every_command_takes_v_q_log_file_and_config(command: tuple[str, ...], capsys) -> None:
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "-q, --quiet" in text
    assert "-v, --verbose" in text
    assert "-vv adds details" in text
    assert "--log-file FILE" in text
    assert "--config FILE" in text
    assert f"[{'.'.join(command)}]" in text or "[watchlist.build]" in text


def test_quiet_keeps_warnings_off_stderr(tmp_path: Path, capsys) -> None:
    loose = ("--workers", "1", "--threshold", "0.6")
    assert main(scan_args(MALE_ONLY, out=tmp_path / "a", options=loose)) == 0
    assert "is looser than" in capsys.readouterr().err
    assert main(scan_args(MALE_ONLY, out=tmp_path / "b", options=(*loose, "-q"))) == 0
    assert capsys.readouterr().err == ""


def test_review_on_the_reports_folder_names_its_deployments(scanned: Path, capsys) -> None:
    assert main(["review", str(scanned)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is a reports folder: name one of its deployments (d)" in err


def test_info_on_the_bundled_watchlist_as_json(capsys) -> None:
    assert main(["watchlist", "info", str(SAMPLE_WATCHLIST), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["auto"]["cut_median"] > 0.3


def test_each_rate_has_one_unit_named_alike_in_csv_xlsx_json_and_html(scanned: Path, capsys) -> None:
    """A rate per face seen is in % wherever it is written, and every header and key says so."""
    capsys.readouterr()
    folder = scanned / "d"
    record = pd.read_csv(folder / "deployment.csv").iloc[0]
    assert record["max_false_alert_rate_percent"] == pytest.approx(0.01)  # --max-false-alert-rate 0.0001
    expected = record["expected_false_alert_rate_percent"]
    assert 0 < expected <= 0.01
    assert main(["grid", str(scanned), "--summary", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["expected_false_alert_rate_percent"] == pytest.approx(expected)
    assert main(["grid", str(scanned), "-o", str(scanned / "grid.xlsx")]) == 0
    grid = pd.read_excel(scanned / "grid.xlsx")
    assert "Expected false alert rate (%)" in grid.columns  # the workbook's header says the unit
    grid = grid.rename(columns=column_for)
    assert grid["expected_false_alert_rate_percent"].iloc[0] == pytest.approx(expected)
    page = (folder / "report.html").read_text(encoding="utf-8")
    shown = re.search(
        r'data-figure="expected_false_alert_rate_percent"><dt>([^<]*)</dt><dd>([^<]*)</dd>', page
    )
    assert shown is not None
    assert shown[1] == "Expected false alert rate (% of faces seen)"
    assert float(shown[2]) == pytest.approx(expected, rel=0.01)
    named = [*record.index, *summary, *grid.columns]
    assert not [name for name in named if name.endswith("_rate")], "a rate whose unit is not named"


def test_the_grid_reads_deployments_written_before_the_rates_named_their_unit(scanned: Path) -> None:
    old = scanned / "old"
    shutil.copytree(scanned / "d", old)
    text = (old / "deployment.csv").read_text(encoding="utf-8-sig")
    (old / "deployment.csv").write_text(
        text.replace("false_alert_rate_percent", "false_alert_rate"), encoding="utf-8-sig"
    )
    grid = collect(scanned)
    rates = ("false_alert_rate_percent", "expected_false_alert_rate_percent")
    values = [tuple(row[rate] for rate in rates) for row in grid.rows]
    assert len(values) == 2
    assert values[0] == values[1]
    assert "" not in values[0]


def test_a_cron_job_keeps_a_timestamped_log_whatever_stderr_shows(tmp_path: Path, capsys) -> None:
    log = tmp_path / "logs" / "nightly.log"
    out = tmp_path / "out"
    options = ("--workers", "1", "-q", "--log-file", str(log))
    assert main(scan_args(MALE_ONLY, out=out, options=options)) == 0
    assert capsys.readouterr().err == ""  # -q: nothing on stderr
    assert main(["review", str(out / "nope"), "--log-file", str(log)]) == 1
    lines = log.read_text(encoding="utf-8").splitlines()
    stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2} lfr-batch: "
    assert all(re.match(stamp, line) for line in lines), lines
    text = "\n".join(lines)
    assert f"INFO: lfr-batch 0.1.0 started: scan {MALE_ONLY}" in text
    assert "frames analysed, 1 faces seen" in text  # INFO in the file even under -q
    assert "INFO: finished: exit status 0" in text
    assert re.search(r"ERROR: error: \S+nope holds no scanned deployment", text)  # the second command's
    assert "INFO: finished: exit status 1" in text


@pytest.mark.parametrize(("flags", "shown"), [((), "WARNING"), (("-v",), "INFO"), (("-vv",), "DEBUG")])
def test_v_and_vv_raise_what_stderr_shows(flags: tuple[str, ...], shown: str, tmp_path: Path, capsys) -> None:
    loose = ("--workers", "1", "--threshold", "0.6")  # warns: looser than the rate allows
    assert main([*flags, *scan_args(MALE_ONLY, out=tmp_path, options=loose)]) == 0
    err = capsys.readouterr().err
    levels = set(re.findall(r"lfr-batch: (DEBUG|INFO|WARNING):", err))
    assert max(levels, key=["WARNING", "INFO", "DEBUG"].index) == shown


def test_the_default_config_file_sets_any_command(tmp_path: Path, monkeypatch, capsys) -> None:
    """$LFR_BATCH_CONFIG names the default file; each command reads its own table."""
    out = tmp_path / "out"
    assert main(scan_args(MALE_ONLY, out=out, options=("--workers", "1", "-q"))) == 0
    config = tmp_path / "config.toml"
    config.write_text(
        f'[grid]\nout_dir = "{out.as_posix()}"\nsummary = true\njson = true\n'
        '[audit.verify]\nquiet = true\n[scan]\nthreshhold = "not read by grid"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LFR_BATCH_CONFIG", str(config))
    capsys.readouterr()
    assert main(["grid"]) == 0
    assert json.loads(capsys.readouterr().out)["deployments"] == 1
    assert main(["audit", "verify", str(out)]) == 0
    monkeypatch.setenv("LFR_BATCH_CONFIG", str(tmp_path / "absent.toml"))
    assert main(["grid"]) == 2  # no default file: OUT_DIR is missing again
    assert "Missing argument" in capsys.readouterr().err


def test_exit_status_tells_whole_partial_and_nothing_scanned(
    tmp_path: Path, walk_video: Path, capsys
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not footage", encoding="utf-8")
    out = tmp_path / "out"
    assert main(scan_args(notes, out=out, deployment="x")) == 4
    err = capsys.readouterr().err
    assert "nothing scanned: the one file given could not be read as video" in err
    assert "deployment x was not created" in err
    assert not (out / "x").exists()
    assert main(scan_args(MALE_ONLY, out=out, deployment="y", options=("--workers", "1", "-q"))) == 0
    capsys.readouterr()
    assert main(["grid", str(out), "--summary", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deployments"] == 1  # y alone: x was never made

    # A second scan of nothing into a deployment that exists keeps it as it was.
    assert main(scan_args(notes, out=out, deployment="y", options=("-q",))) == 3
    assert (out / "y" / "deployment.csv").is_file()
    capsys.readouterr()

    truncated = tmp_path / "cam1_20261126T140000.avi"
    data = walk_video.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    assert main(scan_args(truncated, out=out, deployment="z", options=("--workers", "1", "--json"))) == 3
    result = json.loads(capsys.readouterr().out)
    assert [video["reason"] for video in result["videos_partial"]] == [
        "decoding stopped after 50 of 100 frames"
    ]
    (tmp_path / "empty").mkdir()
    assert main(scan_args(tmp_path / "empty", out=out, deployment="w")) == 4
    assert "no video files" in capsys.readouterr().err
    assert not (out / "w").exists()
