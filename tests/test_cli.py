from __future__ import annotations

from pathlib import Path

import click
from conftest import SAMPLE_PHOTOS, SAMPLE_WATCHLIST, blank_image

from lfr_batch.cli import cli, main
from lfr_batch.watchlist.store import load_watchlist


def test_watchlist_build_lists_rejections_and_writes_the_file(tmp_path: Path, capsys) -> None:
    source = tmp_path / "src"
    (source / "f1").mkdir(parents=True)
    (source / "f1" / "1.png").write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / "1.png").read_bytes())
    blank_image(source / "f1" / "wall.png")
    out = tmp_path / "lists" / "w.pkl"
    assert main(["watchlist", "build", str(source), "-o", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert f"rejected {source / 'f1' / 'wall.png'}: no face found" in captured.err
    assert captured.out.strip() == f"{out}: 1 subjects, 1 photos (2 encodings), 1 photos rejected"
    assert load_watchlist(out).encoding_footage_view.tolist() == [False, True]
    # without footage views the list is the photos alone, as face_recognition compares them
    assert main(["watchlist", "build", str(source), "-o", str(out), "-q", "--no-footage-views"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 1 subjects, 1 photos (1 encodings), 1 photos rejected"
    assert load_watchlist(out).encoding_footage_view.tolist() == [False]
    assert main(["watchlist", "info", str(out)]) == 0
    assert "footage views: 0 (rebuild with 'watchlist build' to add them)" in capsys.readouterr().out


def test_watchlist_build_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["watchlist", "build", str(tmp_path / "nope"), "-o", str(tmp_path / "w.pkl")]) == 1
    err = capsys.readouterr().err
    assert err == f"lfr-batch: error: watchlist source folder not found: {tmp_path / 'nope'}\n"
    assert not (tmp_path / "w.pkl").exists()


def test_watchlist_info_shows_subjects_categories_and_expiry(tmp_path: Path, capsys) -> None:
    source = tmp_path / "src"
    for subject in ("a", "b"):
        (source / subject).mkdir(parents=True)
        photo = SAMPLE_PHOTOS / "intel_actor_f1" / "1.png"
        (source / subject / "1.png").write_bytes(photo.read_bytes())
    (source / "subjects.csv").write_text(
        "subject_id,name,category,expires\na,Ann,wanted,2001-01-01\nb,Bob,bail_breach,\n"
    )
    out = tmp_path / "w.pkl"
    assert main(["watchlist", "build", str(source), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["watchlist", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "subjects: 2   encodings: 4   footage views: 2\n" in text
    assert "expired: 1" in text
    assert "2001-01-01 EXPIRED" in text
    assert "Breach of bail or a court order" in text
    assert "Wanted by the courts" in text


def test_info_on_the_bundled_watchlist() -> None:
    assert main(["watchlist", "info", str(SAMPLE_WATCHLIST)]) == 0


def test_help_lists_every_command_and_version(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "scan" in out
    assert "watchlist" in out
    assert main(["--version"]) == 0
    assert "lfr-batch, version" in capsys.readouterr().out


def test_every_option_s_help_gives_its_default() -> None:
    """--help explains every option with its default: a flag's is off, -v's is warnings only."""
    unexplained = []

    def walk(command: click.Command, path: str) -> None:
        context = click.Context(command, info_name=path)
        for param in command.params:
            record = param.get_help_record(context) if isinstance(param, click.Option) else None
            asked_for = "[required]" in record[1] if record else False
            asked_for = asked_for or param.name in ("help", "version")
            if record and not asked_for and "[default:" not in record[1]:
                unexplained.append(f"{path} {record[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(cli, "lfr-batch")
    assert unexplained == []
    assert "exit.  [default" not in cli.get_help(click.Context(cli))  # --version is an action


def test_a_flat_folder_of_photos_says_where_photos_belong(tmp_path: Path, capsys) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    for name in ("1.png", "2.png"):
        (source / name).write_bytes((SAMPLE_PHOTOS / "intel_actor_f1" / name).read_bytes())
    assert main(["watchlist", "build", str(source), "-o", str(tmp_path / "w.pkl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"holds 2 files but no subject folders: put each person's photos in {source}/<subject_id>/" in err
    assert not (tmp_path / "w.pkl").exists()


def test_the_cuts_line_agrees_in_number_with_the_figure_it_shows() -> None:
    from lfr_batch.cli.summaries import cuts_line

    def line(rate: float) -> str:
        cuts = {"mode": "fixed", "cut_median": 0.45, "expected_false_alert_rate": rate}
        return cuts_line({**cuts, "expected_missed_share": None})

    assert "about 1 false alert expected per 10,000 faces seen" in line(1e-4)
    assert "about 0.98 false alerts expected" in line(0.98e-4)
    assert "about 0 false alerts expected" in line(0.0)
