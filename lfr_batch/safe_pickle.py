"""Reading watchlist pickles without running code, crashing or exhausting memory.

A pickle is a program: every global it names is called. This unpickler names
no real global at all. It admits the few that numpy arrays are pickled with,
but each resolves to a stand-in here that only records what the pickle says
(shape, dtype, bytes); after loading, :func:`materialise` checks every array
against strict rules (little-endian ``float32``/``float64``/``int64``, at most
two dimensions, bytes exactly as many as the shape needs, bounded size)
before numpy sees a byte of it. numpy's own dtype and scalar constructors,
through which a crafted pickle can make numpy read arbitrary memory, are never
reached. Containers are walked with a bound on their number of items, so a
small pickle of shared references cannot unfold into gigabytes.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

# What a watchlist can hold at most: 2 million encodings of 128 floats (2 GiB).
MAX_ARRAY_BYTES = 2_000_000 * 128 * 8
MAX_ITEMS = 20_000_000  # list, tuple and dict items visited while materialising
MAX_TEXT = 1_000_000  # characters in one string passed to _codecs.encode
_DTYPES = {"f8": "<f8", "f4": "<f4", "i8": "<i8", "<f8": "<f8", "<f4": "<f4", "<i8": "<i8"}


class RefusedPickleError(pickle.UnpicklingError):
    """The pickle holds something a watchlist never needs; the message says what."""


class _NdarrayName:
    """Stands for ``numpy.ndarray`` where the pickle names it as a type."""


class _Dtype:
    """Stands for ``numpy.dtype(name, align, copy)``: only plain little-endian numbers."""

    def __init__(self, name: Any = None, align: Any = False, copy: Any = False) -> None:
        if not isinstance(name, str) or name not in _DTYPES:
            raise RefusedPickleError(f"it holds an array of type {name!r}; watchlists hold numbers only")
        self.name = _DTYPES[name]

    def __setstate__(self, state: Any) -> None:
        # numpy pickles a plain dtype's state as (3, byte order, None, None, None, -1, -1, 0);
        # anything else (fields, object flags) is how a crafted dtype reads memory.
        plain = (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[0] == 3
            and state[1] in ("<", "|", "=")
            and state[2:5] == (None, None, None)
            and state[5:8] == (-1, -1, 0)
        )
        if not plain:
            raise RefusedPickleError("it holds an array type with unusual flags")


class _Array:
    """Stands for an array the pickle describes; becomes one in :func:`materialise`."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()
        self.dtype = ""
        self.data = b""

    def set(self, shape: Any, dtype: Any, data: Any, fortran: Any = False) -> None:
        if not isinstance(dtype, _Dtype):
            raise RefusedPickleError("it holds an array without a plain number type")
        if (
            not isinstance(shape, tuple)
            or len(shape) > 2
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise RefusedPickleError(f"it holds an array of shape {shape!r}")
        if fortran not in (False, 0):
            raise RefusedPickleError("it holds an array in column order")
        if isinstance(data, bytearray | memoryview | pickle.PickleBuffer):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise RefusedPickleError("it holds an array whose contents are not bytes")
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype.name).itemsize if shape else 0
        if size > MAX_ARRAY_BYTES or len(data) != size:
            raise RefusedPickleError(f"it holds an array of shape {shape} with {len(data)} bytes of data")
        self.shape, self.dtype, self.data = shape, dtype.name, data

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise RefusedPickleError("it holds an array in a form numpy does not write")
        _version, shape, dtype, fortran, data = state
        self.set(shape, dtype, data, fortran)

    def array(self) -> np.ndarray:
        if not self.dtype:
            raise RefusedPickleError("it holds an array that was never filled in")
        return np.frombuffer(self.data, dtype=self.dtype).reshape(self.shape).copy()


def _reconstruct(kind: Any, shape: Any, typecode: Any) -> _Array:
    if kind is not _NdarrayName:
        raise RefusedPickleError("it rebuilds something other than a plain array")
    return _Array()


def _frombuffer(data: Any, dtype: Any, shape: Any, order: Any) -> _Array:
    array = _Array()
    array.set(shape, dtype, data, order not in ("C", None))
    return array


def _encode(text: Any, encoding: Any = "latin1") -> bytes:
    """Protocol 2 stores bytes as ``_codecs.encode(text, 'latin1')``; nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or len(text) > MAX_TEXT:
        raise RefusedPickleError("it encodes text in a way a watchlist never needs")
    return text.encode("latin1")


_STAND_INS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Builds plain data and stand-ins for arrays; names no real global."""

    def find_class(self, module: str, name: str) -> Any:
        stand_in = _STAND_INS.get((module, name))
        if stand_in is None:
            raise RefusedPickleError(f"it asks to load '{module}.{name}', which a watchlist never needs")
        return stand_in

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedPickleError("it refers to objects outside the file")


def materialise(value: Any) -> Any:
    """The loaded value with every stand-in made a real array, checking as it goes;
    containers shared by reference are visited once per reference, up to MAX_ITEMS."""
    budget = [MAX_ITEMS]

    def walk(item: Any, depth: int) -> Any:
        if depth > 20:
            raise RefusedPickleError("it nests containers deeper than a watchlist does")
        if isinstance(item, _Array):
            return item.array()
        if isinstance(item, list | tuple | dict):
            budget[0] -= len(item)
            if budget[0] < 0:
                raise RefusedPickleError("it holds more items than any watchlist")
            if isinstance(item, dict):
                return {walk(key, depth + 1): walk(entry, depth + 1) for key, entry in item.items()}
            walked = [walk(entry, depth + 1) for entry in item]
            return walked if isinstance(item, list) else tuple(walked)
        if item is None or isinstance(item, str | bytes | int | float | bool):
            return item
        raise RefusedPickleError(f"it holds a {type(item).__name__}, which a watchlist never needs")

    return walk(value, 0)
