"""``lfr-batch scan``: footage against a watchlist, into a deployment's reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lfr_batch.cli.common import (
    GivenPath,
    finish_run,
    footage_options,
    json_option,
    require,
    run_with_progress,
    table_option,
)
from lfr_batch.cli.group import cli
from lfr_batch.cli.summaries import ScanSummary
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)


@cli.command("scan")
@logging_options
@config_option
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--watchlist",
    type=click.Path(path_type=Path),
    help="Watchlist file made by 'lfr-batch watchlist build' (or a face_recognition pickle).  [required]",
)
@click.option("--deployment", help="Name of the operation; reports go to OUT/NAME/.  [required]")
@click.option(
    "--out",
    "out_dir",
    default=Path("reports"),
    show_default=True,
    type=GivenPath(file_okay=False),
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
@table_option("threshold")
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
def scan_command(as_json: bool, **options: Any) -> None:
    """Scan video files or folders (searched recursively) against a watchlist.

    Writes OUT/NAME/alerts.csv, alerts.xlsx, deployment.csv, videos.csv, report.html
    and snapshots/. Running it again into the same deployment scans only files not
    scanned before (by content) and updates the reports for all of them. Exits 0
    when every video was scanned whole, 3 when some were partial or failed (listed
    in videos.csv and on stderr), 4 when none could be read (no deployment is
    created), 1 or 2 on an error that stopped the run.
    """
    from lfr_batch.scan import ScanConfig, scan  # the vision stack: loaded by the commands that scan

    require(options, ("INPUTS", "inputs"), ("--watchlist", "watchlist"), ("--deployment", "deployment"))
    config = ScanConfig(**options)
    result = run_with_progress(config, scan)
    finish_run(
        "scan",
        config.out_dir,
        ScanSummary.of(config.deployment, result),
        as_json,
        deployment=config.deployment,
        inputs=result.inputs,
        watchlist_sha256=result.watchlist_sha256,
        threshold=result.cuts.to_payload()["cut_median"] if result.cuts else None,
    )
