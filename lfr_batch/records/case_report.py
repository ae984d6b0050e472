"""A search's case folder, written from what it holds: the ranked candidate list.

``cases/NAME/`` receives ``candidates.csv`` (one row per listed candidate, nearest
first, with the review columns; formula-safe like ``alerts.csv``),
``candidates.xlsx`` (the same, typed), ``videos.csv`` (the footage searched) and
``case.html``: the probe faces beside each candidate's snapshot, the case's
figures and a timeline of every video. The search itself is
:mod:`lfr_batch.search`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lfr_batch.errors import ReportError
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.html_report import (
    NOT_REVIEWED,
    TEMPLATES,
    embedded_image,
    figure_items,
    write_timeline_png,
)
from lfr_batch.records.outputs import write_outputs
from lfr_batch.records.reports import (
    ALERT_NUMBERS,
    VIDEO_COLUMNS,
    at_offset,
    cell_text,
    csv_bytes,
    hms,
    timeline_row,
    video_row,
)
from lfr_batch.records.spreadsheets import xlsx_bytes
from lfr_batch.records.state import TIMELINE_BIN_S, DeploymentState, Finding, VideoRecord
from lfr_batch.records.timeline import Drawing, Marker, clock, draw, legend

CASE_KIND = "case"  # the scan settings' "kind" of a case folder

VERDICTS = ("match", "no_match", "unsure")
VERDICT_LABELS = {"match": "Match", "no_match": "No match", "unsure": "Unsure"}
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
CASE_COLUMNS = (
    ("rank", "Rank"),
    ("candidate_id", "Candidate"),
    ("snapshot", "Candidate's face"),
    ("distance", "Distance"),
    ("listed", "Listed"),
    ("seen", "Seen"),
    ("video", "Video"),
    ("verdict", "Review"),
)
CASE_LEGEND = legend("candidate, not reviewed", "match", "no match")


def is_case(state: DeploymentState) -> bool:
    return state.kind == CASE_KIND


def shown_count(distances: list[float], cut: float, top: int, below: int) -> int:
    """How many of the nearest candidates are listed: those within the cut, then
    ``below`` more beneath it, ``top`` at most."""
    above = sum(distance <= cut for distance in distances)
    return min(top, above + below, len(distances))


def ranked(state: DeploymentState) -> list[tuple[VideoRecord, Finding]]:
    """The case's candidates, nearest first (ties in the order they were found)."""
    return sorted(state.alerts(), key=lambda pair: (pair[1].distance, pair[1].alert_id))


def case_cut(state: DeploymentState) -> float:
    """The case's cut: its latest search's, calibrated on the faces that search saw (a
    case searched before cuts were calibrated per run keeps the one in its settings)."""
    cut = state.settings.get("watchlist", {}).get("cut", state.report_settings().cut)
    if cut is None:
        raise ReportError(f"the scan state of case {state.deployment_dir.name} names no cut: search it again")
    return float(cut)


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
    videos = [timeline_row(record) for record in state.ordered()]
    drawing = draw(videos, candidate_markers(rows), TIMELINE_BIN_S, CASE_LEGEND)
    write_timeline_png(paths, drawing)
    text = render_case(paths, case_figures(state, rows), probes, rows, drawing)
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
    drawing: Drawing | None,
) -> str:
    """The case sheet: the probe faces once at the top, the figures, the ranked
    candidates, and where each was seen on the case's timeline."""
    shown = [
        {
            **{key: cell_text(value) for key, value in row.items()},
            "above": row["listed"] == ABOVE,
            "verdict_text": VERDICT_LABELS.get(row["verdict"], row["verdict"]) or NOT_REVIEWED,
        }
        for row in rows
    ]
    return TEMPLATES.get_template("case.html").render(
        title=f"Case {paths.name}",
        probes=probes,
        figures=figure_items(summary, CASE_FIGURES),
        cut=summary["cut"],
        expected_false=summary["expected_false_candidates"],
        columns=CASE_COLUMNS,
        rows=shown,
        image=lambda relative, label: embedded_image(paths, relative, label),
        drawing=drawing,
    )


def candidate_markers(rows: list[dict[str, Any]]) -> list[Marker]:
    markers = []
    for row in rows:
        first, last = float(row["first_seen_s"]), float(row["last_seen_s"])
        verdict = VERDICT_LABELS.get(row["verdict"], row["verdict"]) or "not reviewed"
        markers.append(
            Marker(
                finding_id=row["candidate_id"],
                video=row["video"],
                first_seen_s=first,
                last_seen_s=last,
                verdict=VERDICT_COLOURS.get(row["verdict"], ""),
                label=f"#{row['rank']} {row['candidate_id']}, distance {row['distance']}, "
                f"{clock(first)}-{clock(last)} into the file, {verdict}",
            )
        )
    return markers
