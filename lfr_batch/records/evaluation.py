"""How well a scan did, measured against ground truth of who appeared when.

``truth.csv`` lists each appearance of a person in the footage: ``video,
subject_id, start_s, end_s`` (``subject_id`` empty for a stranger), and
optionally ``person``, a label that names the person for ``--groups``. An alert
(or, in the sweep, a track) is matched to the appearances in its video whose
time span overlaps its own: it is a true alert if one of them is of the
alerted subject, else a false alert, charged to the stranger it overlaps.

The rates are those identification studies report (NPL 2023 for the Met):
true-positive identification rate (watchlisted appearances alerted on their
own subject), false-positive identification rate (stranger appearances that
raised an alert), and false alerts per face seen as forces publish it. With
the distances a scan kept (``scan --keep-distances``), the same rates at every
threshold give the DET curve: misses against false positives, for the
decision on the mean of a track's views and for its best single view.
pandas does the joins and the grouping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lfr_batch.errors import ConfigError, WatchlistError, first_of, one_line
from lfr_batch.files import RefusedFileError, file_sha256
from lfr_batch.readers import Table, read_table
from lfr_batch.records.case_report import is_case
from lfr_batch.records.reports import latest_cuts
from lfr_batch.records.state import DeploymentState, VideoRecord

logger = logging.getLogger(__name__)

TRUTH_COLUMNS = ("video", "subject_id", "start_s", "end_s")
# A track's span is widened by this much when matched to an appearance: sampling and
# detection trim a second or so off either end of a walk.
OVERLAP_SLACK_S = 0.5
# A truth row may start this far past its video's recorded length: times read off a
# player are rounded, and a recorded length can fall a frame or two short.
END_SLACK_S = 1.0
# Of the people a groups file names and the truth does not, the warning lists this many.
UNNAMED_SHOWN = 5
SWEEP_THRESHOLDS = tuple(round(0.25 + 0.01 * step, 2) for step in range(46))  # 0.25 … 0.70
ALL = "all"
# The rule of the row that says what the scan's cuts gave away: the single threshold, for
# every subject alike, that would have found the most with no more false alerts.
HINDSIGHT = "best threshold, no more false alerts"


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


@dataclass(frozen=True)
class Rates:
    """One evaluation row: a rule at a threshold, over one group of people."""

    rule: str  # "scan" (the alerts written), "track mean" or "best view" (the sweep), HINDSIGHT
    group: str
    threshold: float
    watchlisted_appearances: int
    watchlisted_found: int
    stranger_appearances: int
    strangers_alerted: int
    alerts: int
    true_alerts: int
    false_alerts: int
    repeated_alerts: int
    faces_seen: int
    true_appearances: int

    @property
    def true_positive_identification_rate(self) -> float:
        return _ratio(self.watchlisted_found, self.watchlisted_appearances)

    @property
    def miss_rate(self) -> float:
        return 1.0 - self.true_positive_identification_rate if self.watchlisted_appearances else math.nan

    @property
    def false_positive_identification_rate(self) -> float:
        return _ratio(self.strangers_alerted, self.stranger_appearances)

    @property
    def false_alerts_per_face_seen(self) -> float:
        return _ratio(self.false_alerts, self.faces_seen)

    def row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "group": self.group,
            "threshold": self.threshold,
            "watchlisted_appearances": self.watchlisted_appearances,
            "watchlisted_found": self.watchlisted_found,
            "true_positive_identification_rate": self.true_positive_identification_rate,
            "miss_rate": self.miss_rate,
            "stranger_appearances": self.stranger_appearances,
            "strangers_alerted": self.strangers_alerted,
            "false_positive_identification_rate": self.false_positive_identification_rate,
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts,
            "false_alerts_per_face_seen": self.false_alerts_per_face_seen,
            "repeated_alerts": self.repeated_alerts,
            "faces_seen": self.faces_seen,
            "true_appearances": self.true_appearances,
        }

    def stored(self) -> dict[str, Any]:
        """The row as a deployment's state keeps it: a rate with nothing to measure (no
        stranger, or no watchlisted person, in the truth) is left out, as the state
        holds numbers, never NaN."""
        return {key: value for key, value in self.row().items() if not _not_a_number(value)}


def _not_a_number(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


EVALUATION_COLUMNS = tuple(Rates("", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0).row())


def _table(path: Path, what: str, key_column: str) -> Table:
    try:
        return read_table(path, what, key_column)
    except RefusedFileError as error:
        raise ConfigError(str(error)) from None


def _seconds(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{path}, line {line}: {column} {text[:40]!r} is not a number")
    return value


def read_truth(path: Path) -> pd.DataFrame:
    """The truth file, checked: one clear line for each thing wrong with it. Each row
    keeps its ``line`` in the file, for the checks against the scan to name."""
    table = _table(path, "truth file", "video")
    missing = [column for column in TRUTH_COLUMNS if column not in table.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(TRUTH_COLUMNS)})")
    rows, lines = [], []
    first_line_of: dict[tuple[str, str, float, float, str], int] = {}
    for row in table.rows:
        start, end = (_seconds(path, row.line, column, row.cells[column]) for column in ("start_s", "end_s"))
        if start < 0:
            raise ConfigError(f"{path}, line {row.line}: start_s is negative")
        if end < start:
            raise ConfigError(f"{path}, line {row.line}: end_s is before start_s")
        subject_id = row.cells["subject_id"]
        person = row.cells.get("person", subject_id)
        # Counted twice, an appearance would be missed (or found) twice. Two unlabelled
        # strangers in view together are two appearances, not one given twice.
        if subject_id or person:
            appearance = (_video_key(row.cells["video"]), subject_id, start, end, person)
            if appearance in first_line_of:
                raise ConfigError(
                    f"{path}, line {row.line}: the same appearance as line {first_line_of[appearance]}"
                )
            first_line_of[appearance] = row.line
        rows.append({**row.cells, "start_s": start, "end_s": end})
        lines.append(row.line)
    truth = pd.DataFrame(rows, columns=list(dict.fromkeys([*table.columns, *TRUTH_COLUMNS])))
    if "person" not in truth.columns:
        truth["person"] = truth["subject_id"]
    truth["appearance"] = np.arange(len(truth))
    truth["line"] = lines
    return truth


def read_groups(path: Path) -> dict[str, str]:
    """``person,group`` (a person label, or a subject id, to a group label); a person
    given two groups, or none, is refused."""
    table = _table(path, "groups file", "person")
    if list(table.columns[:2]) != ["person", "group"]:
        raise ConfigError(f"{path}: the header must be person,group")
    groups: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for row in table.rows:
        person, group = row.cells["person"], row.cells["group"]
        if not person:
            raise ConfigError(f"{path}, line {row.line}: person is empty")
        if not group:
            raise ConfigError(f"{path}, line {row.line}: the group of {person!r} is empty")
        if groups.get(person, group) != group:
            raise ConfigError(
                f"{path}, line {row.line}: {person!r} is already in group {groups[person]!r} "
                f"(line {line_of[person]})"
            )
        groups[person] = group
        line_of.setdefault(person, row.line)
    return groups


def _video_key(video: str) -> str:
    return Path(video.replace("\\", "/")).name


def _attribute(found: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Each found track or alert (``video, first_seen_s, last_seen_s, subject_id``) with
    the appearances its span overlaps: whether one is of its subject, and the strangers."""
    found = found.assign(key=found["video"].map(_video_key))
    appearances = truth.assign(key=truth["video"].map(_video_key))
    pairs = found.merge(appearances, on="key", suffixes=("", "_truth"))
    overlapping = (pairs["first_seen_s"] - OVERLAP_SLACK_S <= pairs["end_s"]) & (
        pairs["last_seen_s"] + OVERLAP_SLACK_S >= pairs["start_s"]
    )
    return pairs[overlapping]


def rates(
    found: pd.DataFrame,
    truth: pd.DataFrame,
    faces_seen: int,
    rule: str,
    threshold: float,
    group: str = ALL,
    members: pd.Series | None = None,
) -> Rates:
    """The rates of one set of alerts against the truth. With ``members`` (a mask over
    the truth's rows), the rates of that group's appearances: each alert is still
    judged against everyone who was there."""
    pairs = _attribute(found, truth)
    correct = pairs[pairs["subject_id"] == pairs["subject_id_truth"]]
    true_ids = set(correct["found_id"])
    in_group = truth if members is None else truth[members]
    pairs = pairs[pairs["appearance"].isin(in_group["appearance"])]
    correct = correct[correct["appearance"].isin(in_group["appearance"])]
    counted = found["found_id"] if members is None else pairs["found_id"].drop_duplicates()
    false_pairs = pairs[~pairs["found_id"].isin(true_ids)]
    strangers = in_group[in_group["subject_id"] == ""]
    watchlisted = in_group[in_group["subject_id"] != ""]
    hits_per_appearance = correct.groupby("appearance")["found_id"].nunique()
    true_alerts = int(counted.isin(true_ids).sum())
    return Rates(
        rule=rule,
        group=group,
        threshold=threshold,
        watchlisted_appearances=len(watchlisted),
        watchlisted_found=int(watchlisted["appearance"].isin(hits_per_appearance.index).sum()),
        stranger_appearances=len(strangers),
        strangers_alerted=int(strangers["appearance"].isin(false_pairs["appearance"]).sum()),
        alerts=len(counted),
        true_alerts=true_alerts,
        false_alerts=len(counted) - true_alerts,
        repeated_alerts=int((hits_per_appearance - 1).clip(lower=0).sum()),
        faces_seen=faces_seen,
        true_appearances=len(in_group),
    )


def _tracks_at(distances: pd.DataFrame, threshold: float, column: str) -> pd.DataFrame:
    within = distances[distances[column] <= threshold]
    return _found(within.rename(columns={"subject_1": "subject_id"}))


def _found(table: pd.DataFrame) -> pd.DataFrame:
    """Alerts or tracks as the matching needs them, each with an id of its own."""
    found = table[["video", "first_seen_s", "last_seen_s", "subject_id"]]
    return found.assign(found_id=np.arange(len(found)))


def in_hindsight(scan: Rates, sweep: pd.DataFrame) -> Rates | None:
    """The swept threshold (decision on a track's mean) that found the most watchlisted
    appearances with no more false alerts than the scan, the strictest of equals: what
    the scan's rule gave away, where it gave any."""
    rows = sweep[(sweep["rule"] == "track mean") & (sweep["false_alerts"] <= scan.false_alerts)]
    if rows.empty:
        return None
    best = rows.sort_values(["watchlisted_found", "threshold"], ascending=[False, True]).iloc[0]
    counts = [name for name in Rates.__dataclass_fields__ if name not in ("rule", "group", "threshold")]
    return Rates(HINDSIGHT, ALL, float(best["threshold"]), *(int(best[name]) for name in counts))


def evaluate(
    deployment_dir: Path, truth_path: Path, groups_path: Path | None = None
) -> tuple[list[Rates], pd.DataFrame | None]:
    """Rates of the scan's alerts, per group when groups are given, and the sweep's
    rows when the scan kept distances, with the best threshold in hindsight among the
    rates (:func:`in_hindsight`). Reads the deployment's state (never its reports,
    which a spreadsheet may have changed); writes nothing."""
    truth = read_truth(truth_path)
    groups = read_groups(groups_path) if groups_path is not None else {}
    state = DeploymentState(deployment_dir)
    if not state.exists or is_case(state) or not state.records:
        raise ConfigError(f"{deployment_dir} holds no scanned deployment")
    settings = state.report_settings()  # one line, where the state cannot make reports
    videos = _scanned_videos(state, truth)
    _refuse_starts_past_the_end(truth_path, truth, videos)
    _refuse_purged(deployment_dir, videos)
    _refuse_subjects_never_listed(truth_path, truth, state)
    if groups_path is not None:
        _warn_of_people_not_in_the_truth(groups_path, groups, truth)
    median_cut = latest_cuts(state)["cut_median"]  # for cuts per subject, their median
    threshold = math.nan if median_cut is None else float(median_cut)
    found = _found(_alerts_table(state))
    faces_seen = sum(record.faces_seen for records in videos.values() for record in records)
    results = [rates(found, truth, faces_seen, "scan", threshold)]
    if groups:
        labels = truth["person"].map(groups).fillna(truth["subject_id"].map(groups)).fillna("(no group)")
        for group in sorted(set(labels)):
            # Faces seen are not split by group: false alerts per face seen stays an overall figure.
            results.append(rates(found, truth, faces_seen, "scan", threshold, group, labels == group))
    sweep = _sweep(state, truth, faces_seen) if settings.keep_distances else None
    if sweep is not None:
        best = in_hindsight(results[0], sweep)
        if best is not None:
            results.append(best)
    return results, sweep


def _alerts_table(state: DeploymentState) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "video": video.video,
                "first_seen_s": alert.first_seen_s,
                "last_seen_s": alert.last_seen_s,
                "subject_id": alert.subject_id,
            }
            for video, alert in state.alerts()
        ],
        columns=["video", "first_seen_s", "last_seen_s", "subject_id"],
    )


def _scanned_videos(state: DeploymentState, truth: pd.DataFrame) -> dict[str, list[VideoRecord]]:
    """The scanned videos the truth covers, by file name (several where files of one
    name were scanned); a video it names that was not scanned is refused in one line."""
    by_name: dict[str, list[VideoRecord]] = {}
    for record in state.ordered():
        by_name.setdefault(_video_key(record.video), []).append(record)
    named = set(truth["video"].map(_video_key))
    unknown = named - set(by_name)
    if unknown:
        raise ConfigError(
            f"the truth names videos this deployment did not scan: {', '.join(sorted(unknown))}"
        )
    return {name: by_name[name] for name in named}


def _refuse_starts_past_the_end(
    truth_path: Path, truth: pd.DataFrame, videos: dict[str, list[VideoRecord]]
) -> None:
    """An appearance that starts after its video ends (a time in the wrong unit, or a
    row of another clip) could never be found, and would count as a miss."""
    for video, start, line in zip(truth["video"], truth["start_s"], truth["line"], strict=True):
        name = _video_key(video)
        # A video decoded in part (status partial) is longer than what the scan read of it.
        length = max((record.duration_s for record in videos[name] if record.status == "ok"), default=0.0)
        if length > 0 and start > length + END_SLACK_S:  # 0: a length the scan could not read
            raise ConfigError(
                f"{truth_path}, line {line}: start_s {start:g} is after the end of {name} ({length:.1f} s)"
            )


def _refuse_purged(deployment_dir: Path, videos: dict[str, list[VideoRecord]]) -> None:
    """Alerts purged from the videos the truth covers are no longer there to match: a
    purged true alert would count as a miss."""
    purged = sum(record.purged.get("total_alerts", 0) for records in videos.values() for record in records)
    if purged:
        alerts = "1 alert" if purged == 1 else f"{purged} alerts"
        were = "was" if purged == 1 else "were"
        raise ConfigError(
            f"{deployment_dir}: {alerts} of the videos in the truth {were} purged, so the rates would "
            "count them as misses; evaluate a deployment before purging it"
        )


def _refuse_subjects_never_listed(truth_path: Path, truth: pd.DataFrame, state: DeploymentState) -> None:
    """A truth subject id that is not on the watchlist the deployment was scanned with
    (often one typed in another case) could never be alerted on: every appearance of
    it would count as a miss."""
    watchlisted = truth[truth["subject_id"] != ""]
    if watchlisted.empty:
        return
    listed = _scanned_subject_ids(state)
    if listed is None:
        return
    by_folded_case = {subject_id.casefold(): subject_id for subject_id in listed}
    for subject_id, line in zip(watchlisted["subject_id"], watchlisted["line"], strict=True):
        if subject_id in listed:
            continue
        near = by_folded_case.get(subject_id.casefold())
        hint = f" (did you mean {near!r}?)" if near else ""
        raise ConfigError(
            f"{truth_path}, line {line}: subject_id {subject_id[:40]!r} is not on the watchlist "
            f"this deployment was scanned with{hint}"
        )


def _scanned_subject_ids(state: DeploymentState) -> frozenset[str] | None:
    """The subject ids of the watchlist the deployment was scanned with, where that file
    is still where the scan read it and unchanged; else None, with a warning."""
    recorded = state.settings.get("watchlist", {}).get("path", "")
    scanned_sha256 = state.settings.get("scan", {}).get("watchlist_sha256", "")
    path = Path(recorded)
    if not recorded:
        reason = "this deployment was scanned before lfr-batch kept where its watchlist was"
    elif not path.is_file():
        reason = f"{path}, which it was scanned with, is gone"
    elif file_sha256(path) != scanned_sha256:
        reason = f"{path} has changed since the scan"
    else:
        try:
            # The watchlist's file format names the dlib models: load the vision side only here.
            from lfr_batch.watchlist.store import load_watchlist

            # The file is the one the scan accepted (its SHA-256 is the same), signed or not.
            return frozenset(subject.subject_id for subject in load_watchlist(path).subjects)
        except (ImportError, WatchlistError) as error:
            reason = one_line(error)
    logger.warning("the truth's subject ids cannot be checked against the watchlist: %s", reason)
    return None


def _warn_of_people_not_in_the_truth(groups_path: Path, groups: dict[str, str], truth: pd.DataFrame) -> None:
    """A person in the groups file whom the truth never names is, often, a label spelt
    two ways: their appearances fall in no group."""
    named = set(truth["person"]) | set(truth["subject_id"])
    unnamed = [person for person in groups if person not in named]
    if unnamed:
        logger.warning(
            "%s names people the truth does not (as a person or a subject_id): %s",
            groups_path,
            first_of([repr(person) for person in unnamed], UNNAMED_SHOWN),
        )


def _sweep(state: DeploymentState, truth: pd.DataFrame, faces_seen: int) -> pd.DataFrame:
    """The rates at every threshold of the sweep, by each track's mean and by its best view."""
    distances = pd.DataFrame(
        [{"video": record.video, **row} for record in state.ordered() for row in record.distances],
        columns=["video", "first_seen_s", "last_seen_s", "subject_1", "distance_1", "best_view_distance"],
    )
    for column in ("distance_1", "best_view_distance"):
        distances[column] = pd.to_numeric(distances[column], errors="coerce")
    distances["subject_1"] = distances["subject_1"].fillna("").astype(str)
    return pd.DataFrame(
        [
            rates(_tracks_at(distances, t, column), truth, faces_seen, rule, t).row()
            for rule, column in (("track mean", "distance_1"), ("best view", "best_view_distance"))
            for t in SWEEP_THRESHOLDS
        ],
        columns=EVALUATION_COLUMNS,
    )


def write_det_curve(sweep: pd.DataFrame, path: Path, threshold: float) -> None:
    """Misses against false positives at every threshold, one line per rule, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4.5), dpi=100)
    for rule, rows in sweep.groupby("rule", sort=False):
        axes.plot(
            rows["false_positive_identification_rate"] * 100,
            rows["miss_rate"] * 100,
            marker=".",
            label=str(rule),
        )
        at = rows[np.isclose(rows["threshold"], round(threshold, 2))]
        if rule == "track mean" and len(at):
            axes.annotate(
                f"{threshold:.3f}",
                (at["false_positive_identification_rate"].iloc[0] * 100, at["miss_rate"].iloc[0] * 100),
            )
    axes.set_xscale("symlog", linthresh=1.0)
    axes.set_xlabel("strangers alerted (false-positive identification rate, %)")
    axes.set_ylabel("watchlisted appearances missed (%)")
    axes.set_title("DET curve: each point a threshold")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
