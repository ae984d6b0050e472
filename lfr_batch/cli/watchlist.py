"""``lfr-batch watchlist build`` and ``info``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from tqdm import tqdm

from lfr_batch.cli.common import OutputFile, echo_summary, json_option
from lfr_batch.cli.group import cli
from lfr_batch.cli.summaries import WatchlistSummary
from lfr_batch.command_settings import (
    config_option,
    logging_options,
    quiet,
)
from lfr_batch.signing import signing_key


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
    type=OutputFile(),
    help="Watchlist file to write, e.g. watchlists/NAME.pkl (outside SOURCE).",
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
    from lfr_batch.watchlist.builder import build_watchlist
    from lfr_batch.watchlist.store import save_watchlist  # the vision stack

    if background is not None:
        raise click.UsageError(
            "--background photos no longer calibrate a list: the cuts are calibrated on faces from "
            "footage; give footage of the site on an ordinary day with 'scan --background'"
        )
    if output.resolve().is_relative_to(source.resolve()):
        # It would replace a photo or subjects.csv, or be read as one by the next build.
        raise click.BadParameter(
            f"{output} lies inside SOURCE {source}: write the list elsewhere", param_hint="'-o'"
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
    from lfr_batch.watchlist.store import load_watchlist, warn_about_file

    key = signing_key()
    watchlist = load_watchlist(path, key)
    warn_about_file(path, key)
    summary = WatchlistSummary.of(path, watchlist, key is not None, datetime.now(UTC))
    echo_summary(summary, as_json)
    if not as_json:
        for warning in summary.warnings():
            click.echo(warning, err=True)
