"""Stage 8, findings → reviewed findings: recording what reviewers decided.

A deployment's alert gets an ``outcome`` (true or false, confirmed or
unconfirmed) and an ``engagement`` (arrest, other disposal, no action); a search
case's candidate gets a ``verdict`` (match, no match, unsure). Both get the
``reviewer`` and ``notes``. Answers are kept in the folder's review store and
its reports are rewritten at once, so the deployment record's true/false
counts, outcomes and false alert rate (or the case's verdicts) always reflect
what has been reviewed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lfr_batch.errors import ReviewError, first_of
from lfr_batch.files import RefusedFileError
from lfr_batch.readers import Row, Table, read_table
from lfr_batch.records.case_report import (
    CASE_REVIEW_COLUMNS,
    VERDICTS,
    is_case,
    ranked,
    write_case_reports,
)
from lfr_batch.records.outputs import taken_in
from lfr_batch.records.reports import (
    ENGAGEMENTS,
    FORMULA_PREFIXES,
    OUTCOMES,
    REVIEW_COLUMNS,
    write_reports,
)
from lfr_batch.records.state import DeploymentState, Finding, VideoRecord

# Long enough for any account of an engagement; short enough for every spreadsheet cell.
MAX_NOTE_CHARS = 10_000
MAX_REVIEWER_CHARS = 200
# Refused rows named in an import's error; the rest are counted (a 100 MB file of bad
# rows must not become a 14 MB line).
PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class ReviewForm:
    """What a reviewer answers about one kind of finding, and where it is listed."""

    noun: str  # "alert" or "candidate"
    id_column: str
    # Columns of an edited CSV that must still match what was scanned, so a row moved
    # to another finding, or an id typed over, is caught.
    identity: tuple[str, ...]
    verdict_column: str
    verdicts: tuple[str, ...]
    engagements: tuple[str, ...]  # empty: not asked
    columns: tuple[str, ...]  # the review columns of its CSV
    listing: str  # the DeploymentFolder file its findings are listed in


ALERT_FORM = ReviewForm(
    "alert",
    "alert_id",
    ("video", "subject_id", "best_frame"),
    "outcome",
    OUTCOMES,
    ENGAGEMENTS,
    REVIEW_COLUMNS,
    "alerts_csv",
)
CANDIDATE_FORM = ReviewForm(
    "candidate",
    "candidate_id",
    ("video", "best_frame"),
    "verdict",
    VERDICTS,
    (),
    CASE_REVIEW_COLUMNS,
    "candidates_csv",
)


def form_for(state: DeploymentState) -> ReviewForm:
    return CANDIDATE_FORM if is_case(state) else ALERT_FORM


def write_folder_reports(state: DeploymentState) -> None:
    """Rewrite a deployment's reports, or a case's."""
    (write_case_reports if is_case(state) else write_reports)(state)


# Notes may run over several lines (Word's line and page breaks, pasted in, included);
# nothing else unprintable is kept, since it would reach the CSV, the workbook and the
# HTML as it is (a NUL, or an escape that drives a terminal).
LINE_BREAKS = frozenset("\n\r\t\v\f")


def refuse_control_characters(text: str, what: str, allowed: frozenset[str] = frozenset()) -> None:
    for character in text:
        if unicodedata.category(character) == "Cc" and character not in allowed:
            raise ReviewError(f"a control character (U+{ord(character):04X}) in {what}: leave it out")


def check_notes(notes: str) -> str:
    """The notes, if an answer can keep them."""
    if len(notes) > MAX_NOTE_CHARS:
        raise ReviewError(f"notes of {len(notes):,} characters are longer than {MAX_NOTE_CHARS:,}")
    refuse_control_characters(notes, "notes", allowed=LINE_BREAKS)
    return notes


def check_reviewer(reviewer: str) -> None:
    """Refuse, before any question is asked, a reviewer name that no answer could keep."""
    if len(reviewer) > MAX_REVIEWER_CHARS:
        raise ReviewError(f"a reviewer name of {len(reviewer):,} characters is too long")
    refuse_control_characters(reviewer, "the reviewer's name")


@dataclass(frozen=True)
class Review:
    verdict: str  # an alert's outcome, or a candidate's verdict
    engagement: str = ""
    reviewer: str = ""
    notes: str = ""

    def validate(self, form: ReviewForm) -> None:
        if self.verdict not in form.verdicts:
            raise ReviewError(
                f"{form.verdict_column} {self.verdict[:40]!r} is not one of {', '.join(form.verdicts)}"
            )
        if self.engagement and self.engagement not in form.engagements:
            allowed = ", ".join(form.engagements) or "none (a candidate has no engagement)"
            raise ReviewError(f"engagement {self.engagement[:40]!r} is not one of {allowed}")
        check_notes(self.notes)
        check_reviewer(self.reviewer)

    def values(self, form: ReviewForm) -> dict[str, str]:
        """The answer under its form's column names."""
        answers = {form.verdict_column: self.verdict, "reviewer": self.reviewer, "notes": self.notes}
        if form.engagements:
            answers["engagement"] = self.engagement
        return answers

    def as_entry(self, form: ReviewForm) -> dict[str, str]:
        return {**self.values(form), "reviewed_at": datetime.now(UTC).isoformat(timespec="seconds")}


def open_deployment(folder: Path) -> DeploymentState:
    state = DeploymentState(folder)
    if not state.exists:
        inside = (
            sorted(child.name for child in folder.iterdir() if DeploymentState(child).exists)
            if folder.is_dir()
            else []
        )
        if inside:
            raise ReviewError(
                f"{folder} is a reports folder: name one of its deployments ({first_of(inside)}), "
                f"e.g. {folder / inside[0]}"
            )
        raise ReviewError(f"{folder} holds no scanned deployment or search case")
    return state


def pending(state: DeploymentState) -> list[tuple[VideoRecord, Finding]]:
    """Findings with no answer yet: alerts in id order, candidates nearest first."""
    verdict, reviews = form_for(state).verdict_column, state.reviews()
    findings = ranked(state) if is_case(state) else state.alerts()
    return [(v, a) for v, a in findings if not reviews.get(a.alert_id, {}).get(verdict)]


def chosen(state: DeploymentState, finding_ids: tuple[str, ...]) -> list[tuple[VideoRecord, Finding]]:
    """The findings named, answered or not, in the order named: a reviewer going back to one."""
    findings = {alert.alert_id: (video, alert) for video, alert in state.alerts()}
    unknown = [finding_id for finding_id in finding_ids if finding_id not in findings]
    if unknown:
        noun = form_for(state).noun
        raise ReviewError(f"no {noun} {', '.join(unknown)} in {state.deployment_dir}")
    return [findings[finding_id] for finding_id in dict.fromkeys(finding_ids)]


def record_review(state: DeploymentState, finding_id: str, review: Review) -> None:
    """Save one answer and rewrite the reports, at once."""
    form = form_for(state)
    review.validate(form)
    if finding_id not in {a.alert_id for _v, a in state.alerts()}:
        raise ReviewError(f"no {form.noun} {finding_id} in {state.deployment_dir}")
    state.save_review(finding_id, review.as_entry(form))
    write_folder_reports(state)


@dataclass(frozen=True)
class ImportResult:
    applied: int
    unchanged: int


def read_edits(path: Path, form: ReviewForm, listing: str) -> Table:
    """An edited copy of a folder's listing (``listing``: alerts.csv or candidates.csv), as a
    spreadsheet saved it: read whole before the folder is locked, so a slow or endless
    file never holds the lock."""
    try:
        table = read_table(path, "import", form.id_column, spreadsheet=True)
    except RefusedFileError as error:
        raise ReviewError(str(error)) from None
    wanted = (form.id_column, *form.identity, *form.columns)
    missing = [column for column in wanted if column not in table.columns]
    if missing:
        raise ReviewError(f"{path}: missing column(s) {', '.join(missing)} (is it {listing}?)")
    return table


def import_reviews(state: DeploymentState, table: Table, reviewer: str = "") -> ImportResult:
    """Take review columns from an edited alerts.csv (or candidates.csv): all rows or none.

    A row whose id is unknown, whose finding no longer matches what was scanned,
    or whose values are not allowed, is refused with its line and the reason;
    then nothing is recorded. An empty outcome (verdict) leaves a recorded
    review as it is. A row with a verdict and no reviewer is recorded under
    ``reviewer``, as an answer in the terminal is, and refused where that is empty too."""
    form = form_for(state)
    reviews = state.reviews()
    owner = "case" if is_case(state) else "deployment"
    checker = _RowChecker(
        form, {a.alert_id: (v, a) for v, a in state.alerts()}, state.deployment_dir.name, owner, reviewer
    )
    problems: list[str] = []
    updates: dict[str, dict[str, str]] = {}
    for row in table.rows:
        try:
            finding_id, review = checker.review(row)
        except _RowRefusedError as refused:
            problems.append(str(refused))
            continue
        if review is None:
            continue
        current = reviews.get(finding_id, {})
        if all(current.get(key, "") == value for key, value in review.values(form).items()):
            continue
        updates[finding_id] = review.as_entry(form)
    if problems:
        shown = "; ".join(problems[:PROBLEMS_SHOWN])
        more = len(problems) - PROBLEMS_SHOWN
        raise ReviewError(
            f"{table.path}: nothing imported; {len(problems):,} row(s) refused: {shown}"
            + (f"; and {more:,} more" if more > 0 else "")
        )
    reviews.update(updates)
    state.save_reviews(reviews)
    taken_in(state, table.path)
    write_folder_reports(state)
    return ImportResult(applied=len(updates), unchanged=len(table.rows) - len(updates))


class _RowRefusedError(Exception):
    """One row of an import refused: its line and the reason."""


@dataclass
class _RowChecker:
    """Reads each row of an edited findings table against what was scanned."""

    form: ReviewForm
    findings: dict[str, tuple[VideoRecord, Finding]]  # by id
    folder: str  # the deployment's (or case's) name, as its rows give it
    owner: str  # "deployment" or "case": the column that names it
    reviewer: str  # recorded where a row with a verdict names no reviewer
    first_line: dict[str, int] = field(default_factory=dict)  # where each finding was first

    def review(self, row: Row) -> tuple[str, Review | None]:
        """The row's finding id and its review (None: no verdict, nothing to record);
        :class:`_RowRefusedError` where the row may not be taken."""
        form, line = self.form, row.line
        values = {
            key: _unescape(row.cells.get(key, "")).strip()
            for key in (form.id_column, *form.identity, *form.columns)
        }
        finding_id = values[form.id_column]
        named = _unescape(row.cells.get(self.owner, "")).strip()
        if named and named != self.folder:
            raise _RowRefusedError(f"line {line}: a row of {self.owner} {named[:80]!r}, not {self.folder!r}")
        if finding_id not in self.findings:
            raise _RowRefusedError(f"line {line}: unknown {form.noun} id {finding_id[:40]!r}")
        if finding_id in self.first_line:
            first = self.first_line[finding_id]
            raise _RowRefusedError(f"line {line}: {form.noun} {finding_id} again (first on line {first})")
        self.first_line[finding_id] = line
        video, finding = self.findings[finding_id]
        scanned = {
            "video": video.video,
            "subject_id": finding.subject_id,
            "best_frame": str(finding.best_frame),
        }
        changed = [key for key in form.identity if values[key] != scanned[key]]
        if changed:
            what = ", ".join(f"{key} {'changed' if values[key] else 'empty'}" for key in changed)
            # A spreadsheet drops a row's trailing empty cells, so a row cut short reads as empty cells.
            hint = ": a row cut short?" if any(not values[key] for key in changed) else ""
            raise _RowRefusedError(
                f"line {line}: {form.noun} {finding_id} does not match the scan ({what}{hint})"
            )
        verdict = values[form.verdict_column]
        if not verdict:
            if any(values[key] for key in form.columns if key not in (form.verdict_column, "reviewer")):
                raise _RowRefusedError(
                    f"line {line}: {form.noun} {finding_id} has review details but no {form.verdict_column}"
                )
            return finding_id, None
        reviewer = values["reviewer"] or self.reviewer
        if not reviewer:
            # Every answer says who gave it: an arrest recorded by nobody would also keep
            # the alert's evidence from a purge.
            raise _RowRefusedError(
                f"line {line}: {form.noun} {finding_id} has no reviewer for its {form.verdict_column} "
                "(fill the reviewer column, or give --reviewer)"
            )
        review = Review(verdict, values.get("engagement", ""), reviewer, values["notes"])
        try:
            review.validate(form)
        except ReviewError as error:
            raise _RowRefusedError(f"line {line}: {form.noun} {finding_id}: {error}") from None
        return finding_id, review


def _unescape(value: str) -> str:
    """Undo the apostrophe the reports put before text a spreadsheet would run."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value
