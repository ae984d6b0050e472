"""Stage 8, alerts → reviewed alerts: recording what reviewers decided.

Each alert gets an ``outcome`` (true or false, confirmed or unconfirmed), an
``engagement`` (arrest, other disposal, no action), the ``reviewer`` and
``notes``. Answers are kept in the deployment's review store and the reports
are rewritten at once, so the deployment record's true/false counts, outcomes
and false alert rate always reflect what has been reviewed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lfr_batch.errors import ReviewError
from lfr_batch.reports import ENGAGEMENTS, FORMULA_PREFIXES, OUTCOMES, REVIEW_COLUMNS, write_reports
from lfr_batch.state import AlertRecord, DeploymentState, VideoRecord

# Columns of an edited alerts.csv that must still match what was scanned, so a
# row moved to another alert, or an alert id typed over, is caught.
IDENTITY_COLUMNS = ("alert_id", "video", "subject_id", "best_frame")
# Long enough for any account of an engagement; short enough for every spreadsheet cell.
MAX_NOTE_CHARS = 10_000
MAX_REVIEWER_CHARS = 200


@dataclass(frozen=True)
class Review:
    outcome: str
    engagement: str = ""
    reviewer: str = ""
    notes: str = ""

    def validate(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ReviewError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.engagement and self.engagement not in ENGAGEMENTS:
            raise ReviewError(f"engagement {self.engagement!r} is not one of {', '.join(ENGAGEMENTS)}")
        if len(self.notes) > MAX_NOTE_CHARS:
            raise ReviewError(f"notes of {len(self.notes):,} characters are longer than {MAX_NOTE_CHARS:,}")
        if len(self.reviewer) > MAX_REVIEWER_CHARS:
            raise ReviewError(f"a reviewer name of {len(self.reviewer):,} characters is too long")

    def as_entry(self) -> dict[str, str]:
        return {
            "outcome": self.outcome,
            "engagement": self.engagement,
            "reviewer": self.reviewer,
            "notes": self.notes,
            "reviewed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def open_deployment(folder: Path) -> DeploymentState:
    state = DeploymentState(folder)
    if not state.exists:
        inside = (
            sorted(child.name for child in folder.iterdir() if DeploymentState(child).exists)
            if folder.is_dir()
            else []
        )
        if inside:
            shown = ", ".join(inside[:10]) + (f" and {len(inside) - 10} more" if len(inside) > 10 else "")
            raise ReviewError(
                f"{folder} is a reports folder: name one of its deployments ({shown}), "
                f"e.g. {folder / inside[0]}"
            )
        raise ReviewError(f"{folder} holds no scanned deployment")
    return state


def pending(state: DeploymentState) -> list[tuple[VideoRecord, AlertRecord]]:
    """Alerts with no outcome yet, in alert-id order."""
    reviews = state.reviews()
    return [(v, a) for v, a in state.alerts() if not reviews.get(a.alert_id, {}).get("outcome")]


def record_review(state: DeploymentState, alert_id: str, review: Review) -> None:
    """Save one answer and rewrite the reports, at once."""
    review.validate()
    if alert_id not in {a.alert_id for _v, a in state.alerts()}:
        raise ReviewError(f"no alert {alert_id} in {state.deployment_dir}")
    reviews = state.reviews()
    reviews[alert_id] = review.as_entry()
    state.save_reviews(reviews)
    write_reports(state)


@dataclass(frozen=True)
class ImportResult:
    applied: int
    unchanged: int


def import_reviews(state: DeploymentState, path: Path) -> ImportResult:
    """Take review columns from an edited alerts.csv: all rows or none.

    A row whose alert id is unknown, whose alert no longer matches what was
    scanned, or whose values are not allowed, is refused with its line and the
    reason; then nothing is recorded. An empty outcome leaves a recorded review
    as it is."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (*IDENTITY_COLUMNS, *REVIEW_COLUMNS) if c not in (reader.fieldnames or [])]
            if missing:
                raise ReviewError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(enumerate(reader, start=2))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ReviewError(f"cannot read {path}: {error}") from None

    alerts = {a.alert_id: (v, a) for v, a in state.alerts()}
    reviews = state.reviews()
    problems: list[str] = []
    updates: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        values = {key: _unescape(row.get(key) or "").strip() for key in (*IDENTITY_COLUMNS, *REVIEW_COLUMNS)}
        alert_id = values["alert_id"]
        deployment = _unescape(row.get("deployment") or "").strip()
        if deployment and deployment != state.deployment_dir.name:
            problems.append(
                f"line {line}: a row of deployment {deployment!r}, not {state.deployment_dir.name!r}"
            )
            continue
        if alert_id in first_line:
            problems.append(f"line {line}: alert {alert_id} again (first on line {first_line[alert_id]})")
            continue
        first_line[alert_id] = line
        if alert_id not in alerts:
            problems.append(f"line {line}: unknown alert id {alert_id!r}")
            continue
        video, alert = alerts[alert_id]
        scanned = {"video": video.video, "subject_id": alert.subject_id, "best_frame": str(alert.best_frame)}
        changed = [key for key, value in scanned.items() if values[key] != value]
        if changed:
            problems.append(
                f"line {line}: alert {alert_id} does not match the scan ({', '.join(changed)} changed)"
            )
            continue
        if not values["outcome"]:
            if values["engagement"] or values["notes"]:
                problems.append(f"line {line}: alert {alert_id} has review details but no outcome")
            continue
        review = Review(values["outcome"], values["engagement"], values["reviewer"], values["notes"])
        try:
            review.validate()
        except ReviewError as error:
            problems.append(f"line {line}: alert {alert_id}: {error}")
            continue
        current = reviews.get(alert_id, {})
        if all(current.get(key, "") == getattr(review, key) for key in REVIEW_COLUMNS):
            continue
        updates[alert_id] = review.as_entry()
    if problems:
        raise ReviewError(f"{path}: nothing imported; " + "; ".join(problems))
    reviews.update(updates)
    state.save_reviews(reviews)
    write_reports(state)
    return ImportResult(applied=len(updates), unchanged=len(rows) - len(updates))


def _unescape(value: str) -> str:
    """Undo the apostrophe the reports put before text a spreadsheet would run."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value
