"""What the command shows a person at a terminal: text made safe to print, photos
drawn in colour, and the review of one finding after another.

The library never prints; this module is the command's, beside :mod:`lfr_batch.cli`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from PIL import Image, UnidentifiedImageError

from lfr_batch.errors import ReviewError
from lfr_batch.records.folder import DeploymentFolder
from lfr_batch.records.review import (
    ALERT_FORM,
    Review,
    ReviewForm,
    check_notes,
    check_reviewer,
    form_for,
    open_deployment,
    record_review,
)
from lfr_batch.records.state import Finding, VideoRecord
from lfr_batch.times import iso

# Control characters, and the bidirectional overrides that can make text read backwards.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from a file (a watchlist, a report) made safe to print to a terminal: escape
    sequences in a subject's name must not drive the terminal of the person reading it."""
    return _UNPRINTABLE.sub(
        lambda found: f"\\x{ord(found.group()):02x}" if ord(found.group()) < 256 else "?", text
    )


PREVIEW_WIDTH = 24  # terminal columns per photo


def terminal_preview(pictures: list[tuple[str, Path]], width: int = PREVIEW_WIDTH) -> str:
    """Photos side by side in 24-bit colour half blocks, each under its label, for
    terminals that show them."""
    labels, images = [], []
    for label, path in pictures:
        try:
            with Image.open(path) as photo:
                height = max(2, round(photo.height * width / photo.width / 2) * 2)
                images.append(np.asarray(photo.convert("RGB").resize((width, height))))
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
            continue
        labels.append(label[:width].ljust(width))
    if not images:
        return ""
    lines = ["  ".join(labels).rstrip()]
    for y in range(0, max(image.shape[0] for image in images), 2):
        line = []
        for image in images:
            for x in range(width):
                if y + 1 < image.shape[0]:
                    (r1, g1, b1), (r2, g2, b2) = image[y, x], image[y + 1, x]
                    line.append(f"\x1b[38;2;{r1};{g1};{b1}m\x1b[48;2;{r2};{g2};{b2}m▀")
                else:
                    line.append("\x1b[0m ")
            line.append("\x1b[0m  ")
        lines.append("".join(line))
    return "\n".join(lines)


OUTCOME_KEYS = {
    "tc": "true_confirmed",
    "tu": "true_unconfirmed",
    "fc": "false_confirmed",
    "fu": "false_unconfirmed",
}
ENGAGEMENT_KEYS = {"a": "arrest", "o": "other_disposal", "n": "no_action", "-": ""}
VERDICT_KEYS = {"m": "match", "n": "no_match", "u": "unsure"}
SKIP, QUIT, BACK = "s", "q", "b"


def _typed_notes(text: str) -> str:
    """Notes as typed, or the question asked again with the reason (click's way)."""
    try:
        return check_notes(text)
    except ReviewError as error:
        raise click.UsageError(str(error)) from None


def typed_reviewer(text: str) -> str:
    """A reviewer's name as given, stripped; refused (or, at a prompt, asked for again) if no
    answer could keep it."""
    try:
        check_reviewer(text.strip())
    except ReviewError as error:
        raise click.BadParameter(str(error)) from None
    return text.strip()


@dataclass(frozen=True)
class TerminalReview:
    """One walk through findings in the terminal."""

    deployment_dir: Path
    reviewer: str
    preview: bool
    wait: bool

    def walk(self, findings: list[tuple[VideoRecord, Finding]]) -> int:
        """Ask about each finding in turn; return how many answers were saved. 'b' goes
        back to the one before (answered or skipped), whose answer is then replaced."""
        form = form_for(open_deployment(self.deployment_dir))
        answered, index = 0, 0
        while 0 <= index < len(findings):
            video, finding = findings[index]
            self.show(form, index, len(findings), video, finding)
            key = self.ask_verdict(form, can_go_back=index > 0)
            if key == QUIT:
                break
            if key in (SKIP, BACK):
                index += 1 if key == SKIP else -1
                continue
            engagement = "-"
            if form.engagements:
                engagement = click.prompt(
                    "  engagement: a arrest, o other disposal, n no action, - none",
                    type=click.Choice(list(ENGAGEMENT_KEYS)),
                    show_choices=False,
                    default="-",
                )
            notes = click.prompt("  notes", default="", show_default=False, value_proc=_typed_notes)
            keys = OUTCOME_KEYS if form is ALERT_FORM else VERDICT_KEYS
            answer = Review(keys[key], ENGAGEMENT_KEYS[engagement], self.reviewer, notes)
            # Each answer under the lock, on the state as it is now: a scan may have added videos.
            with DeploymentFolder(self.deployment_dir).lock("review", wait=self.wait):
                record_review(open_deployment(self.deployment_dir), finding.alert_id, answer)
            answered += 1
            index += 1
        return answered

    def show(self, form: ReviewForm, index: int, total: int, video: VideoRecord, finding: Finding) -> None:
        click.echo(f"\n[{index + 1}/{total}] {describe(form, finding)}")
        start = f" = {iso(video.start)} + {finding.first_seen_s} s" if video.start else ""
        click.echo(
            f"  video {printable(video.video)}, seen {finding.first_seen_s}-{finding.last_seen_s} s"
            f"{start}, best frame {finding.best_frame}, distance {finding.distance}"
        )
        reference = "watchlist photo" if form is ALERT_FORM else "probe photo"
        paths = DeploymentFolder(self.deployment_dir)
        # Evidence only inside the folder: a record edited to name another file shows none.
        named = [("footage snapshot", finding.snapshot), (reference, finding.subject_photo)]
        pictures = [(label, path) for label, relative in named if (path := paths.evidence(relative))]
        for label, relative in named:
            path = paths.evidence(relative)
            click.echo(f"  {label}: {printable(str(path)) if path else 'none'}")
        recorded = open_deployment(self.deployment_dir).reviews().get(finding.alert_id, {})
        if recorded.get(form.verdict_column):
            details = ", ".join(printable(recorded.get(column, "")) or "-" for column in form.columns)
            click.echo(f"  recorded: {details} (a new answer replaces it)")
        if self.preview and sys.stdout.isatty():
            click.echo(terminal_preview(pictures))

    @staticmethod
    def ask_verdict(form: ReviewForm, can_go_back: bool) -> str:
        if form is ALERT_FORM:
            keys = OUTCOME_KEYS
            prompt = (
                "  outcome: tc true confirmed, tu true unconfirmed, fc false confirmed, fu false unconfirmed"
            )
        else:
            keys, prompt = VERDICT_KEYS, "  verdict: m match, n no match, u unsure"
        moves = [SKIP, QUIT, *([BACK] if can_go_back else [])]
        hint = "; s skip, q quit" + (", b back" if can_go_back else "")
        return click.prompt(prompt + hint, type=click.Choice([*keys, *moves]), show_choices=False)


def describe(form: ReviewForm, finding: Finding) -> str:
    if form is ALERT_FORM:
        return (
            f"alert {finding.alert_id}: {printable(finding.subject_name)} "
            f"({printable(finding.subject_id)}; {printable(finding.category or 'no category')})"
        )
    return f"candidate {finding.alert_id} for case {printable(finding.subject_id)}"
