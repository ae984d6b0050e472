"""Retrospective search: one person's photos against recorded footage, as a ranked list."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import (
    FEMALE_AND_MALE,
    MALE_ONLY,
    PHOTOS,
    SAMPLE_PHOTOS,
    STRANGERS_WALKING,
    blank_image,
    stored_records,
)
from openpyxl import load_workbook
from test_html_report import WIDTHS, check_layout, dom

from lfr_batch.cli import cli, main
from lfr_batch.readers import column_for
from lfr_batch.records.case_report import shown_count

F1_PHOTOS = sorted((SAMPLE_PHOTOS / "intel_actor_f1").glob("*.png"))
M1_PHOTOS = sorted((PHOTOS / "intel_actor_m1").glob("*.png"))


def search_args(
    photos: list[Path], *footage: Path, out: Path, case: str = "f1", options: tuple = ()
) -> list[str]:
    return [
        "search",
        *map(str, photos),
        *[part for video in footage for part in ("--footage", str(video))],
        "--case",
        case,
        "--out",
        str(out),
        "--workers",
        "1",
        *options,
    ]


def candidates(case_dir: Path) -> pd.DataFrame:
    return pd.read_csv(case_dir / "candidates.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def f1_case(tmp_path_factory: pytest.TempPathFactory, walk_video: Path) -> Path:
    """F1 searched for in the clip she is in, the synthetic walk (F1 and M1) and a clip of strangers."""
    out = tmp_path_factory.mktemp("cases")
    assert main(search_args(F1_PHOTOS, FEMALE_AND_MALE, walk_video, STRANGERS_WALKING, out=out)) == 0
    return out / "f1"


def test_every_appearance_is_above_the_cut_and_ranked_above_every_stranger(f1_case: Path) -> None:
    listed = candidates(f1_case)
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["distance"].is_monotonic_increasing
    above = listed[listed["listed"] == "above the cut"]
    # F1 is in the female-and-male clip and walks through the synthetic one: both found.
    assert {Path(video).name for video in above["video"]} == {
        FEMALE_AND_MALE.name,
        "cam1_20261126T140000.avi",
    }
    assert (above["distance"] <= above["cut"]).all()
    # M1 and the strangers of the walking clip are never above the cut.
    assert not any(Path(v).name == STRANGERS_WALKING.name for v in above["video"])
    walk = listed[listed["video"].str.endswith(".avi")]
    assert len(walk[walk["listed"] == "above the cut"]) == 1  # one walker is one candidate
    # Wall-clock time from the file name, as in alerts.csv.
    assert walk.iloc[0]["first_seen"].startswith("2026-11-26T14:00:0")


def test_only_listed_candidates_keep_evidence(f1_case: Path) -> None:
    listed = candidates(f1_case)
    snapshots = sorted(path.name for path in (f1_case / "snapshots").iterdir())
    assert snapshots == sorted(f"{candidate}.jpg" for candidate in listed["candidate_id"])
    stored = stored_records(f1_case).values()
    assert sorted(a["alert_id"] for record in stored for a in record["alerts"]) == sorted(
        listed["candidate_id"]
    )
    # No encoding of any face in the footage is stored; the only list is the probe's own.
    lists = list(f1_case.rglob("*.lfrlist"))
    assert [path.name for path in lists] == ["probe.lfrlist"]
    images = {path.relative_to(f1_case).as_posix() for path in f1_case.rglob("*.jpg")}
    assert images == {f"snapshots/{name}" for name in snapshots} | {f"probe/probe-{n}.jpg" for n in (1, 2, 3)}


def test_a_shorter_list_deletes_the_evidence_of_those_ranked_off_it(tmp_path: Path, walk_video: Path) -> None:
    options = ("--top", "1", "--below", "0")
    assert main(search_args(F1_PHOTOS, walk_video, out=tmp_path, options=options)) == 0
    first = candidates(tmp_path / "f1")
    assert len(first) == 1
    # More footage with a nearer appearance pushes the first one off the list.
    assert main(search_args(F1_PHOTOS, walk_video, FEMALE_AND_MALE, out=tmp_path, options=options)) == 0
    second = candidates(tmp_path / "f1")
    assert len(second) == 1
    assert [p.name for p in (tmp_path / "f1" / "snapshots").iterdir()] == [
        f"{second.iloc[0]['candidate_id']}.jpg"
    ]
    if second.iloc[0]["candidate_id"] != first.iloc[0]["candidate_id"]:
        assert second.iloc[0]["distance"] <= first.iloc[0]["distance"]
        assert second.iloc[0]["candidate_id"] == "C00002"  # ids are never reused


def test_a_rerun_adds_only_new_footage(tmp_path: Path, walk_video: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, search_args(F1_PHOTOS, walk_video, out=tmp_path, options=("--json",)))
    assert first.exit_code == 0, first.output
    before = json.loads(first.output)
    assert (before["videos_searched"], before["videos_skipped"]) == (1, 0)
    second = runner.invoke(
        cli, search_args(list(reversed(F1_PHOTOS)), walk_video, MALE_ONLY, out=tmp_path, options=("--json",))
    )
    assert second.exit_code == 0, second.output
    after = json.loads(second.output)
    assert (after["videos_searched"], after["videos_skipped"]) == (1, 1)
    kept = {c["candidate_id"]: c["distance"] for c in before["candidates"]}
    assert {
        c["candidate_id"]: c["distance"] for c in after["candidates"] if c["candidate_id"] in kept
    } == kept
    log = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [entry["command"] for entry in log] == ["search", "search"]
    hashed = {Path(item["path"]).name for item in log[1]["inputs"] if item["sha256"]}
    assert {"1.png", "2.png", "3.png", walk_video.name, MALE_ONLY.name} <= hashed


def test_other_photos_for_the_same_case_are_refused(tmp_path: Path, walk_video: Path, capsys) -> None:
    assert main(search_args(F1_PHOTOS, walk_video, out=tmp_path)) == 0
    listed = (tmp_path / "f1" / "candidates.csv").read_bytes()
    capsys.readouterr()
    assert main(search_args(M1_PHOTOS, walk_video, out=tmp_path)) == 2
    assert "case f1 was searched with other probe photos" in capsys.readouterr().err
    assert (tmp_path / "f1" / "candidates.csv").read_bytes() == listed


@pytest.mark.parametrize("make", ["no face", "two faces", "not an image"])
def test_a_probe_photo_without_exactly_one_face_is_refused_in_one_line(
    tmp_path: Path, make: str, capsys
) -> None:
    photo = tmp_path / "probe.png"
    if make == "no face":
        blank_image(photo)
    elif make == "two faces":
        side_by_side = np.hstack([cv2.imread(str(F1_PHOTOS[0])), cv2.imread(str(M1_PHOTOS[0]))])
        cv2.imwrite(str(photo), side_by_side)
    else:
        photo.write_bytes(b"not a png")
    assert main(search_args([F1_PHOTOS[0], photo], MALE_ONLY, out=tmp_path / "cases")) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"probe photo {photo}" in lines[0]
    assert {"no face": "no face found", "two faces": "2 faces found"}.get(make, "") in lines[0]
    assert not (tmp_path / "cases").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--top", "0"), "--top 0 must be a whole number from 1 to 10000"),
        (
            ("--max-false-candidate-rate", "nan"),
            "--max-false-candidate-rate nan must be a number of at least",
        ),
        (("--case", "../up"), "case name '../up'"),
        (("--fps", "inf"), "--fps inf must be a number over 0"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    tmp_path: Path, options: tuple[str, ...], message: str, capsys
) -> None:
    assert main([*search_args(F1_PHOTOS, MALE_ONLY, out=tmp_path), *options]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_list_runs_to_the_cut_then_a_few_below() -> None:
    assert shown_count([0.3, 0.35, 0.5, 0.55, 0.58], cut=0.4, top=50, below=2) == 4
    assert shown_count([0.3, 0.35, 0.5], cut=0.4, top=1, below=5) == 1
    assert shown_count([0.5, 0.55], cut=0.4, top=50, below=0) == 0
    assert shown_count([], cut=0.4, top=50, below=5) == 0


def test_the_case_sheet_shows_probe_and_candidates_side_by_side(f1_case: Path, tmp_path: Path) -> None:
    document = dom(f1_case / "case.html", "", tmp_path)
    listed = candidates(f1_case)
    rows = re.findall(r'<tr data-listed="(above|below)">(.*?)</tr>', document, flags=re.S)
    assert len(rows) == len(listed)
    assert [kind for kind, _cells in rows] == [
        "above" if v == "above the cut" else "below" for v in listed["listed"]
    ]
    for _kind, cells in rows:
        assert len(re.findall(r'alt="candidate C\d{5}"', cells)) == 1
        assert "probe photo" not in cells  # the probe photos are shown once, at the top
    assert len(re.findall(r'alt="probe photo \d"', document)) == len(F1_PHOTOS)
    shown = len(listed) + len(F1_PHOTOS)
    assert f'data-images-shown="{shown}"' in document  # every image decoded
    assert document.count('<figure class="timeline">') == 1  # one timeline for the case
    assert len(re.findall(r'<rect class="marker"[^>]* data-marker="C\d{5}"', document)) == len(listed)
    assert (f1_case / "timeline.png").is_file()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_case_sheet_lays_out_at_common_widths(f1_case: Path, tmp_path: Path, width: int) -> None:
    check_layout(f1_case / "case.html", tmp_path, width)


def test_candidates_xlsx_holds_the_list_typed(f1_case: Path) -> None:
    sheet = load_workbook(f1_case / "candidates.xlsx").active
    header = [column_for(cell.value) for cell in sheet[1]]
    rows = [
        dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    listed = candidates(f1_case)
    assert [row["candidate_id"] for row in rows] == listed["candidate_id"].tolist()
    assert all(isinstance(row["distance"], float) and isinstance(row["rank"], int) for row in rows)


def test_candidates_are_reviewed_in_the_terminal_and_from_the_spreadsheet(
    f1_case: Path, tmp_path: Path, capsys
) -> None:
    case = tmp_path / "f1"
    shutil.copytree(f1_case, case)
    runner = CliRunner()
    answered = runner.invoke(
        cli, ["review", str(case), "--no-preview", "--reviewer", "DS 4"], input="m\nseen on camera 1\nq\n"
    )
    assert answered.exit_code == 0, answered.output
    assert "candidate C0000" in answered.output
    assert "probe photo:" in answered.output
    listed = candidates(case)
    assert listed.loc[0, ["verdict", "reviewer", "notes"]].tolist() == ["match", "DS 4", "seen on camera 1"]
    assert "Match" in (case / "case.html").read_text()

    edited = listed.copy()
    edited.loc[1, "verdict"] = "no_match"
    edited.to_csv(tmp_path / "edited.csv", index=False)
    assert main(["review", str(case), "--import", str(tmp_path / "edited.csv")]) == 0
    assert candidates(case).loc[1, "verdict"] == "no_match"

    edited.loc[1, "verdict"] = "true_confirmed"  # an alert's outcome is not a verdict
    edited.to_csv(tmp_path / "bad.csv", index=False)
    capsys.readouterr()
    assert main(["review", str(case), "--import", str(tmp_path / "bad.csv")]) == 1
    assert "verdict 'true_confirmed' is not one of match, no_match, unsure" in capsys.readouterr().err
    assert candidates(case).loc[1, "verdict"] == "no_match"  # nothing of it was taken


def test_photos_of_two_people_are_warned_of(tmp_path: Path, caplog) -> None:
    assert main(search_args([F1_PHOTOS[0], M1_PHOTOS[0]], MALE_ONLY, out=tmp_path)) == 0
    assert "look like different people" in caplog.text


def test_purge_deletes_old_candidates_and_rewrites_the_case(tmp_path: Path, walk_video: Path) -> None:
    assert main(search_args(F1_PHOTOS, walk_video, out=tmp_path)) == 0
    assert len(candidates(tmp_path / "f1")) == 1
    # The walk was filmed on 2026-11-26 at 14:00 (its file name): older than an hour.
    assert main(["purge", str(tmp_path), "--older-than", "1h", "--yes"]) == 0
    assert candidates(tmp_path / "f1").empty
    assert not list((tmp_path / "f1" / "snapshots").iterdir())
    assert not (tmp_path / "f1" / "alerts.csv").exists()  # a case, not a deployment
    assert sorted(p.name for p in (tmp_path / "f1" / "probe").iterdir()) == [
        "probe-1.jpg",
        "probe-2.jpg",
        "probe-3.jpg",
    ]


def test_a_dask_cluster_gives_the_same_candidates_as_a_local_run(tmp_path: Path, walk_video: Path) -> None:
    distributed = pytest.importorskip("distributed")
    assert main(search_args(F1_PHOTOS, walk_video, FEMALE_AND_MALE, out=tmp_path / "local")) == 0
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        options = ("--scheduler", cluster.scheduler_address)
        assert (
            main(search_args(F1_PHOTOS, walk_video, FEMALE_AND_MALE, out=tmp_path / "dask", options=options))
            == 0
        )
    columns = ["candidate_id", "video", "distance", "best_frame", "listed"]
    local, dask = candidates(tmp_path / "local" / "f1"), candidates(tmp_path / "dask" / "f1")
    assert dask[columns].to_dict("records") == local[columns].to_dict("records")
