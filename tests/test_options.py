"""One table of options: the command line, the TOML config and the library agree on
every option's default and range, because all three read lfr_batch.options."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
import pytest
from conftest import MALE_ONLY, SAMPLE_PHOTOS, SAMPLE_WATCHLIST

from lfr_batch.cli import cli, main
from lfr_batch.errors import ConfigError
from lfr_batch.options import OPTIONS, Option
from lfr_batch.scan import SCAN_OPTIONS, ScanConfig
from lfr_batch.search import SEARCH_OPTIONS, SearchConfig

PROBE = SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"


def bad_values(row: Option) -> list[str]:
    """Text a user could type that the row must refuse."""
    if row.choices:
        return ["yolo"]
    values = [] if row.kind is int else ["nan", "inf"]  # "nan" is no integer: click refuses it
    if row.minimum is not None:
        values.append(str(row.kind(row.minimum if row.open_minimum else row.minimum - 1)))
    if row.maximum is not None:
        values.append(str(row.kind(row.maximum if row.open_maximum else row.maximum + 1)))
    return values


def command_for(name: str) -> str:
    return "scan" if name in SCAN_OPTIONS else "search"


def arguments(command: str, out: Path) -> list[str]:
    if command == "scan":
        return [
            "scan",
            str(MALE_ONLY),
            "--watchlist",
            str(SAMPLE_WATCHLIST),
            "--deployment",
            "d",
            "--out",
            str(out),
        ]
    return ["search", str(PROBE), "--footage", str(MALE_ONLY), "--case", "c", "--out", str(out)]


def default_config(name: str) -> ScanConfig | SearchConfig:
    """The library's config that takes the option, with every other value left at its default."""
    if name in SCAN_OPTIONS:
        return ScanConfig(inputs=(MALE_ONLY,), watchlist=SAMPLE_WATCHLIST, deployment="d")
    return SearchConfig(photos=(PROBE,), footage=(MALE_ONLY,), case="c")


CASES = [(name, value) for name, row in OPTIONS.items() for value in bad_values(row)]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_the_command_line_and_the_config_file_refuse_alike(
    tmp_path: Path, capsys, name: str, value: str
) -> None:
    row = OPTIONS[name]
    command = command_for(name)
    assert main([*arguments(command, tmp_path / "out"), row.flag, value]) == 2
    from_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert row.flag in from_line
    if command == "scan":  # [scan] is the config file's table
        config = tmp_path / "scan.toml"
        typed = f'"{value}"' if row.choices else value
        config.write_text(f"[scan]\n{row.flag.lstrip('-')} = {typed}\n", encoding="utf-8")
        assert main([*arguments(command, tmp_path / "out"), "--config", str(config)]) == 2
        # The same refusal, naming the file the value came from.
        from_file = capsys.readouterr().err.strip().splitlines()
        assert len(from_file) == 1
        assert from_file[0].startswith(f"lfr-batch: error: {config}: {row.flag} ")
        assert value in from_file[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_the_library_refuses_what_the_command_line_refuses(name: str) -> None:
    row = OPTIONS[name]
    config = default_config(name)
    for value in bad_values(row):
        typed = value if row.choices else row.kind(float(value))
        with pytest.raises(ConfigError, match=row.flag):
            type(config)(
                **{**{f.name: getattr(config, f.name) for f in fields(config)}, name: typed}
            ).validate()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_default_is_the_tables_in_the_library_and_on_the_command_line(name: str) -> None:
    row = OPTIONS[name]
    config = default_config(name)
    assert getattr(config, name) == row.value
    row.check(row.value)
    command = cli.commands[command_for(name)]
    option = next(p for p in command.params if isinstance(p, click.Option) and p.name == name)
    assert option.get_default(click.Context(command)) == row.value
    assert row.flag in option.opts


def test_every_row_is_taken_by_a_command() -> None:
    assert set(OPTIONS) == set(SCAN_OPTIONS) | set(SEARCH_OPTIONS)


@pytest.mark.parametrize("name", [name for name, row in OPTIONS.items() if row.kind is int])
def test_a_whole_number_option_refuses_a_fraction(tmp_path: Path, capsys, name: str) -> None:
    row = OPTIONS[name]
    assert main([*arguments(command_for(name), tmp_path / "out"), row.flag, "1.5"]) == 2
    assert "is not a valid integer" in capsys.readouterr().err
