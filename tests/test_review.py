"""Review, the published grid, retention and the audit log."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_PHOTOS, scan_cli

from lfr_batch.cli import cli, main
from lfr_batch.records import audit
from lfr_batch.records.grid import PUBLISHED_COLUMNS
from lfr_batch.terminal import PREVIEW_WIDTH, terminal_preview
from lfr_batch.watchlist.builder import build_watchlist
from lfr_batch.watchlist.store import save_watchlist


@pytest.fixture
def reviewed_out(tmp_path: Path, walk_video: Path) -> Path:
    """Two deployments: 'a' (two alerts on F1, in two clips) and 'b' (no alert)."""
    assert (
        scan_cli(FEMALE_AND_MALE, walk_video, out=tmp_path, deployment="a", options=("--workers", "1")) == 0
    )
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment="b", options=("--workers", "1")) == 0
    return tmp_path


def record(folder: Path) -> pd.Series:
    return pd.read_csv(folder / "deployment.csv", keep_default_na=False).iloc[0]


def test_review_in_the_terminal_saves_each_answer_and_resumes(reviewed_out: Path) -> None:
    folder = reviewed_out / "a"
    runner = CliRunner()
    first = runner.invoke(
        cli, ["review", str(folder), "--reviewer", "PC 7", "--no-preview"], input="fc\nn\nwrong person\nq\n"
    )
    assert first.exit_code == 0, first.output
    assert "alert A00001" in first.output
    assert str(folder / "snapshots" / "A00001.jpg") in first.output
    assert str(folder / "watchlist_photos" / "intel_actor_f1-6f69a1421696.jpg") in first.output
    assert "1 answer saved; 1 alert still to review" in first.output
    alerts = pd.read_csv(folder / "alerts.csv", keep_default_na=False)
    assert alerts.loc[0, ["outcome", "engagement", "reviewer", "notes"]].tolist() == [
        "false_confirmed",
        "no_action",
        "PC 7",
        "wrong person",
    ]
    figures = record(folder)
    assert (figures["false_alerts_confirmed"], figures["no_action"]) == (1, 1)
    assert figures["false_alert_rate_percent"] == pytest.approx(100 * 1 / figures["faces_seen"], abs=1e-4)

    second = runner.invoke(
        cli, ["review", str(folder), "--no-preview"], input="tc\na\n\n", env={"USER": "PC 8"}
    )
    assert second.exit_code == 0, second.output
    assert "alert A00001" not in second.output
    assert "alert A00002" in second.output
    figures = record(folder)
    assert (figures["true_alerts_confirmed"], figures["arrests"], figures["false_alerts_confirmed"]) == (
        1,
        1,
        1,
    )
    assert pd.read_csv(folder / "alerts.csv", keep_default_na=False)["reviewer"].tolist() == ["PC 7", "PC 8"]


def test_review_goes_back_to_an_answered_alert_and_replaces_its_answer(reviewed_out: Path, capsys) -> None:
    """'b' returns to the alert before; --alert reopens one answered in an earlier session;
    the reviewer given is recorded and never asked for, so no note can become a name."""
    folder = reviewed_out / "a"
    runner = CliRunner()
    walked = runner.invoke(
        cli,
        ["review", str(folder), "--reviewer", "PC 7", "--no-preview"],
        input="fc\nn\nfirst look\nb\ntc\na\nsecond look\nq\n",
    )
    assert walked.exit_code == 0, walked.output
    assert "reviewer" not in walked.output.replace("PC 7", "")
    recorded = "recorded: false_confirmed, no_action, PC 7, first look (a new answer replaces it)"
    assert recorded in walked.output
    first = pd.read_csv(folder / "alerts.csv", keep_default_na=False).iloc[0]
    assert (first["outcome"], first["engagement"], first["reviewer"], first["notes"]) == (
        "true_confirmed",
        "arrest",
        "PC 7",
        "second look",
    )
    assert "2 answers saved; 1 alert still to review" in walked.output

    reopened = runner.invoke(
        cli,
        ["review", str(folder), "--alert", "A00001", "--reviewer", "PC 9", "--no-preview"],
        input="fu\n-\nnot her after all\n",
    )
    assert reopened.exit_code == 0, reopened.output
    assert "[1/1] alert A00001" in reopened.output
    first = pd.read_csv(folder / "alerts.csv", keep_default_na=False).iloc[0]
    assert (first["outcome"], first["reviewer"]) == ("false_unconfirmed", "PC 9")
    assert main(["review", str(folder), "--alert", "A09999"]) == 1
    assert "no alert A09999" in capsys.readouterr().err


def test_the_terminal_preview_labels_both_pictures(tmp_path: Path) -> None:
    snapshot, photo = tmp_path / "snapshot.jpg", tmp_path / "photo.jpg"
    for path in (snapshot, photo):
        cv2.imwrite(str(path), np.full((40, 30, 3), 128, np.uint8))
    preview = terminal_preview([("footage snapshot", snapshot), ("watchlist photo", photo)])
    first_line = preview.splitlines()[0]
    assert first_line.split() == ["footage", "snapshot", "watchlist", "photo"]
    assert first_line.index("watchlist") == PREVIEW_WIDTH + 2


def edited_alerts(folder: Path, tmp_path: Path, **columns: list[str]) -> Path:
    """A copy of the folder's alerts.csv with these columns filled in, as a reviewer saves it."""
    edited = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    for column, values in columns.items():
        edited[column] = values
    edited.to_csv(tmp_path / "edited.csv", index=False)
    return tmp_path / "edited.csv"


def test_reviews_imported_from_a_spreadsheet(reviewed_out: Path, tmp_path: Path, capsys) -> None:
    folder = reviewed_out / "a"
    edited = edited_alerts(
        folder,
        tmp_path,
        outcome=["true_unconfirmed", "false_unconfirmed"],
        engagement=["other_disposal", ""],
        notes=["=spoke to her", ""],
    )
    assert main(["review", str(folder), "--import", str(edited)]) == 0
    assert "2 reviews recorded" in capsys.readouterr().out
    figures = record(folder)
    assert (
        figures["true_alerts_unconfirmed"],
        figures["false_alerts_unconfirmed"],
        figures["other_disposals"],
    ) == (1, 1, 1)
    assert pd.read_csv(folder / "alerts.csv", keep_default_na=False)["notes"].tolist() == [
        "'=spoke to her",
        "",
    ]


@pytest.mark.parametrize(("reviewer", "recorded"), [(("--reviewer", "PC 5"), "PC 5"), ((), None)])
def test_an_imported_answer_with_no_reviewer_is_recorded_under_who_imported_it(
    reviewed_out: Path, tmp_path: Path, reviewer: tuple[str, ...], recorded: str | None
) -> None:
    folder = reviewed_out / "a"
    edited = edited_alerts(
        folder,
        tmp_path,
        outcome=["true_confirmed", "false_confirmed"],
        engagement=["arrest", "no_action"],
        reviewer=["  ", "PC 6"],
    )
    assert main(["review", str(folder), "--import", str(edited), *reviewer]) == 0
    kept = pd.read_csv(folder / "alerts.csv", keep_default_na=False)["reviewer"].tolist()
    assert kept == [recorded or audit.user_name(), "PC 6"]
    assert kept[0].strip()


def test_review_run_inside_the_deployment_folder_logs_where_a_review_elsewhere_would(
    reviewed_out: Path, tmp_path: Path, monkeypatch
) -> None:
    folder = reviewed_out / "a"
    edited = edited_alerts(folder, tmp_path, outcome=["true_confirmed", ""], reviewer=["PC 4", ""])
    monkeypatch.chdir(folder)
    assert main(["review", ".", "--import", str(edited)]) == 0
    assert not (folder / "audit.jsonl").exists()
    last = json.loads((reviewed_out / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert (last["command"], last["deployment"]) == ("review --import", "a")
    assert main(["audit", "verify", str(reviewed_out)]) == 0


def test_an_imported_answer_is_refused_where_nobody_is_named_as_its_reviewer(
    reviewed_out: Path, tmp_path: Path, capsys
) -> None:
    folder = reviewed_out / "a"
    before = (folder / "deployment.csv").read_bytes()
    edited = edited_alerts(folder, tmp_path, outcome=["true_confirmed", ""], engagement=["arrest", ""])
    arguments = ["review", str(folder), "--import", str(edited), "--reviewer", " "]
    assert main(arguments) == 1
    assert (
        "line 2: alert A00001 has no reviewer for its outcome (fill the reviewer column"
        in capsys.readouterr().err
    )
    assert (folder / "deployment.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "maybe"}, "line 2: alert A00001: outcome 'maybe' is not one of"),
        ({"engagement": "caution"}, "line 2: alert A00001: engagement 'caution' is not one of"),
        ({"alert_id": "A00099"}, "line 2: unknown alert id 'A00099'"),
        ({"subject_id": "someone_else"}, "line 2: alert A00001 does not match the scan (subject_id changed)"),
        (
            {"video": "", "subject_id": ""},
            "line 2: alert A00001 does not match the scan (video empty, subject_id empty: a row cut short?)",
        ),
    ],
)
def test_a_bad_row_is_refused_and_nothing_is_lost(
    reviewed_out: Path, tmp_path: Path, capsys, change, message
) -> None:
    folder = reviewed_out / "a"
    edited = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    edited["outcome"] = ["true_confirmed", "false_confirmed"]
    edited.to_csv(tmp_path / "good.csv", index=False)
    assert main(["review", str(folder), "--import", str(tmp_path / "good.csv")]) == 0
    before = (folder / "deployment.csv").read_bytes()
    edited["outcome"] = ["false_unconfirmed", "true_unconfirmed"]
    for column, value in change.items():
        edited.loc[0, column] = value
    edited.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    assert main(["review", str(folder), "--import", str(tmp_path / "bad.csv")]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "nothing imported" in err
    assert (folder / "deployment.csv").read_bytes() == before


def test_grid_has_a_row_per_deployment_in_published_order_and_totals(reviewed_out: Path, capsys) -> None:
    main(["review", str(reviewed_out / "a"), "--import", str(reviewed_out / "a" / "alerts.csv")])
    assert main(["grid", str(reviewed_out), "-o", str(reviewed_out / "grid.csv")]) == 0
    grid = pd.read_csv(reviewed_out / "grid.csv", keep_default_na=False)
    assert list(grid.columns) == list(PUBLISHED_COLUMNS)
    assert grid["deployment"].tolist() == ["a", "b", "TOTAL"]
    totals = grid.iloc[-1]
    assert totals["total_alerts"] == 2
    assert totals["faces_seen"] == grid["faces_seen"].iloc[:2].sum()
    # Both scanned at auto cuts: the total expects what each did, weighed by its faces seen.
    assert grid["threshold_mode"].tolist()[:2] == ["auto", "auto"]
    each = grid.iloc[:2]
    rates = each["expected_false_alert_rate_percent"]
    weighed = (rates * each["faces_seen"]).sum() / each["faces_seen"].sum()
    assert totals["expected_false_alert_rate_percent"] == pytest.approx(weighed, rel=1e-3)

    capsys.readouterr()
    assert main(["grid", str(reviewed_out), "--summary", "--supplier", "Example Supplier Ltd"]) == 0
    text = capsys.readouterr().out
    assert "Deployments: 2" in text
    assert "Alerts (people alerted): 2, of 1 different watchlist subjects" in text
    assert "Watchlist size: 1 to 1 subjects per deployment" in text
    assert "Suspected of an offence" in text
    assert "supplier: Example Supplier Ltd" in text
    assert "lfr-batch, version" in text
    assert f"(expected at the thresholds used: {totals['expected_false_alert_rate_percent']:g}%)" in text


def test_grid_date_range_and_bad_dates(reviewed_out: Path, capsys) -> None:
    # The walk clip's name dates deployment 'a' 2026-11-26; 'b' has no date, so a range leaves it out.
    assert main(["grid", str(reviewed_out), "--from", "2026-11-26", "--to", "2026-11-26"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert [row.split(",")[0] for row in rows] == ["deployment", "a", "TOTAL"]
    assert main(["grid", str(reviewed_out), "--from", "last week"]) == 2
    # A range with no deployment is an error, not an all-zero TOTAL.
    capsys.readouterr()
    assert main(["grid", str(reviewed_out), "--from", "2030-01-01"]) == 1
    assert "no deployments under" in capsys.readouterr().err
    # '-o -' is standard output, as in other tools, not a file named '-'.
    assert main(["grid", str(reviewed_out), "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("deployment,")
    assert not Path("-").exists()


def test_purge_deletes_evidence_but_keeps_the_figures(reviewed_out: Path, capsys) -> None:
    folder = reviewed_out / "a"
    edited = pd.read_csv(folder / "alerts.csv", keep_default_na=False, dtype=str)
    edited["outcome"], edited["engagement"] = ["true_confirmed", "false_confirmed"], ["arrest", ""]
    edited.to_csv(reviewed_out / "edited.csv", index=False)
    main(["review", str(folder), "--import", str(reviewed_out / "edited.csv")])
    figures = record(folder)

    assert main(["purge", str(reviewed_out), "--older-than", "30d"]) == 0  # all recent: nothing goes
    assert len(list((folder / "snapshots").glob("*.jpg"))) == 2
    capsys.readouterr()
    assert main(["purge", str(reviewed_out), "--older-than", "0h", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "a A00002 intel_actor_f1 seen" in out
    assert "1 alert that led to an arrest kept (--include-arrests purges them too)" in out
    assert "would purge 1 alert in 1 deployment" in out
    assert len(list((folder / "snapshots").glob("*.jpg"))) == 2  # a dry run changes nothing
    assert main(["purge", str(reviewed_out), "--older-than", "0h"]) == 0
    assert "purged 1 alert (1 file)" in capsys.readouterr().out
    assert pd.read_csv(folder / "alerts.csv")["engagement"].tolist() == [
        "arrest"
    ]  # the arrest's evidence stays
    assert main(["purge", str(reviewed_out), "--older-than", "0h", "--include-arrests"]) == 0
    assert "purged 1 alert" in capsys.readouterr().out
    assert list((folder / "snapshots").glob("*.jpg")) == []
    assert list((folder / "watchlist_photos").glob("*.jpg")) == []
    assert len(pd.read_csv(folder / "alerts.csv")) == 0
    after = record(folder)
    for column in (
        "total_alerts",
        "true_alerts_confirmed",
        "false_alerts_confirmed",
        "arrests",
        "faces_seen",
        "false_alert_rate_percent",
    ):
        assert after[column] == figures[column], column
    assert main(["purge", str(reviewed_out), "--older-than", "soon"]) == 2


def test_audit_log_chains_every_command_and_detects_tampering(reviewed_out: Path, capsys) -> None:
    main(["grid", str(reviewed_out), "--summary"])
    main(["purge", str(reviewed_out), "--older-than", "30d"])
    log = reviewed_out / "audit.jsonl"
    lines = log.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["command"] for e in entries] == ["scan", "scan", "grid --summary", "purge --older-than 30d"]
    scan_entry = entries[0]
    assert {
        "time",
        "user",
        "host",
        "inputs",
        "watchlist_sha256",
        "threshold",
        "software_version",
        "counts",
    } <= set(scan_entry)
    assert all(len(item["sha256"]) == 64 for item in scan_entry["inputs"])
    # The median of the cuts the scan matched at, as deployment.csv gives it.
    assert scan_entry["threshold"] == pd.read_csv(reviewed_out / "a" / "deployment.csv").iloc[0]["threshold"]
    capsys.readouterr()
    assert main(["audit", "verify", str(reviewed_out)]) == 0
    assert "4 lines, chain intact" in capsys.readouterr().out

    log.write_text("\n".join([lines[0], lines[1].replace('"scan"', '"sc4n"'), *lines[2:]]) + "\n")
    assert main(["audit", "verify", str(reviewed_out)]) == 1
    assert "line 2: edited" in capsys.readouterr().err
    log.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    assert main(["audit", "verify", str(reviewed_out)]) == 1
    assert "line 2: does not follow the line before it" in capsys.readouterr().err


def test_verifying_a_folder_without_a_log_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["audit", "verify", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"lfr-batch: error: no audit log at {tmp_path / 'audit.jsonl'}\n"


def test_a_stale_watchlist_warns_at_scan_time(tmp_path: Path, caplog) -> None:
    source = tmp_path / "src" / "f1"
    source.mkdir(parents=True)
    (source / "1.png").write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / "1.png").read_bytes())
    old = build_watchlist(tmp_path / "src", now=datetime(2026, 1, 1, tzinfo=UTC)).watchlist
    save_watchlist(old, tmp_path / "old.pkl")
    with caplog.at_level(logging.WARNING):
        assert (
            scan_cli(MALE_ONLY, out=tmp_path, watchlist=tmp_path / "old.pkl", options=("--workers", "1")) == 0
        )
    assert "more than 24 hours ago" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert (
            scan_cli(
                MALE_ONLY,
                out=tmp_path / "x",
                watchlist=tmp_path / "old.pkl",
                options=("--workers", "1", "--watchlist-max-age", "100000"),
            )
            == 0
        )
    assert "hours ago" not in caplog.text


def test_purge_on_a_terminal_asks_first_and_no_keeps_everything(reviewed_out: Path, monkeypatch) -> None:
    folder = reviewed_out / "a"
    before = sorted(p.name for p in (folder / "snapshots").iterdir())
    monkeypatch.setattr("lfr_batch.cli.retention.on_terminal", lambda: True)
    runner = CliRunner()
    answered_no = runner.invoke(cli, ["purge", str(reviewed_out), "--older-than", "0h"], input="n\n")
    assert answered_no.exit_code == 1
    assert "Delete the evidence of 2 alerts in 1 deployment? [y/N]" in answered_no.output
    assert sorted(p.name for p in (folder / "snapshots").iterdir()) == before
    answered_yes = runner.invoke(cli, ["purge", str(reviewed_out), "--older-than", "0h"], input="y\n")
    assert answered_yes.exit_code == 0
    assert "purged 2 alerts" in answered_yes.output


def test_input_that_ends_at_a_question_stops_the_review_as_documented(tmp_path: Path) -> None:
    """A review run with nothing to read answers (a script, < /dev/null) ends as an
    interrupt: exit 130, one line, the answers given so far kept; --help lists 130."""
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    done = subprocess.run(
        [sys.executable, "-m", "lfr_batch", "review", str(tmp_path / "d"), "--no-preview", "--reviewer", "X"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 130
    assert done.stderr.strip().splitlines() == ["lfr-batch: interrupted"]
    alerts = pd.read_csv(tmp_path / "d" / "alerts.csv", dtype=str, keep_default_na=False)
    assert alerts["outcome"].eq("").all()
    assert "130  interrupted" in CliRunner().invoke(cli, ["--help"]).output
