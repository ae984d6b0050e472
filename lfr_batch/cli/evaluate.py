"""``lfr-batch evaluate``: a scan of test footage against its ground truth."""

from __future__ import annotations

from pathlib import Path

import click

from lfr_batch.cli.common import percent_text
from lfr_batch.cli.group import cli
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.records import audit
from lfr_batch.records.evaluation import EVALUATION_COLUMNS, HINDSIGHT, evaluate, write_det_curve
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.reports import write_csv, write_reports
from lfr_batch.records.review import open_deployment


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
    deployment_dir = deployment_dir.absolute()  # '.' names no deployment, and has no parent to log in
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
                "scan": overall.stored(),
                "hindsight": hindsight.stored() if hindsight else None,
            }
            state.save_settings()
            write_reports(state)
    # On record before anything is printed: a closed stdout must not leave the work unaudited.
    audit.record(
        deployment_dir.parent,
        "evaluate",
        deployment=deployment_dir.name,
        inputs=[truth_path, *([groups_path] if groups_path else [])],
        threshold=overall.threshold,
        counts={"found": overall.watchlisted_found, "false_alerts": overall.false_alerts},
    )
    for result in (r for r in results if r.rule != HINDSIGHT):
        click.echo(
            f"{result.group}: threshold {result.threshold:.3f}: "
            f"{result.watchlisted_found} of {result.watchlisted_appearances} watchlisted appearances found "
            f"(TPIR {percent_text(result.true_positive_identification_rate)}); "
            f"{result.strangers_alerted} of {result.stranger_appearances} strangers alerted "
            f"(FPIR {percent_text(result.false_positive_identification_rate)}); "
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
    if sweep is not None:
        click.echo(f"  {paths.det_figure}")
