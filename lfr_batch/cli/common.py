"""What the commands share: option types and decorators, progress bars, and how
counts and names are shown."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click
from tqdm import tqdm

from lfr_batch.cli.group import EXIT_INCOMPLETE, logger
from lfr_batch.command_settings import quiet
from lfr_batch.errors import ReportError
from lfr_batch.options import OPTIONS, SCHEDULER_ENV
from lfr_batch.records import audit
from lfr_batch.records.folder import OWN_FILE, written_by_lfr_batch
from lfr_batch.terminal import printable
from lfr_batch.times import RANGE_TEXT, in_range

if TYPE_CHECKING:
    from lfr_batch.cli.summaries import Footage
    from lfr_batch.scan import Progress


class IsoDateTime(click.ParamType):
    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date-time such as 2026-11-26T14:00:00+00:00",
                param,
                ctx,
            )


class Threshold(click.ParamType):
    """``auto`` (None: calibrated to the watchlist) or a distance: the type of an options
    row that takes the word auto (``Option.auto``)."""

    name = "auto|DISTANCE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither 'auto' nor a distance such as 0.45", param, ctx)


class GivenPath(click.Path):
    """A path that must not be empty: an unset variable in a script (--out "$REPORTS")
    gives one, and it would otherwise mean the current folder."""

    def __init__(self, **kinds: bool) -> None:
        super().__init__(path_type=Path, **kinds)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail("an empty path (an unset variable in a script?)", param, ctx)
        return super().convert(value, param, ctx)


class OutputFile(GivenPath):
    """A file a command writes whole: not a folder, nor a device, pipe or socket (which
    the write would replace with a file), nor one of lfr-batch's own files. ``-`` is
    stdout where the command can write there (``stdout``), else refused."""

    def __init__(self, stdout: bool = False) -> None:
        super().__init__(dir_okay=False)
        self.stdout = stdout

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        if str(path) == "-":
            if not self.stdout:
                self.fail("- (stdout): this command writes a file; name one", param, ctx)
            return path
        try:
            own = written_by_lfr_batch(path)
        except OSError as error:
            self.fail(f"{error}: name another file", param, ctx)
        if path.exists() and not path.is_file():
            stdout = " (for stdout, give -)" if self.stdout else ""
            self.fail(f"{path} is not a regular file (a device, pipe or socket){stdout}", param, ctx)
        if own:
            self.fail(f"{path} {OWN_FILE}: write it elsewhere", param, ctx)
        return path


class ScanProgress:
    """tqdm bars on stderr: videos done, and frames decoded over all of them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, event: Progress) -> None:
        if event.event == "scan_start":
            self.bars["videos"] = tqdm(
                total=event.total, unit="video", desc="videos", position=0, disable=not self.enabled
            )
            self.bars["frames"] = tqdm(
                total=event.frames or None,
                unit="frame",
                unit_scale=True,
                desc="frames",
                position=1,
                disable=not self.enabled,
            )
        elif event.event == "frames" and "frames" in self.bars:
            self.bars["frames"].update(event.advance)
        elif event.event == "video_end" and "videos" in self.bars:
            self.bars["videos"].update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def wait_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        is_flag=True,
        help="If another command holds the deployment, wait for it instead of stopping.",
    )(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print one JSON object on stdout instead of the text (for scripts).",
    )(command)


def echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


class Summary(Protocol):
    """A command's result as it tells it (lfr_batch.cli.summaries)."""

    def to_json(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]: ...


def echo_summary(summary: Summary, as_json: bool) -> None:
    """The summary on stdout: one JSON object for a script, or lines for a person."""
    if as_json:
        echo_json(summary.to_json())
        return
    for line in summary.lines():
        click.echo(line)


class RunSummary(Summary, Protocol):
    """What scan and search tell of their run (lfr_batch.cli.summaries)."""

    @property
    def footage(self) -> Footage: ...

    def audit_counts(self) -> dict[str, int]: ...


def finish_run(command: str, out_dir: Path, summary: RunSummary, as_json: bool, **audited: Any) -> None:
    """What scan and search do after their run: the summary on stdout, the audit line
    (``audited``: what it names besides the counts), and exit 3 where a video was not
    read whole. The audit line comes first: the run is done and its reports written,
    so a stdout that cannot take the summary (a closed pipe) must not leave it
    unaudited."""
    audit.record(out_dir, command, counts=summary.audit_counts(), **audited)
    echo_summary(summary, as_json)
    if not summary.footage.whole:
        sys.exit(EXIT_INCOMPLETE)


def require(options: dict[str, Any], *names: tuple[str, str]) -> None:
    """Refuse in one line the (shown name, parameter) pairs given neither on the command
    line nor in --config."""
    missing = [shown for shown, name in names if not options[name]]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (on the command line or in --config)")


def table_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of one row of lfr_batch.options: its flag, type, default and help,
    with its range; the range itself is checked by the library, so a value from the
    command line and one from --config are refused alike, in one line."""
    row = OPTIONS[name]
    allowed = row.allowed
    kind: Any = Threshold() if row.auto else click.Choice(row.choices) if row.choices else row.kind
    return click.option(
        row.flag,
        row.name,
        type=kind,
        default=row.default,
        show_default=row.shown_default or True,
        help=f"{row.help} {allowed[0].upper()}{allowed[1:]}." if not row.choices else row.help,
    )


def footage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How footage is read and where the work runs: the same for scan and search."""
    for name in ("segment_seconds",):
        command = table_option(name)(command)
    command = click.option(
        "--scheduler",
        envvar=SCHEDULER_ENV,
        default=None,
        callback=lambda _ctx, _param, value: value or None,  # an empty variable: no cluster
        help=f"Dask scheduler address (tcp://HOST:PORT) to run the segments on a cluster "
        f"instead of local workers; also read from ${SCHEDULER_ENV}.  [default: none]",
    )(command)
    for name in ("workers", "detector", "upsample", "sample_fps"):
        command = table_option(name)(command)
    command = click.option(
        "--start",
        type=IsoDateTime(),
        default=None,
        help="Wall-clock time of the first frame (ISO 8601), for files whose name carries no "
        "timestamp such as 20261126T140000.  [default: unknown: the wall-clock columns stay empty]",
    )(command)
    return command


def optional_percent(share: float | None) -> float | None:
    return None if share is None else round(100.0 * share, 2)


def iso_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        given = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date such as 2026-11-26") from None
    if not in_range(datetime.combine(given, time())):
        raise click.BadParameter(f"{value!r} is not {RANGE_TEXT}, as every time lfr-batch keeps is")
    return given


def percent_text(share: float) -> str:
    return "n/a" if share != share else f"{100 * share:.1f} %"


def refuse_left_out(skipped: list[str], what: str) -> None:
    """Exit 1 naming the deployments a command over OUT had to leave out (and why)."""
    if skipped:
        raise ReportError(
            f"{len(skipped)} {plural(len(skipped), 'deployment')} {what}: " + "; ".join(skipped[:5])
        )


def on_terminal() -> bool:
    """Whether a person is there to answer a question (scripts and cron jobs are not)."""
    return sys.stdin.isatty()


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


CELL_WIDTH = 32  # characters of a name or id shown in a table column; longer ones are cut with …


def cell(text: str) -> str:
    shown = printable(text)
    return shown if len(shown) <= CELL_WIDTH else shown[: CELL_WIDTH - 1] + "…"


def run_with_progress(config: Any, run: Callable[[Any, ScanProgress], Any]) -> Any:
    """What scan and search do before and around their run: check the config, open the
    audit log, and run with progress bars, shown only to a person watching (in a cron
    log their cursor codes are noise)."""
    logger.debug("settings: %s", config)
    config.validate()
    audit.prepare(config.out_dir)
    progress = ScanProgress(enabled=not quiet() and sys.stderr.isatty())
    try:
        return run(config, progress)
    finally:
        progress.close()
