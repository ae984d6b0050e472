"""dlib's face-recognition ResNet, read from its own weights file and run with numpy.

dlib-bin is built without BLAS, so its network spends ~130 ms on one face. The same
network as matrix products in numpy (OpenBLAS) takes ~15 ms and gives the same
128 numbers to within float rounding (``tests/test_resnet.py`` holds it to 1e-5
against dlib on real photos), so encodings stay comparable with face_recognition's.

The weights file is dlib's serialisation of its ``anet_type`` (dlib's
``dnn_face_recognition_ex.cpp``): every layer's details in input-to-output order,
each followed by the training state dlib keeps beside it. This module reads exactly
that network and refuses any other, naming the layer where the file differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lfr_batch.errors import ModelError

CHIP_SIZE = 150
# dlib's face chip for this network: 150 px, with a quarter of the face's size around it.
CHIP_PADDING = 0.25


class _Reader:
    """dlib's serialisation primitives (dlib/serialize.h, dlib/cuda/tensor.h)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def integer(self) -> int:
        # One byte of length (low nibble) and sign (0x80), then little-endian bytes.
        head = self.data[self.position]
        size = head & 0x0F
        start = self.position + 1
        if size > 8 or start + size > len(self.data):
            raise ModelError(f"the encoder's weights file is damaged at byte {self.position}")
        value = int.from_bytes(self.data[start : start + size], "little")
        self.position = start + size
        return -value if head & 0x80 else value

    def text(self) -> str:
        length = self.integer()
        raw = self.data[self.position : self.position + length]
        self.position += length
        return raw.decode("ascii", errors="replace")

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return math.ldexp(mantissa, exponent)

    def flag(self) -> bool:
        byte = self.data[self.position : self.position + 1]
        self.position += 1
        if byte not in (b"0", b"1"):
            raise ModelError(f"the encoder's weights file is damaged at byte {self.position - 1}")
        return byte == b"1"

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise ModelError("the encoder's weights file holds a tensor of an unknown version")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.position + 4 * count > len(self.data):
            raise ModelError("the encoder's weights file is cut short")
        values = np.frombuffer(self.data, "<f4", count, self.position).reshape(shape)
        self.position += 4 * count
        return values

    def tensor_shape(self) -> tuple[int, ...]:
        # An alias_tensor: where in a layer's parameters one of its arrays lies.
        self.integer()
        return tuple(self.integer() for _ in range(4))


@dataclass(frozen=True)
class _Layer:
    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc
    parameters: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    shape: tuple[int, ...] = ()  # con: filters (F, C, kh, kw); fc: weights (in, out)
    geometry: tuple[int, ...] = ()  # con, pools: kernel rows, cols, stride y, x, padding y, x


_KINDS = {
    "con_4": "con",
    "affine_": "affine",
    "relu_": "relu",
    "max_pool_2": "max_pool",
    "avg_pool_2": "avg_pool",
    "add_prev_": "add_prev",
    "fc_2": "fc",
}


def _read_layer(reader: _Reader) -> _Layer:
    name = reader.text()
    kind = _KINDS.get(name)
    if kind is None:
        raise ModelError(f"the encoder's weights file has a layer this reader does not know: {name!r}")
    if kind == "con":
        parameters = reader.tensor()
        reader.integer()  # number of filters, repeated in the filters' shape
        geometry = tuple(reader.integer() for _ in range(6))
        filters = reader.tensor_shape()
        reader.tensor_shape()  # biases: one per filter
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.real()
        return _Layer(kind, parameters, filters, geometry)
    if kind == "affine":
        parameters = reader.tensor()
        reader.tensor_shape(), reader.tensor_shape(), reader.integer()  # gamma, beta, mode
        return _Layer(kind, parameters)
    if kind in ("max_pool", "avg_pool"):
        return _Layer(kind, geometry=tuple(reader.integer() for _ in range(6)))
    if kind == "fc":
        outputs, inputs = reader.integer(), reader.integer()
        parameters = reader.tensor()
        reader.tensor_shape(), reader.tensor_shape(), reader.integer()  # weights, biases, bias mode
        for _ in range(4):
            reader.real()
        return _Layer(kind, parameters, (inputs, outputs))
    return _Layer(kind)


def _read_file(data: bytes) -> tuple[np.ndarray, list[_Layer]]:
    """The input layer's channel means and the layers, input first."""
    reader = _Reader(data)
    reader.integer()  # the loss layer's version
    if reader.text() != "loss_metric_2":
        raise ModelError("the encoder's weights file is not dlib's face-recognition network")
    reader.real(), reader.real()  # margin and distance threshold, used only in training
    input_name = b"\x01\x15input_rgb_image_sized"
    start = data.find(input_name, reader.position)
    if start < 0:
        raise ModelError("the encoder's weights file has no 150-px RGB input layer")
    reader.position = start  # past the version number of every layer wrapper
    reader.text()
    means = np.array([reader.real() for _ in range(3)], dtype=np.float32)
    if (reader.integer(), reader.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise ModelError("the encoder's weights file expects a face chip of another size")
    layers = []
    while reader.position < len(data):
        layers.append(_read_layer(reader))
        # The state dlib keeps beside each layer for training: three flags, three tensors
        # (and, after the first layer, which sits on the input, a sample count).
        for _ in range(3):
            reader.flag()
        for _ in range(3):
            reader.tensor()
        if len(layers) == 1:
            reader.integer()
    return means, layers


@dataclass(frozen=True)
class _Convolution:
    """A convolution with the affine (frozen batch-norm) after it folded in."""

    weights: np.ndarray  # (kh·kw·C, F), rows in the order of an NHWC window
    bias: np.ndarray
    kernel: int
    stride: int
    padding: int

    @classmethod
    def fold(cls, con: _Layer, affine: _Layer) -> _Convolution:
        filters, channels, rows, cols = con.shape
        parameters = con.parameters.ravel()
        weights = parameters[: filters * channels * rows * cols].reshape(filters, channels, rows, cols)
        bias = parameters[filters * channels * rows * cols :]
        scale, shift = np.split(affine.parameters.ravel(), 2)
        if len(bias) != filters or len(scale) != filters:
            raise ModelError("the encoder's weights file has a layer of an unexpected size")
        folded = (weights * scale[:, None, None, None]).transpose(2, 3, 1, 0).reshape(-1, filters)
        _, _, stride, _, padding, _ = con.geometry
        return cls(np.ascontiguousarray(folded, np.float32), bias * scale + shift, rows, stride, padding)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """NHWC in, NHWC out."""
        if self.padding:
            pad = (self.padding, self.padding)
            images = np.pad(images, ((0, 0), pad, pad, (0, 0)))
        windows = _windows(images, self.kernel, self.stride)  # N, H, W, C, kh, kw
        count, height, width = windows.shape[:3]
        columns = windows.transpose(0, 1, 2, 4, 5, 3).reshape(count * height * width, -1)
        return (columns @ self.weights + self.bias).reshape(count, height, width, -1)


def _windows(images: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    height = (images.shape[1] - kernel) // stride + 1
    width = (images.shape[2] - kernel) // stride + 1
    view = sliding_window_view(images, (kernel, kernel), axis=(1, 2))
    return view[:, : height * stride : stride, : width * stride : stride]


def _add_zero_extended(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """dlib's add_prev: tensors of different sizes add as if the smaller were padded
    with zeros at its end (a downsampling block's shortcut is one row larger)."""
    if first.shape == second.shape:
        return first + second
    total = np.zeros(np.maximum(first.shape, second.shape), dtype=np.float32)
    total[tuple(slice(0, n) for n in first.shape)] += first
    total[tuple(slice(0, n) for n in second.shape)] += second
    return total


@dataclass(frozen=True)
class _Block:
    """relu(conv-affine-relu-conv-affine(x) + shortcut(x)); the shortcut of a block
    that halves the size is a 2×2 average pool."""

    first: _Convolution
    second: _Convolution
    downsamples: bool

    def __call__(self, images: np.ndarray) -> np.ndarray:
        residual = self.second(np.maximum(self.first(images), 0))
        shortcut = _windows(images, 2, 2).mean(axis=(4, 5)) if self.downsamples else images
        return np.maximum(_add_zero_extended(residual, shortcut), 0)


class _Layers:
    """Takes the layers in order, checking each is the kind the network has there."""

    def __init__(self, layers: list[_Layer]) -> None:
        self.layers = layers
        self.index = 0

    def take(self, *kinds: str) -> list[_Layer]:
        taken = self.layers[self.index : self.index + len(kinds)]
        found = tuple(layer.kind for layer in taken)
        if found != kinds:
            raise ModelError(
                f"the encoder's weights file is not dlib's face-recognition network: "
                f"layer {self.index} is {found} where {kinds} was expected"
            )
        self.index += len(kinds)
        return taken


@dataclass(frozen=True)
class DlibResNet:
    """dlib's 29-layer face-recognition ResNet; call it on N×150×150×3 RGB face chips."""

    means: np.ndarray
    stem: _Convolution
    blocks: tuple[_Block, ...]
    projection: np.ndarray  # (256, 128)

    @classmethod
    def load(cls, path: Path) -> DlibResNet:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ModelError(f"cannot read the encoder's weights: {error}") from error
        try:
            return cls._build(*_read_file(data))
        except (IndexError, ValueError, OverflowError) as error:
            raise ModelError(f"the encoder's weights file is damaged: {path}") from error

    @classmethod
    def _build(cls, means: np.ndarray, layers: list[_Layer]) -> DlibResNet:
        reading = _Layers(layers)
        con, affine, _, _ = reading.take("con", "affine", "relu", "max_pool")
        stem = _Convolution.fold(con, affine)
        blocks = []
        while reading.index < len(layers) - 2:
            con, affine, _, next_con, next_affine = reading.take("con", "affine", "relu", "con", "affine")
            downsamples = con.geometry[2] == 2
            if downsamples:
                reading.take("avg_pool")
            reading.take("add_prev", "relu")
            first, second = _Convolution.fold(con, affine), _Convolution.fold(next_con, next_affine)
            blocks.append(_Block(first, second, downsamples))
        _, fc = reading.take("avg_pool", "fc")
        return cls(means, stem, tuple(blocks), np.ascontiguousarray(fc.parameters.reshape(fc.shape)))

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """N×128 float32 descriptors of N 150×150 RGB uint8 face chips."""
        # dlib's input layer: each channel less its mean, over 256.
        images = (chips.astype(np.float32) - self.means) / np.float32(256)
        images = _windows(np.maximum(self.stem(images), 0), 3, 2).max(axis=(4, 5))
        for block in self.blocks:
            images = block(images)
        return images.mean(axis=(1, 2)) @ self.projection
