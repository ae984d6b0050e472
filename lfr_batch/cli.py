"""The ``lfr-batch`` command: parse options, build a config, call the library.

Errors from the library arrive as :class:`~lfr_batch.errors.LfrBatchError` and are
turned into one line on stderr and an exit code here, and only here.
"""

from __future__ import annotations

import logging
import sys
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.errors import LfrBatchError
from lfr_batch.executors import SCHEDULER_ENV
from lfr_batch.faces import DETECTORS
from lfr_batch.matches import DEFAULT_THRESHOLD
from lfr_batch.reports import ALERTS_CSV, DEPLOYMENT_CSV, VIDEOS_CSV
from lfr_batch.scan import (
    DEFAULT_SAMPLE_FPS,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_UPSAMPLE,
    Progress,
    ScanConfig,
    default_workers,
    scan,
)
from lfr_batch.watchlist import build_watchlist, load_watchlist, save_watchlist

logger = logging.getLogger(SOFTWARE_NAME)

EXIT_SOME_VIDEOS_FAILED = 3


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name=SOFTWARE_NAME)
@click.option("-v", "--verbose", is_flag=True, help="Log each video's progress (INFO) as well as warnings.")
def cli(verbose: bool) -> None:
    """Batch face matching of recorded CCTV footage against a watchlist, with
    per-deployment reports in the shape police forces publish for LFR."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"{SOFTWARE_NAME}: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def load_config_file(ctx: click.Context, _param: click.Parameter, path: Path | None) -> Path | None:
    """Read a TOML file's [scan] table into the command's defaults, so that options
    given on the command line still win."""
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle).get("scan")
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{path} is not valid TOML: {error}") from None
    if not isinstance(table, dict):
        raise click.BadParameter(f"{path} has no [scan] table")
    names = {
        option.lstrip("-"): param.name
        for param in ctx.command.params
        for option in getattr(param, "opts", [])
        if option.startswith("--") and param.name not in ("config",)
    }
    names["inputs"] = "inputs"
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        name = names.get(key) or names.get(key.replace("_", "-"))
        if name is None:
            known = ", ".join(sorted(names))
            raise click.BadParameter(f"{path}: unknown key {key!r} in [scan]; use one of: {known}")
        defaults[name] = tuple(value) if name == "inputs" else value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


@cli.command("scan")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=load_config_file,
    help="TOML file whose [scan] table sets any option below (and inputs); "
    "options on the command line override it.  [default: none]",
)
@click.option(
    "--watchlist",
    "watchlist_path",
    type=click.Path(path_type=Path),
    help="Watchlist file made by 'lfr-batch watchlist build' (or a face_recognition pickle).  [required]",
)
@click.option("--deployment", help="Name of the operation; reports go to OUT/NAME/.  [required]")
@click.option(
    "--out",
    "out_dir",
    default=Path("reports"),
    show_default=True,
    type=click.Path(path_type=Path),
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
@click.option(
    "--start",
    type=IsoDateTime(),
    default=None,
    help="Wall-clock time of the first frame (ISO 8601), for files whose name carries no "
    "timestamp such as 20261126T140000. Default: unknown, so wall-clock columns stay empty.",
)
@click.option(
    "--threshold",
    default=DEFAULT_THRESHOLD,
    show_default=True,
    type=float,
    help="Largest encoding distance that counts as a match; lower is stricter.",
)
@click.option(
    "--fps",
    "sample_fps",
    default=DEFAULT_SAMPLE_FPS,
    show_default=True,
    type=float,
    help="Frames analysed per second of video (every frame if the video has fewer).",
)
@click.option(
    "--upsample",
    default=DEFAULT_UPSAMPLE,
    show_default=True,
    type=click.IntRange(0, 3),
    help="Times the frame is doubled before detection: 0 finds faces from ~80 px, "
    "1 from ~40 px, 2 from ~20 px; each step costs about 4x.",
)
@click.option(
    "--detector",
    type=click.Choice(DETECTORS),
    default="hog",
    show_default=True,
    help="dlib face detector: HOG (fast, frontal) or CNN (slower, finds turned faces).",
)
@click.option(
    "--exhaustive",
    is_flag=True,
    help="Analyse every frame in full and encode every face: many times slower; "
    "for checking what the fast default finds.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="one per CPU core",
    help="Local worker processes; long files are split into segments so one file uses them all.",
)
@click.option(
    "--scheduler",
    envvar=SCHEDULER_ENV,
    default=None,
    help=f"Dask scheduler address (tcp://HOST:PORT) to run the segments on a cluster "
    f"instead of local workers; also read from ${SCHEDULER_ENV}.  [default: none]",
)
@click.option(
    "--segment-seconds",
    default=DEFAULT_SEGMENT_SECONDS,
    show_default=True,
    type=float,
    help="Length of the segments long videos are split into for workers.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Forget what this deployment scanned before (reports and review entries "
    "included) and scan everything again. Without it, files already scanned are skipped.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress bars (for scripts); warnings still go to stderr.",
)
def scan_command(
    inputs: tuple[Path, ...],
    watchlist_path: Path | None,
    deployment: str | None,
    out_dir: Path,
    location: str,
    purpose: str,
    start: datetime | None,
    threshold: float,
    sample_fps: float,
    upsample: int,
    detector: str,
    exhaustive: bool,
    workers: int,
    scheduler: str | None,
    segment_seconds: float,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Scan video files or folders (searched recursively) against a watchlist.

    Writes OUT/NAME/alerts.csv, deployment.csv, videos.csv and snapshots/. Running
    it again into the same deployment scans only files not scanned before (by
    content) and updates the reports for all of them. Exits 0 when every video
    was scanned, 3 when some could not be (they are listed in videos.csv and on
    stderr), 1 or 2 on an error that stopped the run.
    """
    missing = [
        name
        for name, value in (
            ("INPUTS", inputs),
            ("--watchlist", watchlist_path),
            ("--deployment", deployment),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (on the command line or in --config)")
    config = ScanConfig(
        inputs=tuple(Path(p) for p in inputs),
        watchlist=Path(str(watchlist_path)),
        deployment=str(deployment),
        out_dir=Path(out_dir),
        location=location,
        purpose=purpose,
        start=start,
        threshold=threshold,
        sample_fps=sample_fps,
        upsample=upsample,
        detector=detector,  # type: ignore[arg-type]
        exhaustive=exhaustive,
        workers=workers,
        scheduler=scheduler or None,
        segment_seconds=segment_seconds,
        overwrite=overwrite,
    )
    progress = ScanProgress(enabled=not quiet)
    try:
        with logging_redirect_tqdm():
            result = scan(config, progress)
    finally:
        progress.close()
    click.echo(
        f"deployment {deployment}: {len(result.scanned)} videos scanned, "
        f"{len(result.skipped)} already scanned, {len(result.failed)} failed; "
        f"in all {len(result.records)} videos, {result.faces_seen} faces seen, "
        f"{result.total_alerts} alerts"
    )
    for name in (ALERTS_CSV, DEPLOYMENT_CSV, VIDEOS_CSV):
        click.echo(f"  {result.deployment_dir / name}")
    if result.failed:
        sys.exit(EXIT_SOME_VIDEOS_FAILED)


@cli.group("watchlist")
def watchlist_group() -> None:
    """Build and inspect watchlists."""


@watchlist_group.command("build")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def watchlist_build(source: Path, output: Path, upsample: int, quiet: bool) -> None:
    """Build a watchlist from SOURCE/<subject_id>/<photos>.

    An optional SOURCE/subjects.csv gives subject_id,name,category,reason,expires.
    Photos with no face or more than one are rejected and listed on stderr.
    """
    bars: list[tqdm] = []

    def on_photo(_photo: Path, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="photo", desc="photos", disable=quiet))
        bars[0].update(1)

    try:
        result = build_watchlist(source, upsample=upsample, on_photo=on_photo)
    finally:
        for bar in bars:
            bar.close()
    save_watchlist(result.watchlist, output)
    for rejected in result.rejected:
        click.echo(f"rejected {rejected.path}: {rejected.reason}", err=True)
    for subject_id in result.subjects_without_photos:
        click.echo(f"subject {subject_id} left out: none of its photos was usable", err=True)
    click.echo(
        f"{output}: {result.watchlist.size} subjects, {result.accepted_photos} encodings, "
        f"{len(result.rejected)} photos rejected"
    )


@watchlist_group.command("info")
@click.argument("path", type=click.Path(path_type=Path))
def watchlist_info(path: Path) -> None:
    """Show a watchlist's subjects, encodings, categories and expired entries."""
    watchlist = load_watchlist(path)
    now = datetime.now(UTC)
    per_subject = watchlist.encodings_per_subject()
    click.echo(f"watchlist: {path}")
    click.echo(
        f"created: {watchlist.created or 'unknown'}"
        + (" (face_recognition layout)" if watchlist.legacy_format else "")
    )
    click.echo(f"subjects: {watchlist.size}   encodings: {len(watchlist.encodings)}")
    expired = [s for s in watchlist.subjects if s.is_expired(now)]
    click.echo(f"expired: {len(expired)}")
    categories = Counter(s.category or "(none)" for s in watchlist.subjects)
    click.echo("categories:")
    for category, count in sorted(categories.items()):
        click.echo(f"  {count:5d}  {category}")
    click.echo("")
    header = f"{'subject_id':<20} {'name':<24} {'enc':>4}  {'expires':<25} category"
    click.echo(header)
    for subject, count in zip(watchlist.subjects, per_subject, strict=True):
        flag = " EXPIRED" if subject.is_expired(now) else ""
        click.echo(
            f"{subject.subject_id:<20} {subject.name:<24} {count:>4}  "
            f"{(subject.expires or '-') + flag:<25} {subject.category or '-'}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (callable from tests)."""
    try:
        cli.main(args=argv, prog_name=SOFTWARE_NAME, standalone_mode=False)
    except LfrBatchError as error:
        click.echo(f"{SOFTWARE_NAME}: error: {error}", err=True)
        return error.exit_code
    except click.exceptions.Abort:
        click.echo(f"{SOFTWARE_NAME}: interrupted", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except OSError as error:
        click.echo(
            f"{SOFTWARE_NAME}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "),
            err=True,
        )
        return 1
    return 0


def entry_point() -> None:
    sys.exit(main())
