"""Shared helpers of the Python module's tests (test_module*.py): the import of `palettize`, bfloat16 bit
conversions, and numpy reference implementations of decode and index packing."""
import importlib.util
import json
import os
import struct
import sys

import numpy as np

# The module comes from PYTHONPATH (scripts/test runs pytest with PYTHONPATH=build/python); without it, from
# $PALETTIZE_BINARY_DIR/python, then build/python.
if importlib.util.find_spec("palettize") is None:
    _ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.join(os.environ.get("PALETTIZE_BINARY_DIR", os.path.join(_ROOT, "build")), "python"))

import palettize as pz  # noqa: E402,F401

def f32_to_bf16_bits(values):
    """float32 -> bfloat16 bit patterns, round to nearest even (finite values)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def as_f32(array, dtype):
    return bf16_bits_to_f32(array) if dtype == "bfloat16" else np.asarray(array, dtype=np.float32)


def from_f32(values, dtype):
    if dtype == "bfloat16":
        return f32_to_bf16_bits(values)
    return np.asarray(values, dtype=np.float32).astype(dtype)


def decode_by_hand(result):
    """Core ML constexpr_lut_to_dense, written with numpy from the result's public arrays only."""
    lut = as_f32(result.lut, result.dtype)  # [NB_0, ..., NB_{R-1}, 2^n, cd]
    indices = result.indices
    blocks = lut.shape[:-2]
    cd = lut.shape[-1]
    grid = np.indices(indices.shape)
    block = tuple(grid[axis] // (indices.shape[axis] // blocks[axis]) for axis in range(indices.ndim))
    vectors = lut[block + (indices,)]  # indices.shape + (cd,)
    # vector j of index (o', rest) is row o'*cd + j (Core ML vector_axis = 0)
    dense = np.moveaxis(vectors, -1, 1).reshape((indices.shape[0] * cd,) + indices.shape[1:])
    if result.channel_scale is not None:
        dense = dense * as_f32(result.channel_scale, result.dtype)
    return from_f32(dense, result.dtype)


def pack_by_hand(indices, n_bits):
    bits = ((indices.reshape(-1, 1).astype(np.uint16) >> np.arange(n_bits)) & 1).astype(np.uint8).ravel()
    return np.packbits(bits, bitorder="little")


def weight(shape, dtype="float32", seed=0):
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return from_f32(values, dtype)


def write_safetensors(path, tensors):
    """tensors: name -> (safetensors dtype name, array)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
