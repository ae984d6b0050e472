"""What ``scan``, ``search``, ``watchlist info`` and ``audit verify`` tell whoever ran
them: one typed summary per command, from which both the text a person reads and the
``--json`` a script reads are rendered, so the two cannot tell different stories
(``grid --summary`` renders both from its figures, lfr_batch.records.grid).

The JSON carries ``summary_version`` (as pypa/build versions its report): a key that
changes meaning or goes away bumps it; a key added does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lfr_batch.cli.common import cell, optional_percent, plural
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.reports import percent
from lfr_batch.records.state import VideoRecord
from lfr_batch.records.timeline import clock
from lfr_batch.signing import SIGNING_KEY_ENV
from lfr_batch.terminal import printable
from lfr_batch.times import iso
from lfr_batch.vision.calibration import (
    DEFAULT_MAX_FALSE_ALERT_RATE,
    MISSED_SHARE_WARNING,
    Outlook,
    load_reference,
    outlook,
)
from lfr_batch.watchlist.model import Watchlist, expiry_text

if TYPE_CHECKING:
    from lfr_batch.scan import RunCuts, ScanResult
    from lfr_batch.search import SearchResult

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class VideoProblem:
    """A video not read whole: failed, or partial."""

    video: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"video": self.video, "reason": self.reason}


@dataclass(frozen=True)
class Footage:
    """What a run did with the footage it was given."""

    read: int  # videos read in this run, whole or not
    skipped: int  # read by an earlier run (the same content)
    failed: tuple[VideoProblem, ...]
    partial: tuple[VideoProblem, ...]
    videos: int  # in the deployment or case, all runs together
    faces_seen: int

    @classmethod
    def of(cls, scanned: list[VideoRecord], skipped: int, records: int, faces_seen: int) -> Footage:
        def problems(status: str) -> tuple[VideoProblem, ...]:
            return tuple(VideoProblem(r.video, r.reason) for r in scanned if r.status == status)

        return cls(len(scanned), skipped, problems("failed"), problems("partial"), records, faces_seen)

    @property
    def whole(self) -> bool:
        """Whether every video of this run was read whole (exit 0, else 3)."""
        return not (self.failed or self.partial)

    def to_json(self, verb: str) -> dict[str, Any]:
        """The footage's part of a --json: videos ``verb`` (scanned, searched), skipped,
        failed and partial (with reasons), and faces seen."""
        return {
            f"videos_{verb}": self.read,
            "videos_skipped": self.skipped,
            "videos_failed": [problem.to_json() for problem in self.failed],
            "videos_partial": [problem.to_json() for problem in self.partial],
            "faces_seen": self.faces_seen,
        }

    def counts(self, verb: str) -> dict[str, int]:
        """The footage's part of the audit line's counts."""
        return {
            f"videos_{verb}": self.read,
            "videos_skipped": self.skipped,
            "videos_failed": len(self.failed),
            "faces_seen": self.faces_seen,
        }

    def line(self, noun: str, verb: str) -> str:
        counts = Counter({"failed": len(self.failed), "partial": len(self.partial)})
        not_whole = ", ".join(f"{counts[s]} {s}" for s in ("failed", "partial") if counts[s])
        shown = f" ({not_whole})" if not_whole else ""
        return (
            f"{noun}: {self.read} {plural(self.read, 'video')} {verb}{shown}, {self.skipped} already "
            f"{verb}; in all {self.videos} {plural(self.videos, 'video')}, {self.faces_seen} "
            f"{plural(self.faces_seen, 'face')} seen"
        )


@dataclass(frozen=True)
class ScanSummary:
    deployment: str
    deployment_dir: Path
    footage: Footage
    alerts: int
    cuts: RunCuts | None  # None: nothing scanned, so nothing calibrated
    reports: tuple[Path, ...]

    @classmethod
    def of(cls, deployment: str, result: ScanResult) -> ScanSummary:
        paths = DeploymentFolder(result.deployment_dir)
        footage = Footage.of(result.scanned, len(result.skipped), len(result.records), result.faces_seen)
        reports = (
            paths.alerts_csv,
            paths.alerts_xlsx,
            paths.deployment_csv,
            paths.videos_csv,
            paths.report_html,
        )
        return cls(deployment, result.deployment_dir, footage, result.total_alerts, result.cuts, reports)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary_version": SUMMARY_VERSION,
            "deployment": self.deployment,
            "deployment_dir": str(self.deployment_dir),
            **self.footage.to_json("scanned"),
            "videos": self.footage.videos,
            "alerts": self.alerts,
            "cuts": None if self.cuts is None else cuts_json(self.cuts.to_payload()),
            "reports": [str(path) for path in self.reports],
        }

    def lines(self) -> list[str]:
        head = self.footage.line(f"deployment {self.deployment}", "scanned")
        lines = [f"{head}, {self.alerts} {plural(self.alerts, 'alert')}"]
        if self.cuts is not None:
            lines.append(cuts_line(self.cuts.to_payload()))
        return [*lines, *(f"  {path}" for path in self.reports)]

    def audit_counts(self) -> dict[str, int]:
        return {**self.footage.counts("scanned"), "alerts": self.alerts}


def cuts_json(cuts: dict[str, Any]) -> dict[str, Any]:
    """A run's cuts as --json gives them: rates in % of faces seen, like every report."""
    shown = {
        key: value
        for key, value in cuts.items()
        if key not in ("expected_false_alert_rate", "expected_missed_share")
    }
    return {
        **shown,
        "expected_false_alert_rate_percent": percent(cuts["expected_false_alert_rate"]),
        "expected_missed_percent": optional_percent(cuts["expected_missed_share"]),
    }


def plural_of_figure(figure: str, word: str) -> str:
    """The word for a figure as shown: "1 false alert", but "0.98" or "0 false alerts"."""
    return word if figure == "1" else word + "s"


def cuts_line(cuts: dict[str, Any]) -> str:
    """What a run matched at, in one line: the cuts, what set them, and what to expect."""
    if cuts["mode"] == "fixed":
        where = f"threshold {cuts['cut_median']:.3f} (fixed)"
    else:
        where = (
            f"cuts {cuts['cut_min']:.3f}-{cuts['cut_max']:.3f} (median {cuts['cut_median']:.3f}, one "
            f"per subject), calibrated on {cuts['source']}"
        )
    expected = f"{cuts['expected_false_alert_rate'] * 10_000:.2g}"
    line = (
        f"{where}: about {expected} {plural_of_figure(expected, 'false alert')} expected per "
        "10,000 faces seen"
    )
    missed = cuts["expected_missed_share"]
    if missed is not None:
        line += f"; {100 * missed:.0f}% of the list's own photos, as footage shows faces, lie beyond the cut"
        if missed > MISSED_SHARE_WARNING:
            line += " (more photos per subject, sharper photos or a shorter list would find more)"
    return line


@dataclass(frozen=True)
class Candidate:
    """One face in a search's ranked list: the person searched for, maybe."""

    rank: int
    candidate_id: str
    distance: float
    above_cut: bool
    video: str
    first_seen_s: float
    last_seen_s: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def line(self) -> str:
        place = "" if self.above_cut else "  (below the cut)"
        return (
            f"  #{self.rank} {self.candidate_id} distance {self.distance:.3f}  {printable(self.video)} "
            f"{clock(self.first_seen_s)}-{clock(self.last_seen_s)}{place}"
        )


@dataclass(frozen=True)
class SearchSummary:
    case: str
    case_dir: Path
    footage: Footage
    cut: float
    expected_false_candidates: float  # above the cut, over the faces seen
    candidates: tuple[Candidate, ...]
    reports: tuple[Path, ...]

    @classmethod
    def of(cls, case: str, result: SearchResult) -> SearchSummary:
        scanned = result.scan
        faces_seen = sum(record.faces_seen for record in scanned.records)
        footage = Footage.of(scanned.scanned, len(scanned.skipped), len(scanned.records), faces_seen)
        candidates = tuple(
            Candidate(
                rank,
                alert.alert_id,
                alert.distance,
                alert.distance <= result.cut,
                video.video,
                alert.first_seen_s,
                alert.last_seen_s,
            )
            for rank, (video, alert) in enumerate(result.candidates, start=1)
        )
        paths = DeploymentFolder(result.case_dir)
        expected = result.expected_false_candidate_rate * faces_seen
        reports = (paths.candidates_csv, paths.candidates_xlsx, paths.case_html)
        return cls(case, result.case_dir, footage, result.cut, expected, candidates, reports)

    @property
    def above_cut(self) -> int:
        return sum(candidate.above_cut for candidate in self.candidates)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary_version": SUMMARY_VERSION,
            "case": self.case,
            "case_dir": str(self.case_dir),
            **self.footage.to_json("searched"),
            "cut": self.cut,
            "expected_false_candidates": round(self.expected_false_candidates, 4),
            "candidates": [candidate.to_json() for candidate in self.candidates],
            "reports": [str(path) for path in self.reports],
        }

    def lines(self) -> list[str]:
        below = len(self.candidates) - self.above_cut
        expected = f"{self.expected_false_candidates:.2g}"
        return [
            self.footage.line(f"case {self.case}", "searched"),
            f"cut {self.cut:.3f}: about {expected} {plural_of_figure(expected, 'false candidate')} expected "
            f"above it; {self.above_cut} {plural(self.above_cut, 'candidate')} above the cut, {below} "
            "listed below it",
            *(candidate.line() for candidate in self.candidates),
            *(f"  {path}" for path in self.reports),
        ]

    def audit_counts(self) -> dict[str, int]:
        counts = self.footage.counts("searched")
        return {**counts, "candidates": len(self.candidates), "above_cut": self.above_cut}


@dataclass(frozen=True)
class SubjectRow:
    """One subject as ``watchlist info`` lists it."""

    subject_id: str
    name: str
    category: str
    photos: int
    expires: str  # as the list gives it; "" for never
    expired: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "expires": self.expires or None}

    def cells(self) -> tuple[str, ...]:
        expires = cell(self.expires or "-") + (" EXPIRED" if self.expired else "")
        return (cell(self.subject_id), cell(self.name), str(self.photos), expires, cell(self.category or "-"))


@dataclass(frozen=True)
class WatchlistSummary:
    """What ``watchlist info`` tells of a list: its subjects, and what to expect of it
    before any footage (the reference's cuts, false alerts and misses)."""

    path: Path
    created: str  # ISO 8601, or "" where the list does not say
    legacy_format: bool  # face_recognition's layout
    signature_checked: bool
    subjects: tuple[SubjectRow, ...]
    encodings: int
    footage_views: int
    categories: dict[str, int]
    reference: str  # what the reference was fitted on
    outlook: Outlook

    @classmethod
    def of(cls, path: Path, watchlist: Watchlist, signature_checked: bool, now: datetime) -> WatchlistSummary:
        per_subject = watchlist.photos_per_subject()
        subjects = tuple(
            SubjectRow(
                s.subject_id, s.name, s.category, int(count), expiry_text(s.expires), s.is_expired(now)
            )
            for s, count in zip(watchlist.subjects, per_subject, strict=True)
        )
        categories = Counter(s.category or "(none)" for s in watchlist.subjects)
        return cls(
            path,
            iso(watchlist.created),
            watchlist.legacy_format,
            signature_checked,
            subjects,
            len(watchlist.encodings),
            int(watchlist.encoding_footage_view.sum()),
            dict(sorted(categories.items())),
            load_reference().fitted_on,
            outlook(watchlist, DEFAULT_MAX_FALSE_ALERT_RATE),
        )

    @property
    def expired(self) -> int:
        return sum(subject.expired for subject in self.subjects)

    def to_json(self) -> dict[str, Any]:
        cuts = self.outlook.cuts
        return {
            "summary_version": SUMMARY_VERSION,
            "watchlist": str(self.path),
            "created": self.created or None,
            "format": "face_recognition" if self.legacy_format else "lfr-batch",
            "signature_checked": self.signature_checked,
            "subjects": len(self.subjects),
            "encodings": self.encodings,
            "footage_views": self.footage_views,
            "expired": self.expired,
            "categories": self.categories,
            "subject_list": [subject.to_json() for subject in self.subjects],
            "reference": self.reference,
            "auto": {
                "cut_median": round(float(np.median(cuts)), 3),
                "cut_min": round(float(cuts.min()), 3),
                "cut_max": round(float(cuts.max()), 3),
                "cuts": {
                    s.subject_id: round(float(cut), 3) for s, cut in zip(self.subjects, cuts, strict=True)
                },
                "expected_false_alert_rate_percent": percent(self.outlook.expected_false_alert_rate),
                "own_photos_missed_percent": optional_percent(self.outlook.missed_share),
            },
            "thresholds": [
                {
                    "threshold": threshold,
                    "expected_false_alert_rate_percent": percent(rate),
                    "own_photos_missed_percent": optional_percent(missed),
                }
                for threshold, rate, missed in self.outlook.table
            ],
        }

    def lines(self) -> list[str]:
        views = self.footage_views
        signature = (
            f"checked with ${SIGNING_KEY_ENV}"
            if self.signature_checked
            else f"not checked (${SIGNING_KEY_ENV} is not set)"
        )
        return [
            f"watchlist: {self.path}",
            f"created: {self.created or 'unknown'}"
            + (" (face_recognition layout)" if self.legacy_format else ""),
            f"subjects: {len(self.subjects)}   encodings: {self.encodings}   footage views: {views}"
            + ("" if views else " (rebuild with 'watchlist build' to add them)"),
            f"signature: {signature}",
            f"expired: {self.expired}",
            "categories:",
            *(f"  {count:5d}  {printable(category)}" for category, count in self.categories.items()),
            "",
            *self._subject_table(),
            "",
            *self._outlook_lines(),
        ]

    def warnings(self) -> list[str]:
        """What stderr says besides the lines."""
        missed = self.outlook.missed_share
        if missed is None or missed <= MISSED_SHARE_WARNING:
            return []
        return [
            "warning: many of the list's own people would be missed: more photos per subject, "
            "sharper photos or a shorter list would find more of them"
        ]

    def _subject_table(self) -> list[str]:
        header = ("subject_id", "name", "photos", "expires", "category")
        rows = [header, *(subject.cells() for subject in self.subjects)]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        return [
            "  ".join(
                value.rjust(width) if column == 2 else value.ljust(width)
                for column, (value, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]

    def _outlook_lines(self) -> list[str]:
        """What to expect of the list before any footage: its cuts, false alerts and misses."""
        cuts, missed = self.outlook.cuts, self.outlook.missed_share
        strictest = np.argsort(cuts)[: min(3, len(cuts))]
        lines = [
            f"cuts before any footage (the reference, {self.reference}; each scan recalibrates them on "
            "the faces it sees), at most 1 false alert in 10,000 faces seen:",
            f"  median {np.median(cuts):.3f}, from {cuts.min():.3f} to {cuts.max():.3f}",
            "  strictest (their photos lie near the average face, so strangers come near them): "
            + ", ".join(f"{cell(self.subjects[i].subject_id)} {cuts[i]:.3f}" for i in strictest),
        ]
        if missed is not None:
            lines.append(
                f"  {100 * missed:.0f}% of the list's own photos, shown as footage shows faces, lie beyond "
                "their subject's cut"
            )
        lines.append(
            f"{'one threshold for all':>21}  {'false alerts per 10,000 faces':>30}  {'own photos missed':>17}"
        )
        for threshold, rate, share in self.outlook.table:
            shown = "-" if share is None else f"{100 * share:.1f}%"
            lines.append(f"{threshold:>21.3f}  {rate * 10_000:>30.3g}  {shown:>17}")
        return lines


@dataclass(frozen=True)
class AuditVerifySummary:
    """What ``audit verify`` found of an audit log's chain."""

    audit_log: Path
    line_count: int  # lines in the log
    problems: tuple[str, ...]  # each one line; none: the chain is intact
    signed: bool  # checked with the signing key

    def to_json(self) -> dict[str, Any]:
        return {
            "summary_version": SUMMARY_VERSION,
            "audit_log": str(self.audit_log),
            "lines": self.line_count,
            "intact": not self.problems,
            "signed": self.signed,
            "problems": list(self.problems),
        }

    def lines(self) -> list[str]:
        """What stdout says of an intact chain (the problems go to stderr)."""
        return [] if self.problems else [f"{self.audit_log}: {self.line_count} lines, chain intact"]
