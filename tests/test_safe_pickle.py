"""Hostile watchlist pickles: every one refused in one line, none crashes or runs away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_a_corpus_of_hostile_pickles_is_refused_in_one_line_each() -> None:
    run = subprocess.run(
        [sys.executable, str(HERE / "hostile_pickles.py"), "0"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]  # a crash (139) or a MemoryError kill fails here
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["cases"] >= 1000
    assert outcome["escaped"] == []
    for gadget in (
        "dtype with object flags",
        "object dtype",
        "scalar constructor",
        "huge shape, little data",
        "data of the wrong length",
        "codecs with another encoding",
        "codecs with an unknown encoding",
        "os.system",
        "eval",
        "shared-reference bomb",
        "encodings of 2x64",
        "no encodings",
        "deep nesting",
        "persistent id",
    ):
        assert gadget in outcome["gadgets_refused"]
