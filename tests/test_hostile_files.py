"""Every file the tool reads is input: dates at the ends of the calendar, photos that
claim billions of pixels, pipes where files belong, config values of the wrong kind,
names that end in a space, and imports of many bad rows are each refused in one
line (or handled), never a traceback, a hang or a deployment broken for good."""

from __future__ import annotations

import io
import logging
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pandas as pd
import pytest
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_PHOTOS, SAMPLE_WATCHLIST, scan_args, scan_cli

from lfr_batch.cli import main
from lfr_batch.errors import WatchlistError
from lfr_batch.scan import find_background
from lfr_batch.watchlist.model import expiry_text, parse_expiry

PHOTO = SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG of a few bytes whose header claims ``width``×``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")))
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


def run(arguments: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """lfr-batch in a process of its own: a hang fails the test instead of stalling it."""
    return subprocess.run(
        [sys.executable, "-m", "lfr_batch", *arguments], capture_output=True, text=True, timeout=timeout
    )


# --- dates at the ends of the calendar ---------------------------------------------------


def source_of_f1_expiring(tmp_path: Path, expires: str) -> Path:
    """A watchlist source of one subject, f1, with one photo and this expiry."""
    source = tmp_path / "source"
    (source / "f1").mkdir(parents=True)
    (source / "f1" / "1.png").write_bytes(PHOTO.read_bytes())
    (source / "subjects.csv").write_text(f"subject_id,expires\nf1,{expires}\n")
    return source


def test_an_expiry_of_9999_12_31_means_never(tmp_path: Path, capsys) -> None:
    source = source_of_f1_expiring(tmp_path, "9999-12-31")
    listed = tmp_path / "w.pkl"
    assert main(["watchlist", "build", str(source), "-o", str(listed), "-q", "--no-footage-views"]) == 0
    assert main(["watchlist", "info", str(listed)]) == 0
    assert "expired: 0" in capsys.readouterr().out
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path / "out", watchlist=listed) == 0
    assert pd.read_csv(tmp_path / "out" / "d" / "deployment.csv").iloc[0]["expired_subjects_excluded"] == 0


def test_an_expiry_before_1900_is_one_line(tmp_path: Path, capsys) -> None:
    source = source_of_f1_expiring(tmp_path, "0001-01-01T00:00:00+14:00")
    assert main(["watchlist", "build", str(source), "-o", str(tmp_path / "w.pkl"), "-q"]) == 1
    assert "line 2: expiry '0001-01-01T00:00:00+14:00' is not between 1900 and 2999" in one_line_error(capsys)


def test_a_list_whose_every_subject_has_expired_is_refused_before_a_scan(tmp_path: Path, capsys) -> None:
    source = source_of_f1_expiring(tmp_path, "2020-01-01")
    listed = tmp_path / "w.pkl"
    assert main(["watchlist", "build", str(source), "-o", str(listed), "--no-footage-views"]) == 0
    err = capsys.readouterr().err
    assert (
        "subjects.csv: 1 subject has already expired, and will not be matched by a scan from now on: f1"
        in err
    )
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path / "out", watchlist=listed) == 1
    assert (
        f"every subject of watchlist {listed} has expired (the last at 2020-01-02T00:00:00+00:00)"
        in one_line_error(capsys)
    )
    assert not (tmp_path / "out" / "d").exists()


@pytest.mark.parametrize(
    ("written", "kept"),
    [("2026-W53", None), ("20261231", None), ("2099-12-31T10:00", "2099-12-31T10:00:00+00:00")],
)
def test_an_expiry_is_a_calendar_date_and_a_time_without_a_zone_is_utc(
    written: str, kept: str | None
) -> None:
    if kept is None:
        with pytest.raises(WatchlistError, match=r"is not an ISO 8601 date \(YYYY-MM-DD\) or date-time"):
            parse_expiry(written)
    else:
        assert expiry_text(parse_expiry(written)) == kept


def test_footage_named_at_the_end_of_the_calendar_leaves_the_deployment_working(tmp_path: Path) -> None:
    named = tmp_path / "cam_99991231T235959.mp4"
    named.write_bytes(FEMALE_AND_MALE.read_bytes())
    out = tmp_path / "out"
    assert scan_cli(named, out=out) == 0
    assert pd.read_csv(out / "d" / "videos.csv", keep_default_na=False)["start"].tolist() == [""]
    assert scan_cli(named, MALE_ONLY, out=out) == 0
    assert main(["grid", str(out)]) == 0
    assert main(["purge", str(out), "--older-than", "1h", "--yes"]) == 0


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00", "1899-12-31T23:00:00"])
def test_a_start_out_of_the_calendar_is_one_line(tmp_path: Path, capsys, start: str) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "out", options=("--start", start)) == 2
    assert "is not between 1900 and 2999" in one_line_error(capsys)
    assert not (tmp_path / "out" / "d").exists()


# --- photos that claim too many pixels ---------------------------------------------------


def test_a_photo_claiming_60000_by_60000_pixels_is_refused_in_search(tmp_path: Path, capsys) -> None:
    bomb = png_header(tmp_path / "bomb.png", 60000, 60000)
    assert bomb.stat().st_size < 100
    arguments = [
        "search",
        str(bomb),
        "--footage",
        str(MALE_ONLY),
        "--case",
        "c",
        "--out",
        str(tmp_path / "cases"),
    ]
    assert main(arguments) == 1
    assert "60000×60000 pixels, more than the 64 megapixels" in one_line_error(capsys)


def test_a_photo_claiming_too_many_pixels_is_one_rejected_photo_of_a_build(tmp_path: Path, capsys) -> None:
    source = tmp_path / "source"
    (source / "f1").mkdir(parents=True)
    (source / "f1" / "1.png").write_bytes(PHOTO.read_bytes())
    png_header(source / "f1" / "bomb.png", 60000, 60000)
    png_header(source / "f1" / "big.png", 32000, 32000)
    began = time.perf_counter()
    assert main(["watchlist", "build", str(source), "-o", str(tmp_path / "w.pkl"), "--no-footage-views"]) == 0
    assert time.perf_counter() - began < 60
    captured = capsys.readouterr()
    assert "bomb.png: 60000×60000 pixels" in captured.err
    assert "big.png: 32000×32000 pixels" in captured.err
    assert "1 subjects, 1 photos" in captured.out


# --- pipes where files belong --------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


def test_a_pipe_given_as_the_config_is_refused_at_once(tmp_path: Path, fifo: Path) -> None:
    done = run([*scan_args(MALE_ONLY, out=tmp_path / "out"), "--config", str(fifo)], timeout=60)
    assert done.returncode == 2
    assert "is not a regular file (a pipe, socket or device)" in done.stderr


def test_a_pipe_given_as_a_probe_photo_is_refused_at_once(tmp_path: Path, fifo: Path) -> None:
    done = run(["search", str(fifo), "--footage", str(MALE_ONLY), "--case", "c", "--out", str(tmp_path)], 60)
    assert done.returncode == 1
    assert "is not a regular file" in done.stderr


def test_a_pipe_given_to_import_neither_hangs_nor_holds_the_deployment(tmp_path: Path, fifo: Path) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    done = run(["review", str(tmp_path / "d"), "--import", str(fifo)], timeout=60)
    assert done.returncode == 1
    assert "is not a regular file" in done.stderr
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=tmp_path) == 0


def test_dev_zero_as_the_config_is_one_line(tmp_path: Path, capsys) -> None:
    assert main([*scan_args(MALE_ONLY, out=tmp_path / "out"), "--config", "/dev/zero"]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- option and config values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--segment-seconds", "1e308"), ("--watchlist-max-age", "1e12"), ("--max-false-alert-rate", "1e-300")],
)
def test_options_of_absurd_size_are_one_line(tmp_path: Path, capsys, option: str, value: str) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "out", options=(option, value)) == 2
    assert f"{option} {float(value)!r} must be" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("watchlist = 5", "watchlist must be text, not 5"),
        ("workers = 1.5", "--workers 1.5 must be a whole number from 1 to 1024"),
        ("fps = true", "--fps True must be a number over 0"),
        ("keep-distances = 1", "keep-distances must be true or false, not 1"),
        ("location = " + "[" * 5000 + "]" * 5000, "nests arrays or tables too deeply"),
    ],
)
def test_config_values_of_the_wrong_kind_are_one_line(
    tmp_path: Path, capsys, text: str, message: str
) -> None:
    config = tmp_path / "scan.toml"
    listed = "" if text.startswith("watchlist") else f'watchlist = "{SAMPLE_WATCHLIST}"\n'
    config.write_text(f'[scan]\n{listed}deployment = "t"\n{text}\n')
    assert main(["scan", "--config", str(config), "--out", str(tmp_path / "out"), str(MALE_ONLY)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert message in err.splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_a_config_that_is_not_utf8_is_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "scan.toml"
    config.write_bytes('[scan]\nlocation = "Café"\n'.encode("latin-1"))
    assert main(["scan", "--config", str(config), "--out", str(tmp_path / "out"), str(MALE_ONLY)]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["d ", "d\n", "d.", " d"])
def test_a_name_ending_or_starting_in_a_space_or_newline_is_refused(
    tmp_path: Path, capsys, name: str
) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path, deployment=name) == 2
    assert "must start with a letter or digit" in one_line_error(capsys)
    arguments = ["search", str(PHOTO), "--footage", str(MALE_ONLY), "--case", name, "--out", str(tmp_path)]
    assert main(arguments) == 2
    assert "case name" in capsys.readouterr().err
    assert not [path for path in tmp_path.iterdir() if path.is_dir()]


def test_a_case_named_after_a_scan_deployment_says_so(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    arguments = ["search", str(PHOTO), "--footage", str(MALE_ONLY), "--case", "d", "--out", str(tmp_path)]
    assert main(arguments) == 2
    assert "holds a scan deployment, not a search case" in one_line_error(capsys)


# --- messages --------------------------------------------------------------------------------


def test_an_import_of_many_bad_rows_is_one_short_line(tmp_path: Path, capsys) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    alerts = pd.read_csv(tmp_path / "d" / "alerts.csv", keep_default_na=False, dtype=str)
    many = pd.concat([alerts] * 5000).assign(alert_id=[f"A{n:07d}" for n in range(5000)])
    many.to_csv(tmp_path / "many.csv", index=False)
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "many.csv")]) == 1
    err = one_line_error(capsys)
    assert len(err) < 2000
    assert "5,000 row(s) refused" in err
    assert "and 4,990 more" in err


def test_import_line_numbers_count_blank_lines_and_lines_inside_cells(tmp_path: Path, capsys) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    text = (tmp_path / "d" / "alerts.csv").read_text(encoding="utf-8-sig")
    header, row = text.splitlines()[:2]
    noted = row.replace(",,,,", ',true_confirmed,,,"seen\nat the\ngate"')
    bad = row.replace("A00001", "A00099")
    (tmp_path / "edited.csv").write_text(f"{header}\n\n{noted}\n\n{bad}\n")
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "edited.csv")]) == 1
    # The header, a blank line, a row of three lines, a blank line: the bad row is line 7.
    assert "line 7: unknown alert id 'A00099'" in one_line_error(capsys)


def test_empty_video_files_are_each_a_failed_video_not_already_scanned(tmp_path: Path, capsys) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    for number in range(20):
        (footage / f"cam{number:02d}.mp4").touch()
    (footage / "real.mp4").write_bytes(MALE_ONLY.read_bytes())  # else nothing scanned: no deployment
    assert scan_cli(footage, out=tmp_path / "out") == 3
    out = capsys.readouterr().out
    assert "0 already scanned" in out
    videos = pd.read_csv(tmp_path / "out" / "d" / "videos.csv")
    assert len(videos) == 21
    assert videos["status"].value_counts().to_dict() == {"failed": 20, "ok": 1}


def test_an_input_that_is_a_link_in_a_loop_says_so(tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    assert scan_cli(loop, out=tmp_path / "out") == 1
    assert "is a link that leads nowhere, or round in a loop" in one_line_error(capsys)
    assert scan_cli(MALE_ONLY, out=tmp_path / "out", watchlist=loop) == 1
    assert "is a link that leads round in a loop" in one_line_error(capsys)


# --- names that are not UTF-8, and outputs that are lfr-batch's own ----------------------


def test_a_video_whose_name_is_not_utf8_is_passed_over_and_the_rest_scanned(tmp_path: Path) -> None:
    # OpenCV crashes the process on such a name: in a process of its own, a crash fails here.
    footage = tmp_path / "footage"
    footage.mkdir()
    (footage / os.fsdecode(b"\xff\xfe.mp4")).write_bytes(MALE_ONLY.read_bytes())
    (footage / "cam.mp4").write_bytes(FEMALE_AND_MALE.read_bytes())
    done = run(scan_args(footage, out=tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "skipped 1 video whose name is not UTF-8, which OpenCV cannot open (rename it)" in done.stderr
    assert "\\xff\\xfe.mp4" in done.stderr
    scanned = pd.read_csv(tmp_path / "out" / "d" / "videos.csv")["video"]
    assert scanned.str.endswith("cam.mp4").tolist() == [True]


def test_what_a_background_folder_passes_over_is_said_to_be_the_background(tmp_path: Path, caplog) -> None:
    background = tmp_path / "site"
    background.mkdir()
    (background / os.fsdecode(b"\xff.mp4")).write_bytes(b"")
    (background / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (background / "tuesday.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="lfr_batch"):
        assert find_background((background,)) == [background / "tuesday.mp4"]
    assert [record.getMessage().split(" (")[0].split(":")[:2] for record in caplog.records] == [
        ["--background", " skipped 1 video whose name is not UTF-8, which OpenCV cannot open"],
        ["--background", " skipped 1 link"],
    ]


def test_a_video_reached_through_a_name_that_is_not_utf8_is_refused_not_crashed_on(tmp_path: Path) -> None:
    folder = tmp_path / os.fsdecode(b"caf\xe9")
    folder.mkdir()
    (folder / "cam.mp4").write_bytes(MALE_ONLY.read_bytes())
    (tmp_path / "link.mp4").symlink_to(folder / "cam.mp4")
    through_link = run(scan_args(tmp_path / "link.mp4", out=tmp_path / "out"))
    assert through_link.returncode == 1, through_link.stderr
    assert "caf\\xe9/cam.mp4: a name not in UTF-8 (OpenCV cannot open it): rename it" in through_link.stderr
    # The current folder's own name: the argument is UTF-8, the path opened is not.
    in_folder = subprocess.run(
        [sys.executable, "-m", "lfr_batch", *scan_args(Path("cam.mp4"), out=tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert in_folder.returncode == 1, in_folder.stderr
    assert "a name not in UTF-8" in in_folder.stderr
    assert not (tmp_path / "out" / "d").exists()


@pytest.mark.parametrize("option", ["--location", "--deployment", "INPUT"])
def test_an_argument_that_is_not_utf8_is_refused_in_one_line_before_anything_is_written(
    tmp_path: Path, option: str, capsys
) -> None:
    undecodable = os.fsdecode(b"caf\xe9")
    arguments = scan_args(MALE_ONLY, out=tmp_path / "out")
    if option == "INPUT":
        arguments[arguments.index(str(MALE_ONLY))] = str(tmp_path / undecodable)
    elif option == "--deployment":
        arguments[arguments.index("--deployment") + 1] = undecodable
    else:
        arguments += [option, undecodable]
    assert main(arguments) == 2
    assert "caf\\xe9 is not UTF-8 text: give it in UTF-8" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_closed_stdout_still_leaves_the_scan_audited(tmp_path: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # the reader of a pipe gone, as in `lfr-batch scan ... | head -0`
    try:
        subprocess.run(
            [sys.executable, "-m", "lfr_batch", *scan_args(MALE_ONLY, out=tmp_path / "out")],
            stdout=writer,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert (tmp_path / "out" / "d" / "alerts.csv").is_file()
    verified = run(["audit", "verify", str(tmp_path / "out")])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 lines, chain intact" in verified.stdout


OWN_FILES = ["d/.lfr-batch/state.sqlite", "d/alerts.csv", "d/snapshots/new.pkl", "audit.jsonl", "audit.head"]


def test_no_output_of_any_command_writes_over_lfr_batch_s_own_files(
    tmp_path: Path, two_subject_source: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert scan_cli(MALE_ONLY, out=out) == 0
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    capsys.readouterr()
    for target in [*OWN_FILES, "AUDIT.head"]:  # any case, where grid knows OUT
        assert main(["grid", str(out), "-o", str(out / target)]) == 2
        assert f"{out / target} is lfr-batch's own" in one_line_error(capsys)
    for target in OWN_FILES:
        assert main(["watchlist", "build", str(two_subject_source), "-o", str(out / target)]) == 2
        assert "is lfr-batch's own (a deployment's or a case's files, or an audit log)" in one_line_error(
            capsys
        )
        assert main(["--log-file", str(out / target), "grid", str(out), "-o", str(tmp_path / "g.csv")]) == 2
        assert "keep the log elsewhere" in one_line_error(capsys)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert main(["grid", str(out), "-o", str(out / "grid.csv")]) == 0
    (out / "grids").mkdir()  # a folder of the user's own beside the deployments
    assert main(["grid", str(out), "-o", str(out / "grids" / "november.csv")]) == 0
    assert main(["--log-file", str(out / "grids" / "grid.log"), "grid", str(out)]) == 0


def test_an_audit_log_not_yet_written_or_a_loop_of_links_is_no_output(tmp_path: Path, capsys) -> None:
    fresh = tmp_path / "fresh"  # a reports folder whose log is not written yet
    fresh.mkdir()
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    for arguments, message in (
        (["--log-file", str(fresh / "audit.jsonl"), "grid", str(fresh)], "is lfr-batch's own"),
        (["grid", str(fresh), "-o", str(tmp_path / "loop-a")], "name another file"),
        (["--log-file", str(tmp_path / "loop-a"), "grid", str(fresh)], "keep the log elsewhere"),
        (["watchlist", "build", str(tmp_path), "-o", "-"], "- (stdout): this command writes a file"),
        (
            ["grid", str(fresh), "-o", "/dev/null"],
            "not a regular file (a device, pipe or socket) (for stdout, give -)",
        ),
    ):
        assert main(arguments) == 2, arguments
        assert message in one_line_error(capsys)
    assert list(fresh.iterdir()) == []
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("target", ["f1/1.png", "subjects.csv", "list.pkl"])
def test_a_watchlist_is_not_written_inside_its_own_source(
    tmp_path: Path, two_subject_source: Path, target: str, capsys
) -> None:
    before = {path: path.read_bytes() for path in two_subject_source.rglob("*") if path.is_file()}
    assert main(["watchlist", "build", str(two_subject_source), "-o", str(two_subject_source / target)]) == 2
    assert "lies inside SOURCE" in one_line_error(capsys)
    assert {path: path.read_bytes() for path in two_subject_source.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("target", ["/dev/null", "fifo", "folder", ""])
def test_an_output_that_is_no_regular_file_is_refused(tmp_path: Path, target: str, capsys) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    output = target if target in ("/dev/null", "") else str(tmp_path / target)
    assert main(["watchlist", "build", str(tmp_path / "photos"), "-o", output]) == 2
    err = one_line_error(capsys)
    assert {"": "an empty path", "folder": "is a directory"}.get(target, "is not a regular file") in err
    assert Path("/dev/null").is_char_device()


def font_lacks(text: str) -> bool:
    """Whether matplotlib's font here lacks a character of ``text`` (its own DejaVu Sans
    lacks Japanese; a machine may have a font that has it)."""
    import warnings

    from matplotlib.figure import Figure

    figure = Figure()
    figure.text(0, 0, text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(io.BytesIO(), format="png")
    return any("missing from font" in str(warning.message) for warning in caught)


def test_a_video_named_in_another_script_warns_once_and_quiet_means_quiet(tmp_path: Path) -> None:
    named = tmp_path / "カメラ 名前.mp4"
    named.write_bytes(FEMALE_AND_MALE.read_bytes())
    done = run(scan_args(named, out=tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "UserWarning" not in done.stderr
    assert done.stderr.count("timeline.png shows some characters of the video names as boxes") == (
        1 if font_lacks("カメラ") else 0
    )
    quiet = run([*scan_args(named, out=tmp_path / "out", deployment="q"), "-q"])
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert "カメラ 名前.mp4" in (tmp_path / "out" / "q" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--supplier", "X"], "--supplier goes with --summary"),
        (["--from", "2026-11-30", "--to", "2026-11-01"], "--from 2026-11-30 comes after --to 2026-11-01"),
        (["--to", "1899-01-01"], "'--to': '1899-01-01' is not between 1900 and 2999"),
        (["--from", "3000-01-01"], "'--from': '3000-01-01' is not between 1900 and 2999"),
    ],
)
def test_grid_options_that_would_be_ignored_or_find_nothing_are_refused(
    tmp_path: Path, options: list[str], message: str, capsys
) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path) == 0
    capsys.readouterr()
    assert main(["grid", str(tmp_path), *options]) == 2
    assert message in one_line_error(capsys)


@pytest.mark.parametrize("command", ["scan", "search"])
def test_an_empty_out_folder_is_refused_not_taken_for_the_current_one(
    tmp_path: Path, command: str, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = (
        scan_args(MALE_ONLY, out=tmp_path)
        if command == "scan"
        else ["search", str(PHOTO), "--footage", str(MALE_ONLY), "--case", "c", "--out", str(tmp_path)]
    )
    arguments[arguments.index("--out") + 1] = ""
    assert main(arguments) == 2
    assert "an empty path (an unset variable in a script?)" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_grid_output_is_refused(tmp_path: Path, capsys) -> None:
    assert scan_cli(MALE_ONLY, out=tmp_path / "out") == 0
    capsys.readouterr()
    assert main(["grid", str(tmp_path / "out"), "-o", ""]) == 2
    assert "an empty path (an unset variable in a script?)" in one_line_error(capsys)


def test_an_import_row_with_more_cells_than_its_header_is_refused_not_cut(tmp_path: Path, capsys) -> None:
    assert scan_cli(FEMALE_AND_MALE, out=tmp_path) == 0
    text = (tmp_path / "d" / "alerts.csv").read_text(encoding="utf-8-sig")
    header, row = text.splitlines()[:2]
    before = (tmp_path / "d" / "alerts.csv").read_bytes()
    # A note with a comma, typed where the quotes were lost: the note would have been cut.
    answered = f"{row[: -len(',,,')]}true_confirmed,,PC 1,seen, then left"
    (tmp_path / "edited.csv").write_text(f"{header}\n{answered}\n")
    assert main(["review", str(tmp_path / "d"), "--import", str(tmp_path / "edited.csv")]) == 1
    err = one_line_error(capsys)
    assert f"has {header.count(',') + 2} cells at line 2 under a header of {header.count(',') + 1}" in err
    assert "(a delimiter inside a cell that is not quoted?)" in err
    assert (tmp_path / "d" / "alerts.csv").read_bytes() == before
