"""``lfr-batch purge`` and ``lfr-batch audit``: evidence past its retention period, and
the log that every command leaves."""

from __future__ import annotations

from pathlib import Path

import click

from lfr_batch.cli.common import echo_summary, json_option, on_terminal, plural, refuse_left_out, wait_option
from lfr_batch.cli.group import cli
from lfr_batch.cli.summaries import AuditVerifySummary
from lfr_batch.command_settings import (
    config_option,
    logging_options,
)
from lfr_batch.errors import AuditError
from lfr_batch.records import audit
from lfr_batch.records.retention import parse_age, purge
from lfr_batch.signing import signing_key
from lfr_batch.terminal import printable


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
    summary = f"{preview.alerts} {plural(preview.alerts, 'alert')} in {preview.deployments} " + plural(
        preview.deployments, "deployment"
    )
    if preview.arrests_kept:
        click.echo(
            f"{preview.arrests_kept} {plural(preview.arrests_kept, 'alert')} that led to an arrest kept "
            "(--include-arrests purges them too)"
        )
    if dry_run:
        click.echo(f"would purge {summary}")
        refuse_left_out(preview.skipped, "would not be purged")
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
    files = f"{result.files} {plural(result.files, 'file')}"
    click.echo(f"purged {result.alerts} {plural(result.alerts, 'alert')} ({files})")
    refuse_left_out(result.skipped, "not purged")


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
    log = out_dir / audit.AUDIT_FILE
    summary = AuditVerifySummary(log, verification.lines, tuple(verification.problems), key is not None)
    if not as_json:
        for problem in summary.problems:
            click.echo(problem, err=True)
    echo_summary(summary, as_json)
    if summary.problems:
        raise AuditError(f"{log}: {len(summary.problems)} problem(s) in {summary.line_count} lines")


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
    click.echo(f"{out_dir / audit.AUDIT_FILE}: {vouched} unsigned {plural(vouched, 'line')} vouched for")
