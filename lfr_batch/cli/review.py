"""``lfr-batch review``: alerts and candidates judged in the terminal or imported
from an edited spreadsheet."""

from __future__ import annotations

from pathlib import Path

import click

from lfr_batch.cli.common import plural, wait_option
from lfr_batch.cli.group import cli
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.records import audit
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.review import (
    chosen,
    form_for,
    import_reviews,
    open_deployment,
    pending,
    read_edits,
)
from lfr_batch.terminal import TerminalReview, typed_reviewer


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
    default=audit.user_name,
    show_default="your user name",
    callback=lambda _context, _option, value: typed_reviewer(value),
    help="Name recorded with each answer given in the terminal (asked once if there is none), and "
    "with each imported row whose reviewer cell is empty.",
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
    deployment_dir = deployment_dir.absolute()  # '.' names no deployment, and has no parent to log in
    state = open_deployment(deployment_dir)
    form = form_for(state)
    audit.prepare(deployment_dir.parent)
    if import_path is not None:
        listing = getattr(state.paths, form.listing).name
        edits = read_edits(import_path, form, listing)  # before the lock: a slow file never holds it
        with DeploymentFolder(deployment_dir).lock("review --import", wait=wait):
            result = import_reviews(open_deployment(deployment_dir), edits, reviewer)
        audit.record(
            deployment_dir.parent,
            "review --import",
            deployment=deployment_dir.name,
            inputs=[import_path],
            counts={"applied": result.applied},
        )
        click.echo(
            f"{import_path}: {result.applied} {plural(result.applied, 'review')} recorded, "
            f"{result.unchanged} {plural(result.unchanged, 'row')} unchanged"
        )
        return
    findings = chosen(state, finding_ids) if finding_ids else pending(state)
    if findings and not reviewer:
        reviewer = click.prompt("reviewer (recorded with each answer)", value_proc=typed_reviewer)
    walk = TerminalReview(deployment_dir, reviewer, preview, wait)
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
        f"{answered} {plural(answered, 'answer')} saved; {remaining} {plural(remaining, form.noun)} "
        f"still to review in {deployment_dir}"
    )
