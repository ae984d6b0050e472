"""What ``scan`` and ``search`` tell whoever ran them: one typed summary per command,
from which both the text a person reads and the ``--json`` a script reads are
rendered, so the two cannot tell different stories.

The JSON carries ``summary_version`` (as pypa/build versions its report): a key that
changes meaning or goes away bumps it; a key added does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lfr_batch.cli.common import optional_percent, plural
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.reports import percent
from lfr_batch.records.state import VideoRecord
from lfr_batch.records.timeline import clock
from lfr_batch.terminal import printable
from lfr_batch.vision.calibration import MISSED_SHARE_WARNING

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
            "videos_scanned": self.footage.read,
            "videos_skipped": self.footage.skipped,
            "videos_failed": [problem.to_json() for problem in self.footage.failed],
            "videos_partial": [problem.to_json() for problem in self.footage.partial],
            "videos": self.footage.videos,
            "faces_seen": self.footage.faces_seen,
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
        return {
            "videos_scanned": self.footage.read,
            "videos_skipped": self.footage.skipped,
            "videos_failed": len(self.footage.failed),
            "faces_seen": self.footage.faces_seen,
            "alerts": self.alerts,
        }


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


def cuts_line(cuts: dict[str, Any]) -> str:
    """What a run matched at, in one line: the cuts, what set them, and what to expect."""
    if cuts["mode"] == "fixed":
        where = f"threshold {cuts['cut_median']:.3f} (fixed)"
    else:
        where = (
            f"cuts {cuts['cut_min']:.3f}-{cuts['cut_max']:.3f} (median {cuts['cut_median']:.3f}, one "
            f"per subject), calibrated on {cuts['source']}"
        )
    line = (
        f"{where}: about {cuts['expected_false_alert_rate'] * 10_000:.2g} false alerts expected per "
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
            "videos_searched": self.footage.read,
            "videos_skipped": self.footage.skipped,
            "videos_failed": [problem.to_json() for problem in self.footage.failed],
            "videos_partial": [problem.to_json() for problem in self.footage.partial],
            "faces_seen": self.footage.faces_seen,
            "cut": self.cut,
            "expected_false_candidates": round(self.expected_false_candidates, 4),
            "candidates": [candidate.to_json() for candidate in self.candidates],
            "reports": [str(path) for path in self.reports],
        }

    def lines(self) -> list[str]:
        below = len(self.candidates) - self.above_cut
        return [
            self.footage.line(f"case {self.case}", "searched"),
            f"cut {self.cut:.3f}: about {self.expected_false_candidates:.2g} false candidates expected "
            f"above it; {self.above_cut} {plural(self.above_cut, 'candidate')} above the cut, {below} "
            "listed below it",
            *(candidate.line() for candidate in self.candidates),
            *(f"  {path}" for path in self.reports),
        ]

    def audit_counts(self) -> dict[str, int]:
        return {
            "videos_searched": self.footage.read,
            "videos_skipped": self.footage.skipped,
            "videos_failed": len(self.footage.failed),
            "faces_seen": self.footage.faces_seen,
            "candidates": len(self.candidates),
            "above_cut": self.above_cut,
        }
