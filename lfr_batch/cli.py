"""The ``lfr-batch`` command: parse options, build a config, call the library.

Errors from the library arrive as :class:`~lfr_batch.errors.LfrBatchError` and are
turned into one line on stderr and an exit code here, and only here.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.command_settings import (
    config_option,
    log_error_to_file,
    logging_options,
    quiet,
    start_logging,
    stop_logging,
)
from lfr_batch.errors import AuditError, LfrBatchError, ReportError, one_line
from lfr_batch.executors import SCHEDULER_ENV
from lfr_batch.files import SHARE_GROUP_ENV, share_group, write_atomic
from lfr_batch.options import OPTIONS
from lfr_batch.records import audit
from lfr_batch.records.evaluation import EVALUATION_COLUMNS, HINDSIGHT, evaluate, write_det_curve
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.grid import (
    DEFAULT_SUPPLIER,
    GRID_DAYS,
    GRID_DURATIONS,
    GRID_MOMENTS,
    GRID_NUMBERS,
    PUBLISHED_COLUMNS,
    Grid,
    collect,
    summary_figures,
)
from lfr_batch.records.grid import summary as grid_summary
from lfr_batch.records.reports import csv_bytes, percent, write_csv, write_reports
from lfr_batch.records.retention import parse_age, purge
from lfr_batch.records.review import chosen, form_for, import_reviews, open_deployment, pending, read_edits
from lfr_batch.records.spreadsheets import write_xlsx
from lfr_batch.records.state import VideoRecord
from lfr_batch.records.timeline import clock
from lfr_batch.scan import (
    MISSED_SHARE_WARNING,
    Progress,
    ScanConfig,
    scan,
)
from lfr_batch.search import (
    SearchConfig,
    search,
)
from lfr_batch.signing import SIGNING_KEY_ENV, signing_key
from lfr_batch.terminal import TerminalReview, printable
from lfr_batch.times import iso
from lfr_batch.vision.calibration import DEFAULT_MAX_FALSE_ALERT_RATE, load_reference
from lfr_batch.watchlist import (
    Outlook,
    Watchlist,
    build_watchlist,
    expiry_text,
    load_watchlist,
    outlook,
    save_watchlist,
    warn_about_file,
)

logger = logging.getLogger(SOFTWARE_NAME)

# Reports written, but some videos were partial or failed: a job can tell, and look.
EXIT_INCOMPLETE = 3


class IsoDateTime(click.ParamType):
    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date-time such as 2026-11-26T14:00:00+00:00",
                param,
                ctx,
            )


class Threshold(click.ParamType):
    """``auto`` (None: calibrated to the watchlist) or a distance."""

    name = "auto|DISTANCE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither 'auto' nor a distance such as 0.45", param, ctx)


class ScanProgress:
    """tqdm bars on stderr: videos done, and frames decoded over all of them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, event: Progress) -> None:
        if event.event == "scan_start":
            self.bars["videos"] = tqdm(
                total=event.total, unit="video", desc="videos", position=0, disable=not self.enabled
            )
            self.bars["frames"] = tqdm(
                total=event.frames or None,
                unit="frame",
                unit_scale=True,
                desc="frames",
                position=1,
                disable=not self.enabled,
            )
        elif event.event == "frames" and "frames" in self.bars:
            self.bars["frames"].update(event.advance)
        elif event.event == "video_end" and "videos" in self.bars:
            self.bars["videos"].update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name=SOFTWARE_NAME)
@logging_options
@click.option(
    "--group",
    envvar=SHARE_GROUP_ENV,
    default=None,
    help="Share what this command writes with this group, to read: folders 0750 and files 0640, "
    f"the group's; also read from ${SHARE_GROUP_ENV}.  [default: none, owner only (0700, 0600)]",
)
def cli(group: str | None) -> None:
    """Batch face matching of recorded CCTV footage against a watchlist, with
    per-deployment reports in the shape police forces publish for LFR.

    \b
    Exit status (every command):
      0  done: every video scanned (or scanned before)
      1  an error stopped the command (one line on stderr)
      2  a bad option, argument or config file
      3  reports written, but some videos were partial or failed (videos.csv says which)
      4  nothing scanned: no video among the inputs could be read; no deployment created
    """
    if group:
        os.environ[SHARE_GROUP_ENV] = group  # where every file is written, workers included
        share_group()  # an unknown group is refused before anything is written


def wait_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        is_flag=True,
        help="If another command holds the deployment, wait for it instead of stopping.",
    )(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout instead of the text (for scripts).",
    )(command)


def echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def table_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of one row of lfr_batch.options: its flag, type, default and help,
    with its range; the range itself is checked by the library, so a value from the
    command line and one from --config are refused alike, in one line."""
    row = OPTIONS[name]
    allowed = row.allowed
    return click.option(
        row.flag,
        row.name,
        type=click.Choice(row.choices) if row.choices else row.kind,
        default=row.default,
        show_default=row.shown_default or True,
        help=f"{row.help} {allowed[0].upper()}{allowed[1:]}." if not row.choices else row.help,
    )


def footage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How footage is read and where the work runs: the same for scan and search."""
    for name in ("segment_seconds",):
        command = table_option(name)(command)
    command = click.option(
        "--scheduler",
        envvar=SCHEDULER_ENV,
        default=None,
        help=f"Dask scheduler address (tcp://HOST:PORT) to run the segments on a cluster "
        f"instead of local workers; also read from ${SCHEDULER_ENV}.  [default: none]",
    )(command)
    for name in ("workers", "detector", "upsample", "sample_fps"):
        command = table_option(name)(command)
    command = click.option(
        "--start",
        type=IsoDateTime(),
        default=None,
        help="Wall-clock time of the first frame (ISO 8601), for files whose name carries no "
        "timestamp such as 20261126T140000. Default: unknown, so wall-clock columns stay empty.",
    )(command)
    return command


@cli.command("scan")
@logging_options
@config_option
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--watchlist",
    "watchlist_path",
    type=click.Path(path_type=Path),
    help="Watchlist file made by 'lfr-batch watchlist build' (or a face_recognition pickle).  [required]",
)
@click.option("--deployment", help="Name of the operation; reports go to OUT/NAME/.  [required]")
@click.option(
    "--out",
    "out_dir",
    default=Path("reports"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder that holds one sub-folder of reports per deployment.",
)
@click.option(
    "--location",
    default="",
    help="Where the cameras were, as it should be published.  [default: empty]",
)
@click.option(
    "--purpose",
    default="",
    help="Why the deployment took place, as it should be published.  [default: empty]",
)
@footage_options
@click.option(
    "--threshold",
    default="auto",
    show_default=True,
    type=Threshold(),
    help="Largest distance between a face's encodings (the mean over its track) and a subject's "
    "that counts as a match, the same for every subject; lower is stricter. 'auto': a cut per "
    "subject, calibrated on the faces this run sees, so that the list as a whole alerts on at "
    "most --max-false-alert-rate of strangers' faces.",
)
@click.option(
    "--background",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Footage of the same site on an ordinary day (a file or folder; repeat for more): its "
    "faces join this run's in calibrating the cuts, and nothing of it is alerted on, recorded "
    "or kept. Scanned again by each run it is given to.  [default: none]",
)
@table_option("max_false_alert_rate")
@click.option(
    "--exhaustive",
    is_flag=True,
    help="Analyse every frame in full and encode every face: many times slower; "
    "for checking what the fast default finds.",
)
@table_option("watchlist_max_age_h")
@click.option(
    "--wait",
    is_flag=True,
    help="If another command (a scan, review or purge) holds the deployment, wait for it to "
    "finish instead of stopping with an error.",
)
@click.option(
    "--keep-distances",
    is_flag=True,
    help="Also write distances.csv: each face's three nearest subjects and distances (numbers, "
    "never an encoding or a crop), for 'lfr-batch evaluate' on test footage. Keeps a trace "
    "of every face seen: do not use it on live deployments.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Forget what this deployment scanned before (reports and review entries "
    "included) and scan everything again. Without it, files already scanned are skipped.",
)
@json_option
def scan_command(
    inputs: tuple[Path, ...],
    watchlist_path: Path | None,
    deployment: str | None,
    out_dir: Path,
    location: str,
    purpose: str,
    start: datetime | None,
    threshold: float | None,
    background: tuple[Path, ...],
    max_false_alert_rate: float,
    sample_fps: float,
    upsample: int,
    detector: str,
    exhaustive: bool,
    workers: int,
    scheduler: str | None,
    segment_seconds: float,
    watchlist_max_age_h: float,
    wait: bool,
    keep_distances: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Scan video files or folders (searched recursively) against a watchlist.

    Writes OUT/NAME/alerts.csv, alerts.xlsx, deployment.csv, videos.csv, report.html
    and snapshots/. Running it again into the same deployment scans only files not
    scanned before (by content) and updates the reports for all of them. Exits 0
    when every video was scanned whole, 3 when some were partial or failed (listed
    in videos.csv and on stderr), 4 when none could be read (no deployment is
    created), 1 or 2 on an error that stopped the run.
    """
    missing = [
        name
        for name, value in (
            ("INPUTS", inputs),
            ("--watchlist", watchlist_path),
            ("--deployment", deployment),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (on the command line or in --config)")
    config = ScanConfig(
        inputs=tuple(Path(p) for p in inputs),
        watchlist=Path(str(watchlist_path)),
        deployment=str(deployment),
        out_dir=Path(out_dir),
        location=location,
        purpose=purpose,
        start=start,
        threshold=threshold,
        background=tuple(Path(p) for p in background),
        max_false_alert_rate=max_false_alert_rate,
        sample_fps=sample_fps,
        upsample=upsample,
        detector=detector,  # type: ignore[arg-type]
        exhaustive=exhaustive,
        workers=workers,
        scheduler=scheduler or None,
        segment_seconds=segment_seconds,
        watchlist_max_age_h=watchlist_max_age_h,
        keep_distances=keep_distances,
        overwrite=overwrite,
        wait=wait,
    )
    logger.debug("settings: %s", config)
    config.validate()
    audit.prepare(config.out_dir)
    # Bars only for a person watching: in a cron log their cursor codes are noise.
    progress = ScanProgress(enabled=not quiet() and sys.stderr.isatty())
    try:
        result = scan(config, progress)
    finally:
        progress.close()
    scanned, records, alerts = len(result.scanned), len(result.records), result.total_alerts
    cuts = result.cuts.to_payload() if result.cuts else None
    paths = DeploymentFolder(result.deployment_dir)
    reports = [paths.alerts_csv, paths.alerts_xlsx, paths.deployment_csv, paths.videos_csv, paths.report_html]
    if as_json:
        echo_json(
            {
                "deployment": config.deployment,
                "deployment_dir": str(result.deployment_dir),
                "videos_scanned": scanned,
                "videos_skipped": len(result.skipped),
                "videos_failed": [{"video": r.video, "reason": r.reason} for r in result.failed],
                "videos_partial": [
                    {"video": r.video, "reason": r.reason} for r in result.scanned if r.status == "partial"
                ],
                "videos": records,
                "faces_seen": result.faces_seen,
                "alerts": alerts,
                "cuts": cuts_json(cuts),
                "reports": [str(path) for path in reports],
            }
        )
    else:
        failed = f" ({_not_whole(result.scanned)})" if incomplete(result.scanned) else ""
        faces = f"{result.faces_seen} {_plural(result.faces_seen, 'face')}"
        click.echo(
            f"deployment {deployment}: {scanned} {_plural(scanned, 'video')} scanned{failed}, "
            f"{len(result.skipped)} already scanned; in all {records} {_plural(records, 'video')}, "
            f"{faces} seen, {alerts} {_plural(alerts, 'alert')}"
        )
        if cuts:
            click.echo(cuts_line(cuts))
        for path in reports:
            click.echo(f"  {path}")
    audit.record(
        config.out_dir,
        "scan",
        deployment=config.deployment,
        inputs=result.inputs,
        watchlist_sha256=result.watchlist_sha256,
        threshold=cuts["cut_median"] if cuts else None,
        counts={
            "videos_scanned": len(result.scanned),
            "videos_skipped": len(result.skipped),
            "videos_failed": len(result.failed),
            "faces_seen": result.faces_seen,
            "alerts": result.total_alerts,
        },
    )
    if incomplete(result.scanned):
        sys.exit(EXIT_INCOMPLETE)


def optional_percent(share: float | None) -> float | None:
    return None if share is None else round(100.0 * share, 2)


def cuts_json(cuts: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run's cuts as --json gives them: rates in % of faces seen, like every report."""
    if cuts is None:
        return None
    missed = cuts["expected_missed_share"]
    shown = {
        key: value
        for key, value in cuts.items()
        if key not in ("expected_false_alert_rate", "expected_missed_share")
    }
    return {
        **shown,
        "expected_false_alert_rate_percent": percent(cuts["expected_false_alert_rate"]),
        "expected_missed_percent": optional_percent(missed),
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


@cli.command("search")
@logging_options
@config_option
@click.argument("photos", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--footage",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A video file, or a folder searched recursively; give --footage again for more.  [required]",
)
@click.option("--case", "case", help="Name of the case; results go to OUT/NAME/.  [required]")
@click.option(
    "--out",
    "out_dir",
    default=Path("cases"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder that holds one sub-folder per case.",
)
@table_option("top")
@table_option("below")
@table_option("max_false_candidate_rate")
@footage_options
@wait_option
@click.option(
    "--overwrite",
    is_flag=True,
    help="Forget what this case searched before (candidates and reviews included) and search "
    "everything again. Without it, footage already searched is skipped.",
)
@json_option
def search_command(
    photos: tuple[Path, ...],
    footage: tuple[Path, ...],
    case: str | None,
    out_dir: Path,
    top: int,
    below: int,
    max_false_candidate_rate: float,
    start: datetime | None,
    sample_fps: float,
    upsample: int,
    detector: str,
    workers: int,
    scheduler: str | None,
    segment_seconds: float,
    wait: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Find one person in recorded footage: PHOTOS of them (each showing one face)
    against every face in the --footage.

    Writes OUT/NAME/candidates.csv, candidates.xlsx, case.html and snapshots/: the
    candidates nearest the person, ranked, down to a calibrated cut and a few
    beneath it, for a person to judge (lfr-batch review OUT/NAME). Running it again
    on the same case searches only footage not searched before. Exits 0 when every
    video was searched whole, 3 when some were partial or failed, 4 when none could
    be read (no case is created), 1 or 2 on an error.
    """
    missing = [
        name for name, value in (("PHOTOS", photos), ("--footage", footage), ("--case", case)) if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    config = SearchConfig(
        photos=photos,
        footage=footage,
        case=str(case),
        out_dir=out_dir,
        top=top,
        below=below,
        max_false_candidate_rate=max_false_candidate_rate,
        start=start,
        sample_fps=sample_fps,
        upsample=upsample,
        detector=detector,  # type: ignore[arg-type]
        workers=workers,
        scheduler=scheduler or None,
        segment_seconds=segment_seconds,
        overwrite=overwrite,
        wait=wait,
    )
    logger.debug("settings: %s", config)
    config.validate()
    audit.prepare(config.out_dir)
    progress = ScanProgress(enabled=not quiet() and sys.stderr.isatty())
    try:
        result = search(config, progress)
    finally:
        progress.close()
    scanned = result.scan
    faces_seen = sum(record.faces_seen for record in scanned.records)
    expected = result.expected_false_candidate_rate * faces_seen
    paths = DeploymentFolder(result.case_dir)
    files = [paths.candidates_csv, paths.candidates_xlsx, paths.case_html]
    if as_json:
        echo_json(
            {
                "case": config.case,
                "case_dir": str(result.case_dir),
                "videos_searched": len(scanned.scanned),
                "videos_skipped": len(scanned.skipped),
                "videos_failed": [{"video": r.video, "reason": r.reason} for r in scanned.failed],
                "faces_seen": faces_seen,
                "cut": result.cut,
                "expected_false_candidates": round(expected, 4),
                "candidates": [
                    {
                        "rank": rank,
                        "candidate_id": alert.alert_id,
                        "distance": alert.distance,
                        "above_cut": alert.distance <= result.cut,
                        "video": video.video,
                        "first_seen_s": alert.first_seen_s,
                        "last_seen_s": alert.last_seen_s,
                    }
                    for rank, (video, alert) in enumerate(result.candidates, start=1)
                ],
                "reports": [str(path) for path in files],
            }
        )
    else:
        videos = len(scanned.records)
        click.echo(
            f"case {config.case}: {len(scanned.scanned)} {_plural(len(scanned.scanned), 'video')} searched, "
            f"{len(scanned.skipped)} already searched; in all {videos} {_plural(videos, 'video')}, "
            f"{faces_seen} {_plural(faces_seen, 'face')} seen"
        )
        click.echo(
            f"cut {result.cut:.3f}: about {expected:.2g} false candidates expected above it; "
            f"{result.above_cut} {_plural(result.above_cut, 'candidate')} above the cut, "
            f"{len(result.candidates) - result.above_cut} listed below it"
        )
        for rank, (video, alert) in enumerate(result.candidates, start=1):
            place = "" if alert.distance <= result.cut else "  (below the cut)"
            click.echo(
                f"  #{rank} {alert.alert_id} distance {alert.distance:.3f}  {printable(video.video)} "
                f"{clock(alert.first_seen_s)}-{clock(alert.last_seen_s)}{place}"
            )
        for path in files:
            click.echo(f"  {path}")
    audit.record(
        config.out_dir,
        "search",
        deployment=config.case,
        inputs=[*result.probe.photos, *scanned.inputs],
        watchlist_sha256=result.probe.sha256,
        threshold=result.cut,
        counts={
            "videos_searched": len(scanned.scanned),
            "videos_skipped": len(scanned.skipped),
            "videos_failed": len(scanned.failed),
            "faces_seen": faces_seen,
            "candidates": len(result.candidates),
            "above_cut": result.above_cut,
        },
    )
    if incomplete(scanned.scanned):
        sys.exit(EXIT_INCOMPLETE)


@cli.command("review")
@logging_options
@config_option
@click.argument("deployment_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--import",
    "import_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Take the review columns from an edited copy of alerts.csv (outcome, engagement, "
    "reviewer, notes) or of a case's candidates.csv (verdict, reviewer, notes): all rows, or "
    "none if any is refused.  [default: review in the terminal]",
)
@click.option(
    "--reviewer",
    default=lambda: os.environ.get("USER", ""),
    show_default="your user name",
    help="Name recorded with each answer given in the terminal (asked once if there is none).",
)
@click.option(
    "--alert",
    "finding_ids",
    multiple=True,
    metavar="ID",
    help="Review this alert (or candidate) again, answered or not; give --alert again for more.  "
    "[default: every one not yet answered]",
)
@click.option(
    "--preview/--no-preview",
    default=True,
    show_default=True,
    help="Show the footage snapshot and the watchlist (or probe) photo in the terminal, where it is "
    "a colour terminal.",
)
@wait_option
def review_command(
    deployment_dir: Path,
    import_path: Path | None,
    reviewer: str,
    finding_ids: tuple[str, ...],
    preview: bool,
    wait: bool,
) -> None:
    """Review the alerts of a deployment (OUT/NAME): true or false, and what happened
    next; or the candidates of a search case (cases/NAME): match, no match or unsure.

    In the terminal, each unreviewed finding is shown with its footage snapshot beside
    the subject's watchlist photo (or the probe photo); each answer is saved at once,
    so you can stop (q) and resume later, or go back (b) to the one before. The
    reports are rewritten after every answer.
    """
    state = open_deployment(deployment_dir)
    form = form_for(state)
    audit.prepare(deployment_dir.parent)
    if import_path is not None:
        listing = getattr(state.paths, form.listing).name
        edits = read_edits(import_path, form, listing)  # before the lock: a slow file never holds it
        with DeploymentFolder(deployment_dir).lock("review --import", wait=wait):
            result = import_reviews(open_deployment(deployment_dir), edits)
        audit.record(
            deployment_dir.parent,
            "review --import",
            deployment=deployment_dir.name,
            inputs=[import_path],
            counts={"applied": result.applied},
        )
        click.echo(
            f"{import_path}: {result.applied} {_plural(result.applied, 'review')} recorded, "
            f"{result.unchanged} {_plural(result.unchanged, 'row')} unchanged"
        )
        return
    findings = chosen(state, finding_ids) if finding_ids else pending(state)
    if findings and not reviewer.strip():
        reviewer = click.prompt("reviewer (recorded with each answer)")
    walk = TerminalReview(deployment_dir, reviewer.strip(), preview, wait)
    answered = 0
    try:
        answered = walk.walk(findings)
    finally:
        if answered:
            audit.record(
                deployment_dir.parent, "review", deployment=deployment_dir.name, counts={"answered": answered}
            )
    remaining = len(pending(open_deployment(deployment_dir)))
    click.echo(
        f"{answered} {_plural(answered, 'answer')} saved; {remaining} {_plural(remaining, form.noun)} "
        f"still to review in {deployment_dir}"
    )


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date such as 2026-11-26") from None


@cli.command("evaluate")
@logging_options
@config_option
@click.argument("deployment_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--truth",
    "truth_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV of who appeared when: video,subject_id,start_s,end_s (subject_id empty for a "
    "stranger), optionally person.",
)
@click.option(
    "--groups",
    "groups_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV person,group (a truth person label or a subject id to a group): the rates for "
    "each group too. For test data only; never stored in a watchlist.  [default: none]",
)
def evaluate_command(deployment_dir: Path, truth_path: Path, groups_path: Path | None) -> None:
    """Measure a scan of test footage against ground truth.

    Prints and writes OUT/NAME/evaluation.csv: true-positive identification rate,
    misses, false-positive identification rate (strangers alerted / strangers seen),
    false alerts per face seen, repeated alerts, faces seen against true appearances.
    When the scan kept distances (scan --keep-distances) it adds a threshold sweep,
    drawn as a DET curve in det.png and in report.html.
    """
    paths = DeploymentFolder(deployment_dir)
    audit.prepare(deployment_dir.parent)
    results, sweep = evaluate(deployment_dir, truth_path, groups_path)
    rows = [result.row() for result in results] + ([] if sweep is None else sweep.to_dict("records"))
    overall = results[0]
    hindsight = next((result for result in results if result.rule == HINDSIGHT), None)
    with paths.lock("evaluate"):
        write_csv(paths.evaluation_csv, EVALUATION_COLUMNS, rows)
        if sweep is not None:
            write_det_curve(sweep, paths.det_figure, overall.threshold)
            state = open_deployment(deployment_dir)
            state.settings["evaluation"] = {
                "scan": overall.row(),
                "hindsight": hindsight.row() if hindsight else None,
            }
            state.save_settings()
            write_reports(state)
    for result in (r for r in results if r.rule != HINDSIGHT):
        click.echo(
            f"{result.group}: threshold {result.threshold:.3f}: "
            f"{result.watchlisted_found} of {result.watchlisted_appearances} watchlisted appearances found "
            f"(TPIR {_percent(result.true_positive_identification_rate)}); "
            f"{result.strangers_alerted} of {result.stranger_appearances} strangers alerted "
            f"(FPIR {_percent(result.false_positive_identification_rate)}); "
            f"{result.alerts} alerts, {result.false_alerts} false, {result.repeated_alerts} repeated; "
            f"{result.faces_seen} faces seen for {result.true_appearances} true appearances"
        )
    if hindsight is not None:
        click.echo(
            f"in hindsight: one threshold for every subject, {hindsight.threshold:.2f}, would have found "
            f"{hindsight.watchlisted_found} of {hindsight.watchlisted_appearances} with "
            f"{hindsight.false_alerts} false alerts (the scan: {overall.watchlisted_found} found, "
            f"{overall.false_alerts} false)"
        )
    click.echo(f"  {paths.evaluation_csv}")
    audit.record(
        deployment_dir.parent,
        "evaluate",
        deployment=deployment_dir.name,
        inputs=[truth_path, *([groups_path] if groups_path else [])],
        threshold=overall.threshold,
        counts={"found": overall.watchlisted_found, "false_alerts": overall.false_alerts},
    )
    if sweep is not None:
        click.echo(f"  {paths.det_figure}")


def _percent(share: float) -> str:
    return "n/a" if share != share else f"{100 * share:.1f} %"


@cli.command("grid")
@logging_options
@config_option
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the grid here: a workbook if FILE ends in .xlsx, else CSV; - is standard output.  "
    "[default: standard output]",
)
@click.option(
    "--from",
    "since",
    callback=lambda _c, _p, v: _date(v),
    help="First deployment date (ISO 8601).  [default: all]",
)
@click.option(
    "--to",
    "until",
    callback=lambda _c, _p, v: _date(v),
    help="Last deployment date (ISO 8601).  [default: all]",
)
@click.option(
    "--summary",
    is_flag=True,
    help="Print the figures asked for under freedom of information instead of the CSV.",
)
@click.option(
    "--supplier", default=DEFAULT_SUPPLIER, show_default=True, help="Supplier named in the summary."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With --summary: print the figures as one JSON object (for scripts).",
)
def grid_command(
    out_dir: Path,
    output: Path | None,
    since: date | None,
    until: date | None,
    summary: bool,
    supplier: str,
    as_json: bool,
) -> None:
    """The published deployment grid: one row per deployment under OUT_DIR, in
    the published column order, and a totals row."""
    if as_json and not summary:
        raise click.UsageError("--json goes with --summary (the grid itself is a CSV or a workbook)")
    audit.prepare(out_dir)
    grid = collect(out_dir, since, until)
    if not grid.rows:
        unreadable = f" that can be read ({'; '.join(grid.skipped[:5])})" if grid.skipped else ""
        raise ReportError(
            f"no deployments under {out_dir}" + (" in that date range" if since or until else "") + unreadable
        )
    audit.record(
        out_dir,
        "grid --summary" if summary else "grid",
        touched=[folder.name for folder in grid.folders],
        counts={"deployments": len(grid.rows), "left_out": len(grid.skipped)},
    )
    _write_grid(grid, output, summary, supplier, as_json)
    _refuse_left_out(grid.skipped, "left out of the grid")


def _write_grid(grid: Grid, output: Path | None, summary: bool, supplier: str, as_json: bool) -> None:
    """The figures, or the grid as a CSV (to a file or stdout) or a workbook."""
    if summary:
        if as_json:
            echo_json(summary_figures(grid, supplier))
            return
        for line in grid_summary(grid, supplier):
            click.echo(line)
        return
    rows = [*grid.rows, grid.totals()]
    if output is not None and output.suffix.lower() == ".xlsx":
        write_xlsx(
            output,
            PUBLISHED_COLUMNS,
            rows,
            numbers=GRID_NUMBERS,
            moments=GRID_MOMENTS,
            days=GRID_DAYS,
            durations=GRID_DURATIONS,
            sheet="grid",
        )
        click.echo(
            f"{output}: {len(grid.rows)} {_plural(len(grid.rows), 'deployment')} and a totals row", err=True
        )
        return
    data = csv_bytes(PUBLISHED_COLUMNS, rows)
    if output is None or str(output) == "-":
        click.echo(data.decode("utf-8-sig"), nl=False)
    else:
        write_atomic(output, data)
        click.echo(
            f"{output}: {len(grid.rows)} {_plural(len(grid.rows), 'deployment')} and a totals row", err=True
        )


@cli.command("purge")
@logging_options
@config_option
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--older-than",
    "older_than",
    required=True,
    help="Retention period: alerts seen longer ago than this (e.g. 31d, 12h, 2w) lose their "
    "snapshots and details; the deployment figures are kept.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="List the alerts that would be purged, and change nothing.",
)
@click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Do not ask for confirmation on a terminal (scripts are never asked).",
)
@click.option(
    "--include-arrests",
    is_flag=True,
    help="Purge alerts reviewed as leading to an arrest too; without it their evidence is kept.",
)
@wait_option
def purge_command(
    out_dir: Path, older_than: str, dry_run: bool, assume_yes: bool, include_arrests: bool, wait: bool
) -> None:
    """Delete alert evidence past its retention period, keeping the published figures.

    On a terminal it lists what would go and asks first, unless --yes. Alerts that
    led to an arrest are kept unless --include-arrests.
    """
    age = parse_age(older_than)
    audit.prepare(out_dir)
    preview = purge(out_dir, age, include_arrests=include_arrests, dry_run=True, wait=wait)
    for candidate in preview.candidates:
        click.echo(
            f"{printable(candidate.deployment)} {candidate.alert_id} {printable(candidate.subject_id)} "
            f"seen {candidate.seen.isoformat(timespec='seconds')}"
        )
    summary = f"{preview.alerts} {_plural(preview.alerts, 'alert')} in {preview.deployments} " + _plural(
        preview.deployments, "deployment"
    )
    if preview.arrests_kept:
        click.echo(
            f"{preview.arrests_kept} {_plural(preview.arrests_kept, 'alert')} that led to an arrest kept "
            "(--include-arrests purges them too)"
        )
    if dry_run:
        click.echo(f"would purge {summary}")
        _refuse_left_out(preview.skipped, "would not be purged")
        return
    if preview.alerts and not assume_yes and on_terminal():
        click.confirm(f"Delete the evidence of {summary}?", abort=True)
    result = purge(out_dir, age, include_arrests=include_arrests, wait=wait)
    audit.record(
        out_dir,
        f"purge --older-than {older_than}" + (" --include-arrests" if include_arrests else ""),
        touched=result.examined,
        counts={
            "deployments": result.deployments,
            "alerts": result.alerts,
            "files": result.files,
            "left_out": len(result.skipped),
        },
    )
    files = f"{result.files} {_plural(result.files, 'file')}"
    click.echo(f"purged {result.alerts} {_plural(result.alerts, 'alert')} ({files})")
    _refuse_left_out(result.skipped, "not purged")


def _refuse_left_out(skipped: list[str], what: str) -> None:
    """Exit 1 naming the deployments a command over OUT had to leave out (and why)."""
    if skipped:
        raise ReportError(
            f"{len(skipped)} {_plural(len(skipped), 'deployment')} {what}: " + "; ".join(skipped[:5])
        )


def incomplete(scanned: list[VideoRecord]) -> list[VideoRecord]:
    """This run's videos that were not scanned whole: failed, or partial."""
    return [record for record in scanned if record.status != "ok"]


def _not_whole(scanned: list[VideoRecord]) -> str:
    counts = Counter(record.status for record in incomplete(scanned))
    return ", ".join(f"{counts[status]} {status}" for status in ("failed", "partial") if counts[status])


def on_terminal() -> bool:
    """Whether a person is there to answer a question (scripts and cron jobs are not)."""
    return sys.stdin.isatty()


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


@cli.group("audit")
def audit_group() -> None:
    """Check the audit log."""


@audit_group.command("verify")
@logging_options
@config_option
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@json_option
def audit_verify(out_dir: Path, as_json: bool) -> None:
    """Check that no line of OUT_DIR/audit.jsonl was edited, removed or moved
    (exit 0 when the chain is intact, 1 otherwise)."""
    key = signing_key()
    verification = audit.verify(out_dir, key)
    if as_json:
        echo_json(
            {
                "audit_log": str(out_dir / audit.AUDIT_FILE),
                "lines": verification.lines,
                "intact": not verification.problems,
                "signed": key is not None,
                "problems": verification.problems,
            }
        )
    else:
        for problem in verification.problems:
            click.echo(problem, err=True)
    if verification.problems:
        raise AuditError(
            f"{out_dir / audit.AUDIT_FILE}: {len(verification.problems)} problem(s) "
            f"in {verification.lines} lines"
        )
    if not as_json:
        click.echo(f"{out_dir / audit.AUDIT_FILE}: {verification.lines} lines, chain intact")


@audit_group.command("resign")
@logging_options
@config_option
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def audit_resign(out_dir: Path) -> None:
    """Vouch, with $LFR_BATCH_KEY, for the lines of OUT_DIR/audit.jsonl that commands run
    without the key left unsigned.

    Appends one signed line naming those lines' hashes (itself in the log: who vouched,
    when) and signs the head and each deployment's record of the log afresh. Refused
    if anything but a missing signature is wrong: check with 'audit verify' first that
    the unsigned lines are commands you know of.
    """
    entry = audit.resign(out_dir, signing_key())
    vouched = entry["counts"]["lines_vouched"]
    click.echo(f"{out_dir / audit.AUDIT_FILE}: {vouched} unsigned {_plural(vouched, 'line')} vouched for")


@cli.group("watchlist")
def watchlist_group() -> None:
    """Build and inspect watchlists."""


@watchlist_group.command("build")
@logging_options
@config_option
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Watchlist file to write, e.g. watchlists/NAME.pkl.",
)
@click.option(
    "--upsample",
    default=1,
    show_default=True,
    type=click.IntRange(0, 3),
    help="Times each photo is doubled before detection (raise it for photos of small faces).",
)
@click.option("--background", hidden=True, default=None, help="No longer used: see 'scan --background'.")
@click.option(
    "--footage-views/--no-footage-views",
    default=True,
    show_default=True,
    help="Also encode each photo as a camera sees a passer-by (face shrunk to 48 px, softened, "
    "JPEG-compressed), so each subject's reference lies nearer the small, soft faces of footage. "
    "Without, each subject is its photos alone, as face_recognition compares them.",
)
def watchlist_build(
    source: Path, output: Path, upsample: int, background: str | None, footage_views: bool
) -> None:
    """Build a watchlist from SOURCE/<subject_id>/<photos>.

    An optional SOURCE/subjects.csv gives subject_id,name,category,reason,expires.
    Photos with no face or more than one are rejected and listed on stderr. Each
    scan calibrates the subjects' cuts on faces from footage; 'watchlist info'
    shows what to expect before any footage is seen.
    """
    if background is not None:
        raise click.UsageError(
            "--background photos no longer calibrate a list: the cuts are calibrated on faces from "
            "footage; give footage of the site on an ordinary day with 'scan --background'"
        )
    bars: list[tqdm] = []

    def on_photo(_photo: Path, total: int) -> None:
        if not bars:
            shown = not quiet() and sys.stderr.isatty()
            bars.append(tqdm(total=total, unit="photo", desc="photos", disable=not shown))
        bars[0].update(1)

    try:
        result = build_watchlist(source, upsample=upsample, on_photo=on_photo, footage_views=footage_views)
    finally:
        for bar in bars:
            bar.close()
    save_watchlist(result.watchlist, output, signing_key())
    for rejected in result.rejected:
        click.echo(f"rejected {rejected.path}: {rejected.reason}", err=True)
    for subject_id in result.subjects_without_photos:
        click.echo(f"subject {subject_id} left out: none of its photos was usable", err=True)
    click.echo(
        f"{output}: {result.watchlist.size} subjects, {result.accepted_photos} photos "
        f"({len(result.watchlist.encodings)} encodings), {len(result.rejected)} photos rejected"
    )


@watchlist_group.command("info")
@logging_options
@config_option
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def watchlist_info(path: Path, as_json: bool) -> None:
    """Show a watchlist's subjects, encodings, categories and expired entries."""
    key = signing_key()
    watchlist = load_watchlist(path, key)
    warn_about_file(path, key)
    now = datetime.now(UTC)
    per_subject = watchlist.photos_per_subject()
    footage_views = int(watchlist.encoding_footage_view.sum())
    expired = [s for s in watchlist.subjects if s.is_expired(now)]
    categories = Counter(s.category or "(none)" for s in watchlist.subjects)
    expected = outlook(watchlist, DEFAULT_MAX_FALSE_ALERT_RATE)
    if as_json:
        echo_json(
            {
                "watchlist": str(path),
                "created": iso(watchlist.created) or None,
                "format": "face_recognition" if watchlist.legacy_format else "lfr-batch",
                "signature_checked": key is not None,
                "subjects": watchlist.size,
                "encodings": len(watchlist.encodings),
                "footage_views": footage_views,
                "expired": len(expired),
                "categories": dict(sorted(categories.items())),
                "subject_list": [
                    {
                        "subject_id": subject.subject_id,
                        "name": subject.name,
                        "category": subject.category,
                        "photos": int(count),
                        "expires": expiry_text(subject.expires) or None,
                        "expired": subject.is_expired(now),
                    }
                    for subject, count in zip(watchlist.subjects, per_subject, strict=True)
                ],
                "reference": load_reference().fitted_on,
                "auto": {
                    "cut_median": round(float(np.median(expected.cuts)), 3),
                    "cut_min": round(float(expected.cuts.min()), 3),
                    "cut_max": round(float(expected.cuts.max()), 3),
                    "cuts": {
                        subject.subject_id: round(float(cut), 3)
                        for subject, cut in zip(watchlist.subjects, expected.cuts, strict=True)
                    },
                    "expected_false_alert_rate_percent": percent(expected.expected_false_alert_rate),
                    "own_photos_missed_percent": optional_percent(expected.missed_share),
                },
                "thresholds": [
                    {
                        "threshold": t,
                        "expected_false_alert_rate_percent": percent(rate),
                        "own_photos_missed_percent": optional_percent(missed),
                    }
                    for t, rate, missed in expected.table
                ],
            }
        )
        return
    click.echo(f"watchlist: {path}")
    click.echo(
        f"created: {iso(watchlist.created) or 'unknown'}"
        + (" (face_recognition layout)" if watchlist.legacy_format else "")
    )
    click.echo(
        f"subjects: {watchlist.size}   encodings: {len(watchlist.encodings)}   footage views: {footage_views}"
        + ("" if footage_views else " (rebuild with 'watchlist build' to add them)")
    )
    if key:
        click.echo(f"signature: checked with ${SIGNING_KEY_ENV}")
    else:
        click.echo(f"signature: not checked (${SIGNING_KEY_ENV} is not set)")
    click.echo(f"expired: {len(expired)}")
    click.echo("categories:")
    for category, count in sorted(categories.items()):
        click.echo(f"  {count:5d}  {printable(category)}")
    click.echo("")
    rows = [
        (
            cell(subject.subject_id),
            cell(subject.name),
            str(count),
            cell(expiry_text(subject.expires) or "-") + (" EXPIRED" if subject.is_expired(now) else ""),
            cell(subject.category or "-"),
        )
        for subject, count in zip(watchlist.subjects, per_subject, strict=True)
    ]
    header = ("subject_id", "name", "photos", "expires", "category")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                value.rjust(width) if column == 2 else value.ljust(width)
                for column, (value, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    click.echo("")
    echo_outlook(watchlist, expected)


CELL_WIDTH = 32  # characters of a name or id shown in a table column; longer ones are cut with …


def cell(text: str) -> str:
    shown = printable(text)
    return shown if len(shown) <= CELL_WIDTH else shown[: CELL_WIDTH - 1] + "…"


def echo_outlook(watchlist: Watchlist, expected: Outlook) -> None:
    """What to expect of the list before any footage: its cuts, false alerts and misses."""
    cuts = expected.cuts
    click.echo(
        f"cuts before any footage (the reference, {load_reference().fitted_on}; each scan "
        "recalibrates them on the faces it sees), at most 1 false alert in 10,000 faces seen:"
    )
    click.echo(f"  median {np.median(cuts):.3f}, from {cuts.min():.3f} to {cuts.max():.3f}")
    strictest = np.argsort(cuts)[: min(3, len(cuts))]
    click.echo(
        "  strictest (their photos lie near the average face, so strangers come near them): "
        + ", ".join(f"{cell(watchlist.subjects[i].subject_id)} {cuts[i]:.3f}" for i in strictest)
    )
    if expected.missed_share is not None:
        click.echo(
            f"  {100 * expected.missed_share:.0f}% of the list's own photos, shown as footage shows "
            "faces, lie beyond their subject's cut"
        )
        if expected.missed_share > MISSED_SHARE_WARNING:
            click.echo(
                "warning: many of the list's own people would be missed: more photos per subject, "
                "sharper photos or a shorter list would find more of them",
                err=True,
            )
    click.echo(
        f"{'one threshold for all':>21}  {'false alerts per 10,000 faces':>30}  {'own photos missed':>17}"
    )
    for threshold, rate, missed in expected.table:
        shown = "-" if missed is None else f"{100 * missed:.1f}%"
        click.echo(f"{threshold:>21.3f}  {rate * 10_000:>30.3g}  {shown:>17}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (callable from tests)."""
    start_logging(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(argv)
        logger.info("finished: exit status %d", code)
        return code
    finally:
        stop_logging()


def _run(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name=SOFTWARE_NAME, standalone_mode=False)
    except LfrBatchError as error:
        _fail(f"{SOFTWARE_NAME}: error: {one_line(error)}")
        return error.exit_code
    except click.exceptions.Abort:
        _fail(f"{SOFTWARE_NAME}: interrupted")
        return 130
    except click.ClickException as error:
        error.show()
        log_error_to_file(error.format_message())
        return error.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except OSError as error:
        _fail(f"{SOFTWARE_NAME}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "))
        return 1
    return 0


def _fail(line: str) -> None:
    """The one line that ends a command: on stderr, and in the log file."""
    click.echo(line, err=True)
    log_error_to_file(line.removeprefix(f"{SOFTWARE_NAME}: "))


def entry_point() -> None:
    sys.exit(main())
