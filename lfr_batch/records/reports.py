"""Stage 7, alerts → reports: the per-deployment CSVs, alert sheet and snapshots.

``OUT/NAME/`` receives ``alerts.csv`` (one row per alert, with the review
columns), ``deployment.csv`` (one row in the published deployment-record
shape), ``videos.csv`` (one row per input file, failures with their reason),
``alerts.xlsx`` (alerts.csv as a typed workbook),
``report.html`` (the alert sheet) and ``snapshots/`` (a JPEG crop per alert).
Every file is written atomically, and every text cell is made safe to open in a
spreadsheet.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.files import write_atomic
from lfr_batch.records.html_report import ALERT_LEGEND, alert_markers, write_timeline_png
from lfr_batch.records.html_report import render as render_report
from lfr_batch.records.outputs import write_outputs
from lfr_batch.records.spreadsheets import xlsx_bytes
from lfr_batch.records.state import TIMELINE_BIN_S, DeploymentState, Finding, VideoRecord
from lfr_batch.records.timeline import draw
from lfr_batch.times import comparable, iso

# How each alerts.csv column is typed in alerts.xlsx (any other column is text).
ALERT_NUMBERS = (
    "track_id",
    "first_seen_s",
    "last_seen_s",
    "best_frame",
    "best_time_s",
    "distance",
    "threshold",
    "views",
    "view_distance",
    "runner_up_distance",
    "top",
    "right",
    "bottom",
    "left",
)
ALERT_MOMENTS = ("first_seen", "last_seen")

REVIEW_COLUMNS = ("outcome", "engagement", "reviewer", "notes")
OUTCOMES = ("true_confirmed", "true_unconfirmed", "false_confirmed", "false_unconfirmed")
ENGAGEMENTS = ("arrest", "other_disposal", "no_action")
# The deployment record's count columns, and what each counts among reviewed alerts.
OUTCOME_COLUMNS = {
    "true_alerts_confirmed": ("outcome", "true_confirmed"),
    "true_alerts_unconfirmed": ("outcome", "true_unconfirmed"),
    "false_alerts_confirmed": ("outcome", "false_confirmed"),
    "false_alerts_unconfirmed": ("outcome", "false_unconfirmed"),
    "arrests": ("engagement", "arrest"),
    "other_disposals": ("engagement", "other_disposal"),
    "no_action": ("engagement", "no_action"),
}
ALERT_COLUMNS = (
    "alert_id",
    "deployment",
    "video",
    "track_id",
    "first_seen_s",
    "last_seen_s",
    "first_seen",
    "last_seen",
    "best_frame",
    "best_time_s",
    "subject_id",
    "subject_name",
    "category",
    "distance",
    "threshold",
    "views",
    "view_distance",
    "runner_up_subject_id",
    "runner_up_distance",
    "top",
    "right",
    "bottom",
    "left",
    "snapshot",
    "subject_photo",
    *REVIEW_COLUMNS,
)
# The published deployment-record columns first, then the facts of the run.
DEPLOYMENT_COLUMNS = (
    "deployment",
    "location",
    "date",
    "start",
    "end",
    "duration",
    "purpose",
    "watchlist_size",
    "threshold",
    "total_alerts",
    "true_alerts_confirmed",
    "true_alerts_unconfirmed",
    "false_alerts_confirmed",
    "false_alerts_unconfirmed",
    "false_alert_rate_percent",
    "arrests",
    "other_disposals",
    "no_action",
    "faces_seen",
    "expected_false_alert_rate_percent",
    "expected_missed_percent",
    "threshold_mode",
    "threshold_min",
    "threshold_max",
    "max_false_alert_rate_percent",
    "calibration",
    "calibration_faces",
    "faces_low_quality",
    "videos",
    "videos_failed",
    "frames_decoded",
    "frames_analysed",
    "processing_seconds",
    "software",
    "software_version",
    "detector",
    "encoder",
    "footage_seconds",
    "watchlist",
    "watchlist_sha256",
    "watchlist_created",
    "expired_subjects_excluded",
    "sample_fps",
    "upsample",
    "scanned_at",
)
VIDEO_COLUMNS = (
    "video",
    "status",
    "reason",
    "start",
    "duration_s",
    "fps",
    "width",
    "height",
    "frames_decoded",
    "frames_analysed",
    "faces_seen",
    "faces_low_quality",
    "alerts",
)
DISTANCE_COLUMNS = (
    "video",
    "track_id",
    "first_seen_s",
    "last_seen_s",
    "views",
    "best_view_distance",
    "subject_1",
    "distance_1",
    "subject_2",
    "distance_2",
    "subject_3",
    "distance_3",
)

# Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """CSV text with a fixed header; UTF-8 with a BOM so spreadsheets pick the encoding."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(cell_text(row.get(column))) for column in columns])
    return text.getvalue().encode("utf-8-sig")


def cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, datetime):
        return iso(value)
    return value


def hms(seconds: float) -> str:
    """A duration as H:MM:SS, which spreadsheets read as a time."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def at_offset(start: datetime | None, seconds: float) -> datetime | None:
    return None if start is None else start + timedelta(seconds=seconds)


def alert_row(deployment: str, threshold: float, video: VideoRecord, alert: Finding) -> dict[str, Any]:
    """One alerts.csv row; its threshold is the cut its subject had in the run that
    found it (``threshold``, the deployment's one threshold, for alerts found before
    cuts were per subject)."""
    row = asdict(alert)
    cut = row.pop("cut")
    return {
        **row,
        "deployment": deployment,
        "video": video.video,
        "first_seen": at_offset(video.start, alert.first_seen_s),
        "last_seen": at_offset(video.start, alert.last_seen_s),
        "threshold": threshold if cut is None else cut,
    }


def latest_cuts(state: DeploymentState) -> dict[str, Any]:
    """What the deployment's latest run that scanned footage matched at; for a
    deployment scanned before cuts were per subject, its one threshold."""
    for run in reversed(state.settings.get("runs", [])):
        if run.get("cuts"):
            return run["cuts"]
    settings, watchlist = state.report_settings(), state.settings.get("watchlist", {})
    fixed = settings.threshold
    threshold = fixed if isinstance(fixed, int | float) else None  # auto, and no run scanned yet
    return {
        "mode": settings.threshold_mode,
        "source": watchlist.get("calibration", ""),
        "faces": None,
        "cut_median": threshold,
        "cut_min": threshold,
        "cut_max": threshold,
        "expected_false_alert_rate": watchlist.get("expected_false_alert_rate", 0.0),
        "expected_missed_share": None,
    }


TIMELINE_FIELDS = ("video", "status", "start", "duration_s", "faces_seen_by_bin")


def timeline_row(video: VideoRecord) -> dict[str, Any]:
    """What the sheet's timeline reads of a video: not a deep copy of its alerts and
    distances, which ``asdict`` would make on every review answer."""
    return {**{name: getattr(video, name) for name in TIMELINE_FIELDS}, "start": iso(video.start)}


def video_row(video: VideoRecord) -> dict[str, Any]:
    return {**asdict(video), "alerts": len(video.alerts) + video.purged.get("total_alerts", 0)}


def percent(fraction: float) -> float:
    """A rate per face seen as the reports give it: in % of faces seen."""
    return round(100.0 * fraction, 6)


def false_alert_rate(false_alerts: int, faces_seen: int) -> float:
    """False alerts ÷ faces seen × 100, as forces publish it (0 when no face was seen)."""
    return round(100.0 * false_alerts / faces_seen, 4) if faces_seen else 0.0


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    write_atomic(path, csv_bytes(columns, rows))


def outcome_counts(state: DeploymentState, reviews: dict[str, dict[str, str]]) -> dict[str, int]:
    """Reviewed outcomes and engagements over the alerts held and those purged."""
    counts = dict.fromkeys(("total_alerts", *OUTCOME_COLUMNS), 0)
    for record in state.ordered():
        for column in counts:
            counts[column] += record.purged.get(column, 0)
    for _record, alert in state.alerts():
        counts["total_alerts"] += 1
        review = reviews.get(alert.alert_id, {})
        for column, (field, value) in OUTCOME_COLUMNS.items():
            counts[column] += review.get(field) == value
    return counts


def deployment_row(state: DeploymentState, reviews: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The deployment record: published figures first, from every video and review held."""
    records = state.ordered()
    spans = []
    for record in records:
        if record.start is not None:
            spans.append((record.start, record.start + timedelta(seconds=record.duration_s)))
    # Files may mix times with and without a zone (a --start with one, file names without):
    # they are compared by comparable()'s rule, and each is shown as it was given.
    start = min((s for s, _ in spans), key=comparable) if spans else None
    end = max((e for _, e in spans), key=comparable) if spans else None
    footage_s = sum(r.duration_s for r in records)
    faces_seen = sum(r.faces_seen for r in records)
    counts = outcome_counts(state, reviews)
    false_alerts = counts["false_alerts_confirmed"] + counts["false_alerts_unconfirmed"]
    settings, details = state.report_settings(), state.settings.get("deployment", {})
    watchlist, runs = state.settings.get("watchlist", {}), state.settings.get("runs", [])
    cuts = latest_cuts(state)
    missed = cuts["expected_missed_share"]
    return {
        "deployment": state.deployment_dir.name,
        "location": details.get("location", ""),
        "date": start.date().isoformat() if start else "",
        "start": iso(start),
        "end": iso(end),
        "duration": hms(
            (comparable(end) - comparable(start)).total_seconds() if start and end else footage_s
        ),
        "purpose": details.get("purpose", ""),
        "watchlist_size": watchlist.get("size", 0),
        "threshold": cuts["cut_median"],
        "threshold_min": cuts["cut_min"],
        "threshold_max": cuts["cut_max"],
        **counts,
        "false_alert_rate_percent": false_alert_rate(false_alerts, faces_seen),
        "faces_seen": faces_seen,
        # Every rate of the record in % of faces seen, as forces publish false_alert_rate;
        # the state and --max-false-alert-rate hold them as fractions.
        "expected_false_alert_rate_percent": percent(cuts["expected_false_alert_rate"]),
        "expected_missed_percent": "" if missed is None else round(100.0 * missed, 2),
        "threshold_mode": settings.threshold_mode,
        "max_false_alert_rate_percent": ""
        if settings.max_false_alert_rate is None
        else percent(settings.max_false_alert_rate),
        "calibration": cuts["source"],
        "calibration_faces": cuts["faces"],
        "faces_low_quality": sum(r.faces_low_quality for r in records),
        "videos": len(records),
        "videos_failed": sum(r.status == "failed" for r in records),
        "frames_decoded": sum(r.frames_decoded for r in records),
        "frames_analysed": sum(r.frames_analysed for r in records),
        "processing_seconds": round(sum(run["processing_seconds"] for run in runs), 3),
        "software": SOFTWARE_NAME,
        "software_version": __version__,
        "detector": settings.detector_model,
        "encoder": settings.encoder_model,
        "footage_seconds": round(footage_s, 3),
        "watchlist": watchlist.get("file", ""),
        "watchlist_sha256": settings.watchlist_sha256,
        "watchlist_created": watchlist.get("created", ""),
        "expired_subjects_excluded": watchlist.get("expired_subjects", 0),
        "sample_fps": settings.sample_fps,
        "upsample": settings.upsample,
        "scanned_at": runs[-1]["started"] if runs else "",
    }


def write_reports(state: DeploymentState) -> None:
    """Write the reports from everything the deployment holds, and nothing else (see
    :mod:`lfr_batch.records.outputs`); deployment.csv last, so its presence means a
    complete set. The review columns and the deployment's counts come from the same
    reviews."""
    paths = state.paths
    settings = state.report_settings()
    reviews = state.reviews()
    rows = []
    threshold = latest_cuts(state)["cut_median"]
    for record, alert in state.alerts():
        row = alert_row(paths.name, threshold, record, alert)
        review = reviews.get(alert.alert_id, {})
        row.update({column: review.get(column, "") for column in REVIEW_COLUMNS})
        rows.append(row)
    record = deployment_row(state, reviews)
    files = [
        (paths.videos_csv, csv_bytes(VIDEO_COLUMNS, (video_row(r) for r in state.ordered()))),
        (paths.alerts_csv, csv_bytes(ALERT_COLUMNS, rows)),
        (
            paths.alerts_xlsx,
            xlsx_bytes(ALERT_COLUMNS, rows, numbers=ALERT_NUMBERS, moments=ALERT_MOMENTS, sheet="alerts"),
        ),
    ]
    if settings.keep_distances:
        distances = ({"video": r.video, **row} for r in state.ordered() for row in r.distances)
        files.append((paths.distances_csv, csv_bytes(DISTANCE_COLUMNS, distances)))
    shown = [{key: cell_text(value) for key, value in row.items()} for row in rows]
    drawing = draw(
        [timeline_row(video) for video in state.ordered()], alert_markers(shown), TIMELINE_BIN_S, ALERT_LEGEND
    )
    write_timeline_png(paths, drawing)
    page = render_report(paths, record, shown, drawing, state.settings.get("evaluation"))
    files.append((paths.report_html, page.encode("utf-8")))
    files.append((paths.deployment_csv, csv_bytes(DEPLOYMENT_COLUMNS, [record])))
    write_outputs(state, files)
