"""The ``lfr-batch`` command group, and the one place where a command's end becomes
an exit status: errors from the library arrive as
:class:`~lfr_batch.errors.LfrBatchError` and are turned into one line on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from lfr_batch import SOFTWARE_NAME, __version__
from lfr_batch.command_settings import (
    log_error_to_file,
    logging_options,
    start_logging,
    stop_logging,
)
from lfr_batch.errors import LfrBatchError, one_line
from lfr_batch.files import SHARE_GROUP_ENV, has_utf8_name, share_group, shown_name

logger = logging.getLogger(SOFTWARE_NAME)


# Reports written, but some videos were partial or failed: a job can tell, and look.
EXIT_INCOMPLETE = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name=SOFTWARE_NAME)
@logging_options
@click.option(
    "--group",
    envvar=SHARE_GROUP_ENV,
    default=None,
    help="Share what this command writes with this group, to read: folders 0750 and files 0640, "
    f"the group's; also read from ${SHARE_GROUP_ENV}.  [default: none, owner only (0700, 0600)]",
)
def cli(group: str | None) -> None:
    """Batch face matching of recorded CCTV footage against a watchlist, with
    per-deployment reports in the shape police forces publish for LFR.

    \b
    Exit status (every command):
      0  done: every video scanned (or scanned before)
      1  an error stopped the command (one line on stderr)
      2  a bad option, argument or config file
      3  reports written, but some videos were partial or failed (videos.csv says which)
      4  nothing scanned: no video among the inputs could be read; no deployment created
    130  interrupted: Ctrl-C, or input ended at a question
    """
    if group:
        os.environ[SHARE_GROUP_ENV] = group  # where every file is written, workers included
        share_group()  # an unknown group is refused before anything is written


def show_flag_defaults(command: click.Command) -> None:
    """Say in --help that a flag is off unless given: click shows every default but that
    one, and --help is to give each option's."""
    context = click.Context(command)
    for param in command.params:
        if (
            isinstance(param, click.Option)
            and param.is_bool_flag
            and not param.secondary_opts
            and not param.is_eager  # --version: an action, not a setting
            and param.get_default(context) is False
            and param.help
            and "[default:" not in param.help
        ):
            param.help += "  [default: off]"
    for sub in getattr(command, "commands", {}).values():
        show_flag_defaults(sub)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (callable from tests)."""
    arguments = sys.argv[1:] if argv is None else argv
    undecodable = [shown_name(Path(argument)) for argument in arguments if not has_utf8_name(Path(argument))]
    if undecodable:
        # Bytes that are not UTF-8 would reach a name, a report or the state, which could
        # not be written, and OpenCV crashes on such a file name: refused before anything.
        click.echo(f"{SOFTWARE_NAME}: error: {undecodable[0]} is not UTF-8 text: give it in UTF-8", err=True)
        return 2
    start_logging(arguments)
    try:
        code = _run(argv)
        logger.info("finished: exit status %d", code)
        return code
    finally:
        stop_logging()


def _run(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name=SOFTWARE_NAME, standalone_mode=False)
    except LfrBatchError as error:
        _fail(f"{SOFTWARE_NAME}: error: {one_line(error)}")
        return error.exit_code
    except click.exceptions.Abort:
        _fail(f"{SOFTWARE_NAME}: interrupted")
        return 130
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()  # a bare command or group: its help, as asked for
        return error.exit_code
    except click.ClickException as error:
        # click's own form (usage, a hint and the error) takes four lines; ours is one.
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        _fail(f"{SOFTWARE_NAME}: error: {one_line(error.format_message())}{hint}")
        return error.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except OSError as error:
        _fail(f"{SOFTWARE_NAME}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "))
        return 1
    return 0


def _fail(line: str) -> None:
    """The one line that ends a command: on stderr, and in the log file."""
    click.echo(line, err=True)
    log_error_to_file(line.removeprefix(f"{SOFTWARE_NAME}: "))


def entry_point() -> None:
    sys.exit(main())
