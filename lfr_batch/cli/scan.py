"""``lfr-batch scan``: footage against a watchlist, into a deployment's reports."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from lfr_batch.cli.common import (
    Threshold,
    echo_json,
    footage_options,
    incomplete,
    json_option,
    not_whole,
    optional_percent,
    plural,
    run_with_progress,
    table_option,
)
from lfr_batch.cli.group import EXIT_INCOMPLETE, cli
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.records import audit
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.reports import percent
from lfr_batch.vision.calibration import MISSED_SHARE_WARNING


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
    from lfr_batch.scan import ScanConfig, scan  # the vision stack: loaded by the commands that scan

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
    result = run_with_progress(config, scan)
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
        failed = f" ({not_whole(result.scanned)})" if incomplete(result.scanned) else ""
        faces = f"{result.faces_seen} {plural(result.faces_seen, 'face')}"
        click.echo(
            f"deployment {deployment}: {scanned} {plural(scanned, 'video')} scanned{failed}, "
            f"{len(result.skipped)} already scanned; in all {records} {plural(records, 'video')}, "
            f"{faces} seen, {alerts} {plural(alerts, 'alert')}"
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
