"""What every command takes besides its own options: -v/-vv and -q, --log-file, and
--config with its default file. Scripts and cron jobs lean on these.

Settings come from three places, each overriding the one before: the defaults in
``lfr_batch.options`` and the click options, the command's table of the config file
(``[scan]``, ``[watchlist.build]``, ``[audit.verify]`` ...), the command line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.errors import ConfigError
from lfr_batch.files import RefusedFileError
from lfr_batch.options import OPTIONS
from lfr_batch.readers import read_toml
from lfr_batch.records.folder import OWN_FILE, written_by_lfr_batch

CONFIG_ENV = "LFR_BATCH_CONFIG"  # the default config file's path; empty: none
FFMPEG_LOG_LEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_QUIET, FFMPEG_ERRORS = "-8", "16"  # AV_LOG_QUIET, AV_LOG_ERROR

PLAIN_FORMAT = f"{SOFTWARE_NAME}: %(levelname)s: %(message)s"
TIMESTAMPED_FORMAT = f"%(asctime)s {PLAIN_FORMAT}"

# In the click context (shared by the group and its subcommand): what was asked for.
VERBOSITY, QUIET, LOG_FILE = "lfr_batch.verbosity", "lfr_batch.quiet", "lfr_batch.log_file"
FILE_ONLY = "file_only"  # a record's extra: the error line main() has already shown on stderr


def default_config_path() -> Path | None:
    """$LFR_BATCH_CONFIG, else $XDG_CONFIG_HOME/lfr-batch/config.toml (~/.config/...)."""
    if CONFIG_ENV in os.environ:
        return Path(os.environ[CONFIG_ENV]) if os.environ[CONFIG_ENV] else None
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / SOFTWARE_NAME / "config.toml"


class StderrHandler(logging.Handler):
    """Writes to sys.stderr as it is when a line is logged (tests replace it), through
    tqdm, so a log line never tears a progress bar. It takes the place of
    tqdm.contrib.logging's handler, which would drop this one's level and filter."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(lambda record: not getattr(record, FILE_ONLY, False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


class _IsoFormatter(logging.Formatter):
    """Each line's time as every time we write: ISO 8601 to the second with the machine's
    offset, in the extended format throughout (strftime's %z gives +0000)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


_stderr = StderrHandler()
_log_file: logging.FileHandler | None = None
_command_line: list[str] = []  # this command's arguments, for the log file's first line


def start_logging(argv: list[str]) -> None:
    """Before each command: warnings and errors on stderr, no log file yet. Timestamps
    where stderr is kept (a cron job's mail, a file), not on a person's terminal."""
    stop_logging()
    _command_line[:] = argv
    root = logging.getLogger()
    if _stderr not in root.handlers:
        root.addHandler(_stderr)
    stamped = not sys.stderr.isatty()
    _stderr.setFormatter(_IsoFormatter(TIMESTAMPED_FORMAT if stamped else PLAIN_FORMAT))
    _set_levels(verbosity=0, quiet=False)


def stop_logging() -> None:
    global _log_file
    if _log_file is not None:
        logging.getLogger().removeHandler(_log_file)
        _log_file.close()
        _log_file = None


def _set_levels(verbosity: int, quiet: bool) -> None:
    shown = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    _stderr.setLevel(shown)
    # A job's log file keeps what each run did (INFO) whatever stderr shows; -vv adds DEBUG.
    kept = logging.DEBUG if verbosity >= 2 else logging.INFO
    if _log_file is not None:
        _log_file.setLevel(kept)
    logging.getLogger().setLevel(min(shown, kept) if _log_file is not None else shown)
    # FFmpeg's own complaints ("moov atom not found") would reach stderr unasked; why a
    # video failed goes into videos.csv and one line of ours. Read when the first video
    # is opened, and inherited by worker processes; a value set by the user wins.
    if os.environ.get(FFMPEG_LOG_LEVEL_ENV) in (None, FFMPEG_QUIET, FFMPEG_ERRORS):
        os.environ[FFMPEG_LOG_LEVEL_ENV] = FFMPEG_ERRORS if verbosity and not quiet else FFMPEG_QUIET


def _apply(ctx: click.Context) -> None:
    global _log_file
    path = ctx.meta.get(LOG_FILE)
    if path is not None and (_log_file is None or Path(_log_file.baseFilename) != path.resolve()):
        stop_logging()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _log_file = logging.FileHandler(path, mode="a", encoding="utf-8", errors="backslashreplace")
        except OSError as error:
            raise click.BadParameter(f"cannot write the log file {path}: {error.strerror}") from None
        _log_file.setFormatter(_IsoFormatter(TIMESTAMPED_FORMAT))
        logging.getLogger().addHandler(_log_file)
        _set_levels(ctx.meta.get(VERBOSITY, 0), bool(ctx.meta.get(QUIET)))
        started = " ".join(_command_line) or ctx.command_path
        logging.getLogger(SOFTWARE_NAME).info("%s %s started: %s", SOFTWARE_NAME, __version__, started)
    _set_levels(ctx.meta.get(VERBOSITY, 0), bool(ctx.meta.get(QUIET)))


def log_error_to_file(message: str) -> None:
    """An error main() showed on stderr, kept in the log file too."""
    logging.getLogger(SOFTWARE_NAME).error(message, extra={FILE_ONLY: True})


def quiet(ctx: click.Context | None = None) -> bool:
    """Whether -q was given (before or after the subcommand, or in the config file)."""
    context = ctx or click.get_current_context()
    return bool(context.meta.get(QUIET))


def _add_verbosity(ctx: click.Context, _param: click.Parameter, count: int | None) -> None:
    if count:
        ctx.meta[VERBOSITY] = ctx.meta.get(VERBOSITY, 0) + int(count)
        _apply(ctx)


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    if value:
        ctx.meta[QUIET] = True
        _apply(ctx)


def _set_log_file(ctx: click.Context, _param: click.Parameter, path: Path | None) -> None:
    if path is None:
        return
    try:
        own = written_by_lfr_batch(Path(path))
    except OSError as error:
        raise click.BadParameter(f"{error}: keep the log elsewhere") from None
    if own:
        # Lines appended to the audit log, or inside a deployment, would break what reads them.
        raise click.BadParameter(f"{path} {OWN_FILE}: keep the log elsewhere")
    ctx.meta[LOG_FILE] = Path(path)
    _apply(ctx)


def logging_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """-v/-vv, -q and --log-file, before the subcommand or after it, as users type them."""
    command = click.option(
        "--log-file",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_set_log_file,
        help="Also append the log to this file, each line timestamped (ISO 8601): what the run "
        "did (INFO), its warnings and errors, whatever -q or -v show on stderr.  [default: none]",
    )(command)
    command = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_quiet,
        help="Errors only on stderr: no warnings, no progress bars.",
    )(command)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_add_verbosity,
        help="Log each step's progress (INFO) as well as warnings; -vv adds details (DEBUG).  "
        "[default: warnings and errors only]",
    )(command)


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--config FILE: the command's table of a TOML file sets any of its options (and
    arguments); without it, the default file is read when it exists."""
    shown = default_config_path()
    return click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="TOML file whose table for this command ([scan], [watchlist.build], ...) sets any "
        "option below, and the arguments; the command line overrides it.  "
        f"[default: {shown if shown else 'none'}, where it exists; ${CONFIG_ENV} names another]",
    )(command)


def _table_name(ctx: click.Context) -> list[str]:
    """The command's table: ['scan'], ['watchlist', 'build'], ..."""
    return ctx.command_path.split()[1:]


def _load_config(ctx: click.Context, _param: click.Parameter, path: Path | None) -> None:
    given = path is not None
    if path is None:
        path = default_config_path()
        if path is None or not path.is_file():
            return
    keys = _table_name(ctx)
    shown = f"[{'.'.join(keys)}]"
    try:
        table: Any = read_toml(path)  # a regular file of bounded size, UTF-8, not nested too deep
    except RefusedFileError as error:
        raise click.BadParameter(str(error)) from None
    for key in keys:
        table = table.get(key) if isinstance(table, dict) else None
    if not isinstance(table, dict):
        if given:
            raise click.BadParameter(f"{path} has no {shown} table")
        return
    params: dict[str, click.Parameter] = {
        option.lstrip("-"): param
        for param in ctx.command.params
        for option in getattr(param, "opts", [])
        if option.startswith("--") and param.name not in ("config", "help")
    }
    params.update({str(p.name): p for p in ctx.command.params if isinstance(p, click.Argument)})
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        param = params.get(key) or params.get(key.replace("_", "-"))
        if param is None:
            known = ", ".join(sorted(params))
            raise click.BadParameter(f"{path}: unknown key {key[:80]!r} in {shown}; use one of: {known}")
        if str(param.name) in defaults:
            raise click.BadParameter(f"{path}: {key[:80]!r} given twice in {shown} ('-' and '_' alike)")
        defaults[str(param.name)] = _config_value(path, key, value, param)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _config_value(path: Path, key: str, value: Any, param: click.Parameter) -> Any:
    """A config value of the kind its option takes, before click converts it (which would
    take 1.5 as 1 worker and true as 1 frame a second); one line for any other."""
    if param.multiple or (isinstance(param, click.Argument) and param.nargs == -1):
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise click.BadParameter(f"{path}: {key} must be a path or a list of paths")
    if param.name in OPTIONS:
        row = OPTIONS[str(param.name)]
        try:
            # The range too, here where the file can be named (text is converted later).
            if isinstance(value, str) and not row.choices:
                row.check_type(value)
            else:
                row.check(value)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        return value
    if param.type.name == "ISO-TIME" and isinstance(value, date | time):
        if isinstance(value, datetime):
            return value
        raise ConfigError(
            f"{path}: {key} must be a date and time with its zone, such as 2026-11-26T14:00:00+00:00, "
            f"not {value.isoformat()}"
        )
    if isinstance(param, click.Option) and param.is_flag:
        kinds: tuple[type, ...] = (bool,)
        wanted = "true or false"
    elif isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
        kinds, wanted = (int, float), "a number"
    else:
        kinds, wanted = (str,), "text"
    if isinstance(value, date | time):  # TOML's unquoted dates and times
        raise ConfigError(f"{path}: {key} must be {wanted}, not the date or time {value.isoformat()}")
    if not isinstance(value, bool | int | float | str):
        raise ConfigError(
            f"{path}: {key} must be a single value, not {type(value).__name__} {repr(value)[:80]}"
        )
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be {wanted}, not {value!r}")
    return value
