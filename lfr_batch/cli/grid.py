"""``lfr-batch grid``: the published deployment grid over every deployment in OUT."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from click.core import ParameterSource

from lfr_batch.cli.common import OutputFile, echo_json, iso_date, plural, refuse_left_out
from lfr_batch.cli.group import cli
from lfr_batch.cli.summaries import SUMMARY_VERSION
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.errors import ReportError
from lfr_batch.files import write_atomic
from lfr_batch.records import audit
from lfr_batch.records.grid import (
    DEFAULT_SUPPLIER,
    GRID_DAYS,
    GRID_DURATIONS,
    GRID_MOMENTS,
    GRID_NUMBERS,
    PUBLISHED_COLUMNS,
    Grid,
    GridFigures,
    collect,
)
from lfr_batch.records.reports import csv_bytes
from lfr_batch.records.spreadsheets import write_xlsx


@cli.command("grid")
@logging_options
@config_option
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=OutputFile(stdout=True),
    help="Write the grid here: a workbook if FILE ends in .xlsx, else CSV; - is standard output.  "
    "[default: standard output]",
)
@click.option(
    "--from",
    "since",
    callback=lambda _c, _p, v: iso_date(v),
    help="First deployment date (ISO 8601).  [default: all]",
)
@click.option(
    "--to",
    "until",
    callback=lambda _c, _p, v: iso_date(v),
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
    typed = click.get_current_context().get_parameter_source("supplier") is ParameterSource.COMMANDLINE
    if typed and not summary:  # a config file's [grid] table may serve both forms
        raise click.UsageError("--supplier goes with --summary (the grid itself names no supplier)")
    if since and until and since > until:
        raise click.UsageError(f"--from {since.isoformat()} comes after --to {until.isoformat()}")
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
    refuse_left_out(grid.skipped, "left out of the grid")


def _write_grid(grid: Grid, output: Path | None, summary: bool, supplier: str, as_json: bool) -> None:
    """The figures, or the grid as a CSV (to a file or stdout) or a workbook."""
    if summary:
        figures = GridFigures.of(grid, supplier)
        if as_json:
            echo_json({"summary_version": SUMMARY_VERSION, **figures.to_json()})
            return
        for line in figures.lines():
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
            f"{output}: {len(grid.rows)} {plural(len(grid.rows), 'deployment')} and a totals row", err=True
        )
        return
    data = csv_bytes(PUBLISHED_COLUMNS, rows)
    if output is None or str(output) == "-":
        click.echo(data.decode("utf-8-sig"), nl=False)
    else:
        write_atomic(output, data)
        click.echo(
            f"{output}: {len(grid.rows)} {plural(len(grid.rows), 'deployment')} and a totals row", err=True
        )
