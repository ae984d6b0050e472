"""A corpus of hostile watchlist pickles, loaded one by one under a memory limit.

Run as a script (by tests/test_safe_pickle.py, in its own process so that a crash
or a runaway allocation fails the test instead of the test run): prints one JSON
line with how many pickles were refused, loaded, or escaped as something other
than a one-line WatchlistError.
"""

from __future__ import annotations

import json
import pickle
import random
import resource
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lfr_batch.errors import WatchlistError
from lfr_batch.watchlist.store import load_watchlist

MEMORY_LIMIT = 3 * 1024**3
SAMPLE = Path(__file__).resolve().parents[1] / "watchlists" / "sample.pkl"


class Gadget:
    """Pickles as ``function(*args)`` then, if given, BUILD with ``state``."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...], state: Any = None) -> None:
        self.reduced = (function, args) if state is None else (function, args, state)

    def __reduce__(self) -> tuple[Any, ...]:
        return self.reduced


def numpy_internal(name: str) -> Callable[..., Any]:
    module = getattr(np, "_core", None) or np.core
    return getattr(module.multiarray, name)


def array_gadget(shape: Any, dtype_state: Any, data: Any, dtype_name: str = "f8") -> Gadget:
    dtype = Gadget(np.dtype, (dtype_name, False, True), dtype_state)
    return Gadget(numpy_internal("_reconstruct"), (np.ndarray, (0,), b"b"), (1, shape, dtype, False, data))


def shared_bomb(levels: int) -> list[Any]:
    item: list[Any] = [0.0] * 128
    for _ in range(levels):
        item = [item, item]
    return item


def gadgets() -> Iterator[tuple[str, bytes]]:
    plain = (3, "<", None, None, None, -1, -1, 0)
    codecs_encode = __import__("_codecs").encode
    flagged = (3, "|", None, None, None, -1, -1, 63)
    encodings: dict[str, Any] = {
        "dtype with object flags": array_gadget((128,), flagged, b"\0" * 1024),
        "object dtype": array_gadget((1,), plain, b"\0" * 8, "O8"),
        "scalar constructor": Gadget(numpy_internal("scalar"), (np.dtype("f8"), b"\0" * 8)),
        "huge shape, little data": array_gadget((10**12, 128), plain, b"\0" * 8),
        "negative shape": array_gadget((-1,), plain, b""),
        "three dimensions": array_gadget((1, 1, 128), plain, b"\0" * 1024),
        "data of the wrong length": array_gadget((128,), plain, b"\0" * 100),
        "codecs with another encoding": Gadget(codecs_encode, ("x", "utf-16")),
        "codecs with an unknown encoding": Gadget(codecs_encode, ("x", "nonexistent")),
        "os.system": Gadget(__import__("os").system, ("true",)),
        "shared-reference bomb": shared_bomb(40),
        "encodings of 2x64": np.zeros((2, 64)),
        "encodings of 64": np.zeros(64),
        "integer encodings": np.zeros(128, dtype=np.int64),
    }
    cases: dict[str, Any] = {
        name: {"encodings": [value], "names": ["a"]} for name, value in encodings.items()
    }
    cases |= {
        "eval": Gadget(eval, ("1+1",)),
        "names not text": {"encodings": [np.zeros(128)], "names": [b"a"]},
        "no encodings": {"encodings": [], "names": []},
        "a list, not a dict": [{"encodings": [np.zeros(128)], "names": ["a"]}],
    }
    for name, payload in cases.items():
        yield name, pickle.dumps(payload, protocol=2)
    yield "deep nesting", b"\x80\x02" + b"]" * 5000 + b"a" * 4999 + b"."
    yield "format version 99", pickle.dumps({"format": "lfr-batch-watchlist", "format_version": 99})
    yield "persistent id", b"\x80\x02P0\n."
    yield "truncated", SAMPLE.read_bytes()[:100]
    yield "empty", b""


def mutations(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """Valid pickles (the bundled v1 list, a v2 list, face_recognition layouts in
    protocols 2 and 5) with random bytes flipped, cut, repeated or inserted."""
    from lfr_batch.watchlist.store import save_watchlist

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        v2 = Path(folder) / "v2.pkl"
        save_watchlist(load_watchlist(SAMPLE), v2)
        sources = [
            SAMPLE.read_bytes(),
            v2.read_bytes(),
            pickle.dumps({"encodings": [np.ones(128) * 0.1] * 3, "names": ["a", "b", "a"]}, protocol=2),
            pickle.dumps({"encodings": [np.ones(128) * 0.1] * 2, "names": ["a", "b"]}, protocol=5),
        ]
    for index in range(count):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            action = rng.randrange(4)
            if action == 0:
                data[where] = rng.randrange(256)
            elif action == 1:
                del data[where:]
                if not data:
                    break
            elif action == 2:
                data[where:where] = data[where : where + rng.randint(1, 64)]
            else:
                data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        yield f"mutation {index}", bytes(data)


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    outcome = {"refused": 0, "loaded": 0, "escaped": [], "cases": 0, "gadgets_refused": []}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.pkl"
        for name, data in [*gadgets(), *mutations(int(sys.argv[1]) if len(sys.argv) > 1 else 0, 1200)]:
            outcome["cases"] += 1
            path.write_bytes(data)
            try:
                load_watchlist(path)
                outcome["loaded"] += 1
            except WatchlistError as error:
                if "\n" in str(error):
                    outcome["escaped"].append(f"{name}: a message of several lines")
                outcome["refused"] += 1
                if not name.startswith("mutation"):
                    outcome["gadgets_refused"].append(name)
            except BaseException as error:
                outcome["escaped"].append(f"{name}: {type(error).__name__}: {error}"[:300])
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
