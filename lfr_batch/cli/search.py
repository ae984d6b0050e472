"""``lfr-batch search``: one person, from photos, in recorded footage."""

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
    wait_option,
)
from lfr_batch.cli.group import cli
from lfr_batch.cli.summaries import SearchSummary
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)


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
    type=GivenPath(file_okay=False),
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
def search_command(as_json: bool, **options: Any) -> None:
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

    require(options, ("PHOTOS", "photos"), ("--footage", "footage"), ("--case", "case"))
    config = SearchConfig(**options)
    result = run_with_progress(config, search)
    finish_run(
        "search",
        config.out_dir,
        SearchSummary.of(config.case, result),
        as_json,
        deployment=config.case,
        inputs=[*result.probe.photos, *result.scan.inputs],
        watchlist_sha256=result.probe.sha256,
        threshold=result.cut,
    )
