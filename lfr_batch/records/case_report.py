"""A search's case folder, written from what it holds: the ranked candidate list.

``cases/NAME/`` receives ``candidates.csv`` (one row per listed candidate, nearest
first, with the review columns; formula-safe like ``alerts.csv``),
``candidates.xlsx`` (the same, typed), ``videos.csv`` (the footage searched) and
``case.html``: the probe faces beside each candidate's snapshot, the case's
figures and a timeline of every video. The search itself is
:mod:`lfr_batch.search`.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from typing import Any

from lfr_batch.errors import ReportError
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.html_report import (
    OUTCOME_COLOURS,
    Marker,
    clock,
    embedded_image,
    figures,
    filter_box,
    page,
    timelines,
)
from lfr_batch.records.outputs import write_outputs
from lfr_batch.records.reports import (
    ALERT_NUMBERS,
    VIDEO_COLUMNS,
    at_offset,
    cell_text,
    csv_bytes,
    hms,
    video_row,
)
from lfr_batch.records.spreadsheets import xlsx_bytes
from lfr_batch.records.state import TIMELINE_BIN_S, AlertRecord, DeploymentState, VideoRecord

CASE_KIND = "case"  # the scan settings' "kind" of a case folder

VERDICTS = ("match", "no_match", "unsure")
VERDICT_LABELS = {"match": "Match", "no_match": "No match", "unsure": "Unsure", "": "not reviewed"}
# Timeline colours: a match as a true alert, no match as a false one.
VERDICT_COLOURS = {"match": "true", "no_match": "false"}
CASE_REVIEW_COLUMNS = ("verdict", "reviewer", "notes")
CANDIDATE_COLUMNS = (
    "rank",
    "candidate_id",
    "case",
    "listed",
    "distance",
    "cut",
    "video",
    "first_seen_s",
    "last_seen_s",
    "first_seen",
    "last_seen",
    "best_frame",
    "best_time_s",
    "views",
    "view_distance",
    "top",
    "right",
    "bottom",
    "left",
    "snapshot",
    *CASE_REVIEW_COLUMNS,
)
# How each candidates.csv column is typed in candidates.xlsx: as in alerts.xlsx, plus two.
CANDIDATE_NUMBERS = ("rank", "cut", *(column for column in CANDIDATE_COLUMNS if column in ALERT_NUMBERS))
CASE_VIDEO_COLUMNS = tuple("candidates" if column == "alerts" else column for column in VIDEO_COLUMNS)
ABOVE, BELOW = "above the cut", "below the cut"
CASE_FIGURES = (
    ("probe_photos", "Probe photos"),
    ("videos", "Videos searched"),
    ("footage", "Footage"),
    ("faces_seen", "Faces seen"),
    ("cut", "Cut (distance)"),
    ("expected_false_candidates", "False candidates expected above the cut"),
    ("above_cut", "Candidates above the cut"),
    ("below_cut", "Listed below the cut"),
    ("matches", "Reviewed: match"),
    ("no_matches", "Reviewed: no match"),
)
CASE_LEGEND = (
    (OUTCOME_COLOURS[""], "candidate, not reviewed"),
    (OUTCOME_COLOURS["true"], "match"),
    (OUTCOME_COLOURS["false"], "no match"),
)


def is_case(state: DeploymentState) -> bool:
    return state.settings.get("scan", {}).get("kind") == CASE_KIND


def case_cut(state: DeploymentState) -> float:
    """The distance a case's list was cut at."""
    cut = state.report_settings().get("cut")
    if cut is None:
        raise ReportError(f"the scan state of case {state.deployment_dir.name} names no cut: search it again")
    return cut


def shown_count(distances: list[float], cut: float, top: int, below: int) -> int:
    """How many of the nearest candidates are listed: those within the cut, then
    ``below`` more beneath it, ``top`` at most."""
    above = sum(distance <= cut for distance in distances)
    return min(top, above + below, len(distances))


def ranked(state: DeploymentState) -> list[tuple[VideoRecord, AlertRecord]]:
    """The case's candidates, nearest first (ties in the order they were found)."""
    return sorted(state.alerts(), key=lambda pair: (pair[1].distance, pair[1].alert_id))


def candidate_rows(state: DeploymentState) -> list[dict[str, Any]]:
    cut, case = case_cut(state), state.deployment_dir.name
    reviews = state.reviews()
    rows = []
    for rank, (video, alert) in enumerate(ranked(state), start=1):
        review = reviews.get(alert.alert_id, {})
        rows.append(
            {
                **asdict(alert),
                "rank": rank,
                "candidate_id": alert.alert_id,
                "case": case,
                "listed": ABOVE if alert.distance <= cut else BELOW,
                "cut": cut,
                "video": video.video,
                "first_seen": at_offset(video.start, alert.first_seen_s),
                "last_seen": at_offset(video.start, alert.last_seen_s),
                **{column: review.get(column, "") for column in CASE_REVIEW_COLUMNS},
            }
        )
    return rows


def case_figures(state: DeploymentState, rows: list[dict[str, Any]]) -> dict[str, Any]:
    records = state.ordered()
    faces_seen = sum(record.faces_seen for record in records)
    probe = state.settings.get("watchlist", {})
    return {
        "probe_photos": len(probe.get("probe_photos", [])),
        "videos": len(records),
        "footage": hms(sum(record.duration_s for record in records)),
        "faces_seen": faces_seen,
        "cut": case_cut(state),
        "expected_false_candidates": f"{probe.get('expected_false_candidate_rate', 0.0) * faces_seen:.2g}",
        "above_cut": sum(row["listed"] == ABOVE for row in rows),
        "below_cut": sum(row["listed"] == BELOW for row in rows),
        "matches": sum(row["verdict"] == "match" for row in rows),
        "no_matches": sum(row["verdict"] == "no_match" for row in rows),
    }


def write_case_reports(state: DeploymentState) -> None:
    """Write every file of the case from what it holds; candidates.csv last."""
    paths = state.paths
    rows = candidate_rows(state)
    videos_csv = csv_bytes(
        CASE_VIDEO_COLUMNS,
        ({**video_row(record), "candidates": len(record.alerts)} for record in state.ordered()),
    )
    candidates_xlsx = xlsx_bytes(
        CANDIDATE_COLUMNS,
        rows,
        numbers=CANDIDATE_NUMBERS,
        moments=("first_seen", "last_seen"),
        sheet="candidates",
    )
    probes = [entry["face"] for entry in state.settings.get("watchlist", {}).get("probe_photos", [])]
    videos = [
        {
            name: getattr(record, name)
            for name in ("video", "status", "start", "duration_s", "faces_seen_by_bin")
        }
        for record in state.ordered()
    ]
    text = render_case(paths, case_figures(state, rows), probes, rows, videos)
    write_outputs(
        state,
        [
            (paths.videos_csv, videos_csv),
            (paths.candidates_xlsx, candidates_xlsx),
            (paths.case_html, text.encode("utf-8")),
            (paths.candidates_csv, csv_bytes(CANDIDATE_COLUMNS, rows)),
        ],
    )


def render_case(
    paths: DeploymentFolder,
    summary: dict[str, Any],
    probes: list[str],
    rows: list[dict[str, Any]],
    videos: list[dict[str, Any]],
) -> str:
    """The case sheet: the probe faces, the figures, the ranked candidates beside the
    probe faces, and where each was seen on its video's timeline."""
    escape = html.escape
    probe_faces = "".join(embedded_image(paths, path, f"probe photo {n}") for n, path in enumerate(probes, 1))
    head = "".join(
        f'<th data-key="{key}">{label}</th>'
        for key, label in (
            ("rank", "Rank"),
            ("candidate_id", "Candidate"),
            ("snapshot", "Candidate's face"),
            ("probe", "Probe"),
            ("distance", "Distance"),
            ("listed", "Listed"),
            ("seen", "Seen"),
            ("video", "Video"),
            ("verdict", "Verdict"),
            ("reviewer", "Reviewer"),
            ("notes", "Notes"),
        )
    )
    body = []
    markers = []
    for row in rows:
        cells = {key: escape(str(cell_text(value))) for key, value in row.items()}
        seen = cells["first_seen"] or f"{row['first_seen_s']} s"
        body.append(
            f'<tr data-listed="{"above" if row["listed"] == ABOVE else "below"}">'
            f"<td>{row['rank']}</td><td>{cells['candidate_id']}</td>"
            f"<td>{embedded_image(paths, row['snapshot'], 'candidate ' + row['candidate_id'])}</td>"
            f'<td class="probes">{probe_faces}</td>'
            f"<td>{row['distance']}</td><td>{cells['listed']}</td>"
            f'<td data-sort="{row["first_seen_s"]}">{seen}</td><td>{cells["video"]}</td>'
            f"<td>{escape(VERDICT_LABELS.get(row['verdict'], row['verdict']))}</td>"
            f"<td>{cells['reviewer']}</td><td>{cells['notes']}</td></tr>"
        )
        first, last = float(row["first_seen_s"]), float(row["last_seen_s"])
        markers.append(
            Marker(
                finding_id=row["candidate_id"],
                video=row["video"],
                first_seen_s=first,
                last_seen_s=last,
                verdict=VERDICT_COLOURS.get(row["verdict"], ""),
                label=f"#{row['rank']} {row['candidate_id']}, distance {row['distance']}, "
                f"{clock(first)}-{clock(last)}, {VERDICT_LABELS.get(row['verdict'], row['verdict'])}",
            )
        )
    note = (
        f"<p>Candidates are ranked by distance to the probe photos. Those at or under the cut "
        f"({summary['cut']}) are where the person is likely seen; about "
        f"{summary['expected_false_candidates']} of them are expected to be someone else. The "
        "rows below the cut show where the evidence thins out. A person judges every row.</p>"
    )
    return page(
        f"Case {escape(paths.name)}",
        f'<div class="probe-strip"><h2>Probe photos</h2>{probe_faces}</div>'
        + figures(summary, CASE_FIGURES)
        + note
        + filter_box("video, verdict, candidate…", len(rows), "candidates")
        + f'<table id="findings"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        + timelines(videos, markers, TIMELINE_BIN_S, CASE_LEGEND),
    )
