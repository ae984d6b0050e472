"""``lfr-batch watchlist build`` and ``info``."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
from tqdm import tqdm

from lfr_batch.cli.common import cell, echo_json, json_option, optional_percent
from lfr_batch.cli.group import cli
from lfr_batch.command_settings import (
    config_option,
    logging_options,
    quiet,
)
from lfr_batch.records.reports import percent
from lfr_batch.signing import SIGNING_KEY_ENV, signing_key
from lfr_batch.terminal import printable
from lfr_batch.times import iso
from lfr_batch.vision.calibration import DEFAULT_MAX_FALSE_ALERT_RATE, MISSED_SHARE_WARNING, load_reference

if TYPE_CHECKING:
    from lfr_batch.vision.calibration import Outlook
    from lfr_batch.watchlist.model import Watchlist


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
    from lfr_batch.watchlist.builder import build_watchlist
    from lfr_batch.watchlist.store import save_watchlist  # the vision stack

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
    from lfr_batch.vision.calibration import outlook
    from lfr_batch.watchlist.model import expiry_text
    from lfr_batch.watchlist.store import load_watchlist, warn_about_file

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
