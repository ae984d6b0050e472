"""``lfr-batch search``: one person, from photos, in recorded footage."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from lfr_batch.cli.common import (
    echo_json,
    footage_options,
    incomplete,
    json_option,
    plural,
    run_with_progress,
    table_option,
    wait_option,
)
from lfr_batch.cli.group import EXIT_INCOMPLETE, cli
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.records import audit
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.timeline import clock
from lfr_batch.terminal import printable


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
    from lfr_batch.search import SearchConfig, search  # the vision stack: loaded by the commands that scan

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
    result = run_with_progress(config, search)
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
            f"case {config.case}: {len(scanned.scanned)} {plural(len(scanned.scanned), 'video')} searched, "
            f"{len(scanned.skipped)} already searched; in all {videos} {plural(videos, 'video')}, "
            f"{faces_seen} {plural(faces_seen, 'face')} seen"
        )
        click.echo(
            f"cut {result.cut:.3f}: about {expected:.2g} false candidates expected above it; "
            f"{result.above_cut} {plural(result.above_cut, 'candidate')} above the cut, "
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
