"""Generated edits of every kind of file the tool reads, run by test_properties.py in a
process limited to 2 GB: each reader takes the file or refuses it in one line (a
:class:`~lfr_batch.errors.LfrBatchError` or its own refusal), never a traceback, a hang or
a failure in another deployment. Not collected on its own (its name is no test_*.py)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import FEMALE_AND_MALE, MALE_ONLY, SAMPLE_PHOTOS, scan_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_files import png_header

from lfr_batch.errors import ConfigError, LfrBatchError
from lfr_batch.files import RefusedFileError
from lfr_batch.options import OPTIONS
from lfr_batch.readers import DELIMITERS, read_table, read_toml
from lfr_batch.records.grid import collect
from lfr_batch.records.retention import purge
from lfr_batch.records.review import ALERT_FORM, import_reviews, pending, read_edits, write_folder_reports
from lfr_batch.records.shapes import MAX_NUMBER
from lfr_batch.records.state import DeploymentState
from lfr_batch.times import EARLIEST, LATEST, comparable, iso, parse_time
from lfr_batch.vision.photos import MAX_PHOTO_PIXELS, PhotoError, encode_jpeg, load_photo

SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same edits on every run: a failure here is one a person can repeat
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
# Examples of each property: the edits of files (all but the first two) number 1,200.
EXAMPLES = {
    "test_every_option_row_takes_only_finite_values_of_its_kind_in_its_range": 300,
    "test_every_time_the_tool_accepts_can_be_shifted_and_compared": 200,
    "test_any_bytes_are_a_table_or_one_line": 200,
    "test_a_spreadsheet_s_save_in_any_delimiter_and_encoding_reads_back": 200,
    "test_any_bytes_are_a_config_or_one_line": 200,
    "test_any_edit_of_a_photo_s_header_is_a_photo_or_one_line": 200,
    "test_a_photo_s_stated_size_is_checked_before_it_is_decoded": 100,
    "test_any_edit_of_a_state_record_is_read_or_refused_and_never_reaches_another_deployment": 200,
    "test_any_edit_of_an_alerts_csv_is_imported_whole_or_refused_in_one_line": 100,
}
EDITS_OF_FILES = sum(list(EXAMPLES.values())[2:])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def said_in_one_line(error: BaseException, naming: str = "") -> None:
    """A refusal the command line prints as one short line (naming what it should)."""
    text = str(error)
    assert "\n" not in text, text
    assert len(text) < 5000, text[:200]
    assert naming in text, text


# --- the options table and the time range ---------------------------------------------


@settings(
    SETTINGS, max_examples=EXAMPLES["test_every_option_row_takes_only_finite_values_of_its_kind_in_its_range"]
)
@given(
    name=st.sampled_from(sorted(OPTIONS)),
    value=st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=12), st.none()),
)
def test_every_option_row_takes_only_finite_values_of_its_kind_in_its_range(name: str, value: Any) -> None:
    row = OPTIONS[name]
    try:
        row.check(value)
    except ConfigError as error:
        said_in_one_line(error, row.flag)
        return
    if row.choices:
        assert value in row.choices
        return
    if value is None:
        assert row.auto or row.default is None  # 'auto' (the library decides), or not given
        return
    assert type(value) is int if row.kind is int else type(value) in (int, float)
    assert math.isfinite(value)
    assert row.minimum is not None  # every numeric row is bounded
    assert row.maximum is not None
    assert row.minimum <= value <= row.maximum


ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])


@settings(SETTINGS, max_examples=EXAMPLES["test_every_time_the_tool_accepts_can_be_shifted_and_compared"])
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES).map(
        lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # as iso() keeps it
    )
)
def test_every_time_the_tool_accepts_can_be_shifted_and_compared(moment: datetime) -> None:
    try:
        parsed = parse_time(iso(moment))
    except ValueError:
        assert not EARLIEST <= moment.replace(tzinfo=None) <= LATEST
        return
    assert parsed == moment
    # What the tool derives from a time: its local reading, a video's length after it, a
    # retention period before it.
    shifted = comparable(parsed) + timedelta(seconds=MAX_NUMBER)
    assert shifted - timedelta(weeks=52 * 100) < shifted


# --- CSV tables and TOML --------------------------------------------------------------


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(SETTINGS, max_examples=EXAMPLES["test_any_bytes_are_a_table_or_one_line"])
@given(data=st.binary(max_size=400))
def test_any_bytes_are_a_table_or_one_line(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("table") / "t.csv"
    path.write_bytes(b"alert_id,notes\n" + data)
    try:
        table = read_table(path, "import", "alert_id")
    except RefusedFileError as error:
        said_in_one_line(error)
        return
    assert table.columns[0] == "alert_id"


@settings(
    SETTINGS, max_examples=EXAMPLES["test_a_spreadsheet_s_save_in_any_delimiter_and_encoding_reads_back"]
)
@given(
    rows=st.lists(st.lists(CELL, min_size=2, max_size=2), max_size=6),
    delimiter=st.sampled_from(sorted(DELIMITERS)),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    blank_lines=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_a_spreadsheet_s_save_in_any_delimiter_and_encoding_reads_back(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    delimiter: str,
    encoding: str,
    blank_lines: list[bool],
) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["alert_id", "notes"])
    starts = []
    for row, blank in zip(rows, blank_lines, strict=False):
        if blank:
            text.write("\r\n")
        if any(cell.strip() for cell in row):
            # The line a row starts on: one after every line ending before it, as any
            # program that reads text counts them (\r, \n or \r\n).
            starts.append(len(io.StringIO(text.getvalue(), newline="").readlines()) + 1)
        writer.writerow(row)
    path = tmp_path_factory.mktemp("table") / "t.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    table = read_table(path, "import", "alert_id")
    expected = [[cell.strip() for cell in row] for row in rows if any(cell.strip() for cell in row)]
    assert [[row.cells["alert_id"], row.cells["notes"]] for row in table.rows] == expected
    assert [row.line for row in table.rows] == starts


@settings(SETTINGS, max_examples=EXAMPLES["test_any_bytes_are_a_config_or_one_line"])
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_bytes_are_a_config_or_one_line(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("toml") / "scan.toml"
    path.write_bytes(b"[scan]\n" + data)
    try:
        table = read_toml(path)
    except RefusedFileError as error:
        said_in_one_line(error)
        return
    assert isinstance(table, dict)


# --- photos -----------------------------------------------------------------------------


def png_bytes(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


SMALL_PHOTO = load_photo(SAMPLE_PHOTOS / "intel_actor_f1" / "1.png")[:64, :64]
PHOTO_BYTES = {".png": png_bytes(SMALL_PHOTO), ".jpg": encode_jpeg(SMALL_PHOTO)}


@settings(SETTINGS, max_examples=EXAMPLES["test_any_edit_of_a_photo_s_header_is_a_photo_or_one_line"])
@given(
    suffix=st.sampled_from(sorted(PHOTO_BYTES)),
    edits=st.lists(st.tuples(st.integers(0, 64), st.integers(0, 255)), max_size=6),
    keep=st.integers(0, 20_000),
)
def test_any_edit_of_a_photo_s_header_is_a_photo_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, edits: list[tuple[int, int]], keep: int
) -> None:
    data = bytearray(PHOTO_BYTES[suffix][: max(keep, 8)])
    for position, value in edits:
        if position < len(data):
            data[position] = value
    path = tmp_path_factory.mktemp("photo") / f"p{suffix}"
    path.write_bytes(bytes(data))
    try:
        image = load_photo(path)
    except PhotoError as error:
        said_in_one_line(error)
        return
    assert image.ndim == 3
    assert image.shape[0] * image.shape[1] <= MAX_PHOTO_PIXELS


@settings(SETTINGS, max_examples=EXAMPLES["test_a_photo_s_stated_size_is_checked_before_it_is_decoded"])
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_a_photo_s_stated_size_is_checked_before_it_is_decoded(
    tmp_path_factory: pytest.TempPathFactory, width: int, height: int
) -> None:
    path = png_header(tmp_path_factory.mktemp("photo") / "p.png", width, height)
    try:
        image = load_photo(path)
    except PhotoError:
        return
    assert image.shape[0] * image.shape[1] <= MAX_PHOTO_PIXELS


# --- state records and imported CSVs --------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT with 'a' (one alert, 2026) and 'b' (one alert too): an edit goes into 'a'."""
    out = tmp_path_factory.mktemp("template")
    assert scan_cli(FEMALE_AND_MALE, out=out, deployment="a") == 0
    assert scan_cli(FEMALE_AND_MALE, MALE_ONLY, out=out, deployment="b") == 0
    return out


def fresh(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "out"
    shutil.copytree(template, out, symlinks=True)
    return out


def every_command_on(out: Path) -> None:
    """What a day's commands do with OUT: none may fail but in one line, and 'b' must
    always be purged and listed, whatever was done to 'a'."""
    for folder in ("a", "b"):
        try:
            state = DeploymentState(out / folder)
            pending(state)
            write_folder_reports(state)
        except LfrBatchError as error:
            said_in_one_line(error, "" if folder == "a" else "never: deployment b is untouched")
    grid = collect(out)
    assert "b" in [folder.name for folder in grid.folders]
    result = purge(out, timedelta(hours=1), now=datetime(2100, 1, 1, tzinfo=UTC))
    assert "b" in result.examined
    assert DeploymentState(out / "b").alerts() == []


RECORD_FIELDS = [
    "video",
    "sequence",
    "status",
    "start",
    "duration_s",
    "faces_seen",
    "faces_seen_by_bin",
    "alerts",
    "purged",
    "distances",
    "scanned_at",
]
ALERT_FIELDS = [
    "alert_id",
    "track_id",
    "first_seen_s",
    "distance",
    "snapshot",
    "subject_photo",
    "subject_id",
    "runner_up_distance",
]


@settings(
    SETTINGS,
    max_examples=EXAMPLES[
        "test_any_edit_of_a_state_record_is_read_or_refused_and_never_reaches_another_deployment"
    ],
)
@given(
    edit=st.one_of(
        st.tuples(st.just("record"), st.sampled_from(RECORD_FIELDS), JSON),
        st.tuples(st.just("alert"), st.sampled_from(ALERT_FIELDS), JSON),
        st.tuples(
            st.just("settings"), st.sampled_from(["scan", "deployment", "watchlist", "runs", "version"]), JSON
        ),
        st.tuples(
            st.just("scan"),
            st.sampled_from(
                ["threshold", "sample_fps", "upsample", "keep_distances", "watchlist_sha256", "kind"]
            ),
            JSON,
        ),
        st.tuples(st.just("review"), st.just("A00001"), JSON),
        st.tuples(st.just("text"), st.sampled_from(["videos", "meta"]), st.text(max_size=30)),
    )
)
def test_any_edit_of_a_state_record_is_read_or_refused_and_never_reaches_another_deployment(
    template: Path, tmp_path_factory: pytest.TempPathFactory, edit: tuple[str, str, Any]
) -> None:
    out = fresh(template, tmp_path_factory)
    kind, field, value = edit
    with sqlite3.connect(out / "a" / ".lfr-batch" / "state.sqlite") as db:
        if kind == "record":
            db.execute(
                "UPDATE videos SET record = json_set(record, ?, json(?))", (f"$.{field}", json.dumps(value))
            )
        elif kind == "alert":
            db.execute(
                "UPDATE videos SET record = json_set(record, ?, json(?))",
                (f"$.alerts[0].{field}", json.dumps(value)),
            )
        elif kind in ("settings", "scan"):
            path = f"$.{field}" if kind == "settings" else f"$.scan.{field}"
            db.execute(
                "UPDATE meta SET value = json_set(value, ?, json(?)) WHERE key = 'settings'",
                (path, json.dumps(value)),
            )
        elif kind == "review":
            db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?)", (field, json.dumps(value)))
        elif field == "videos":
            db.execute("UPDATE videos SET record = ?", (value,))
        else:
            db.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (value,))
    every_command_on(out)


@settings(
    SETTINGS, max_examples=EXAMPLES["test_any_edit_of_an_alerts_csv_is_imported_whole_or_refused_in_one_line"]
)
@given(
    cells=st.dictionaries(
        st.sampled_from(
            [
                "alert_id",
                "deployment",
                "video",
                "subject_id",
                "best_frame",
                "outcome",
                "engagement",
                "reviewer",
                "notes",
            ]
        ),
        st.one_of(CELL, st.sampled_from(["true_confirmed", "arrest", "A00001", "a", "'=1", "0"])),
        max_size=5,
    ),
    delimiter=st.sampled_from(sorted(DELIMITERS)),
    encoding=st.sampled_from(["utf-8-sig", "utf-16", "cp1252", "latin-1"]),
    rows=st.integers(0, 3),
)
def test_any_edit_of_an_alerts_csv_is_imported_whole_or_refused_in_one_line(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    cells: dict[str, str],
    delimiter: str,
    encoding: str,
    rows: int,
) -> None:
    out = fresh(template, tmp_path_factory)
    alerts = pd.read_csv(out / "a" / "alerts.csv", keep_default_na=False, dtype=str)
    alerts = pd.concat([alerts] * rows) if rows else alerts
    for column, value in cells.items():
        alerts[column] = value
    path = out / "edited.csv"
    try:
        path.write_bytes(alerts.to_csv(index=False, sep=delimiter).encode(encoding))
    except UnicodeEncodeError:
        return  # text that encoding cannot hold: no spreadsheet could save it so
    try:
        table = read_edits(path, ALERT_FORM, "alerts.csv")
        import_reviews(DeploymentState(out / "a"), table)
    except LfrBatchError as error:
        said_in_one_line(error)
    every_command_on(out)


def test_the_generated_edits_number_over_a_thousand() -> None:
    """The count the issue asks for: edits of state records, CSVs, TOML files and photos."""
    assert EDITS_OF_FILES >= 1000
