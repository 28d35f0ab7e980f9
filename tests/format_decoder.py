#!/usr/bin/python3
"""An independent decoder of the palettize container format v1, written from docs/FORMAT.md alone.

Usage: format_decoder.py CONTAINER.safetensors OUT_DIR
Writes the dense bytes of every palettized tensor NAME to OUT_DIR/NAME.bin (original dtype, row-major,
little-endian) and exits 0; exits 1 with a message on anything it cannot decode.
"""
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F64": (8, "<f8"), "F32": (4, "<f4"), "F16": (2, "<f2"), "BF16": (2, "<u2"), "F8_E4M3": (1, "u1"),
          "F8_E5M2": (1, "u1"), "I64": (8, "<i8"), "I32": (4, "<i4"), "I16": (2, "<i2"), "I8": (1, "i1"),
          "U64": (8, "<u8"), "U32": (4, "<u4"), "U16": (2, "<u2"), "U8": (1, "u1"), "BOOL": (1, "u1")}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        size, np_dtype = DTYPES[entry["dtype"]]
        array = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(entry["shape"])
        tensors[name] = (entry["dtype"], array)
    return metadata, tensors


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(values):
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest, ties to even (finite values)
    return rounded.astype(np.uint16)


def to_f32(dtype, array):
    if dtype == "BF16":
        return bf16_to_f32(array)
    return array.astype(np.float32)


def round_to(dtype, values):
    """float32 values -> stored representation of `dtype` (F32/F16/BF16), rounding to nearest even."""
    values = values.astype(np.float32)
    if dtype == "F32":
        return values
    if dtype == "F16":
        return values.astype(np.float16)
    return f32_to_bf16_bits(values)


def fp8_value(code, exponent_bits, bias):
    mantissa_bits = 7 - exponent_bits
    sign = -1.0 if code & 0x80 else 1.0
    exponent = (code >> mantissa_bits) & ((1 << exponent_bits) - 1)
    mantissa = code & ((1 << mantissa_bits) - 1)
    if exponent_bits == 4 and (code & 0x7F) == 0x7F:
        return float("nan")
    if exponent_bits == 5 and exponent == 31:
        return sign * float("inf") if mantissa == 0 else float("nan")
    if exponent == 0:
        return sign * mantissa / (1 << mantissa_bits) * 2.0 ** (1 - bias)
    return sign * (1 + mantissa / (1 << mantissa_bits)) * 2.0 ** (exponent - bias)


def unpack(packed, n_bits, count):
    bits = np.unpackbits(packed, bitorder="little")[: count * n_bits].reshape(count, n_bits)
    return (bits.astype(np.int64) << np.arange(n_bits, dtype=np.int64)).sum(axis=1)


def dequantized_lut(name, dtype, spec, lut_dtype, codes, tensors):
    scale = tensors[name + ".lut_scale"][1].reshape(-1).astype(np.float32)
    qdtype = spec["lut_qspec"]["dtype"]
    per_lut = codes.reshape(scale.size, -1)
    if qdtype in ("int8", "uint8"):
        zero = tensors[name + ".lut_zero_point"][1].reshape(-1).astype(np.float32)
        real = (per_lut.astype(np.float32) - zero[:, None]) * scale[:, None]
    else:
        exponent_bits, bias = (4, 7) if qdtype == "float8_e4m3fn" else (5, 15)
        table = np.array([fp8_value(c, exponent_bits, bias) for c in range(256)], dtype=np.float32)
        real = table[per_lut.view(np.uint8)] * scale[:, None]
    return to_f32(dtype, round_to(dtype, real.astype(np.float32))).reshape(-1)


def decode(name, entry, tensors):
    dtype, shape, spec = entry["dtype"], entry["shape"], entry["spec"]
    n, cd = spec["n_bits"], spec["cluster_dim"]
    k = 1 << n
    lut_dtype, lut = tensors[name + ".lut"]
    if spec["lut_qspec"] is None:
        flat_lut = to_f32(dtype, lut).reshape(-1)
    else:
        flat_lut = dequantized_lut(name, dtype, spec, lut_dtype, lut.reshape(-1), tensors)
    out_channels = shape[0]
    rest = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    rows = out_channels // cd
    indices = unpack(tensors[name + ".indices"][1], n, rows * rest).reshape(rows, rest)
    granularity = spec["granularity"]
    o_prime = np.arange(rows)[:, None]
    r = np.arange(rest)[None, :]
    if granularity["type"] == "per_tensor":
        block = np.zeros((rows, rest), dtype=np.int64)
    elif granularity["axis"] == 0:
        block = np.broadcast_to((o_prime * cd) // granularity["group_size"], (rows, rest))
    else:
        inner = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        block = np.broadcast_to((r // inner) // granularity["group_size"], (rows, rest))
    weights = np.empty((out_channels, rest), dtype=np.float32)
    for j in range(cd):
        weights[j::cd, :] = flat_lut[(block * k + indices) * cd + j]
    if spec["enable_per_channel_scale"]:
        channel_dtype, channel_scale = tensors[name + ".channel_scale"]
        weights = weights * to_f32(channel_dtype, channel_scale).reshape(-1, 1)
    return round_to(dtype, weights).reshape(shape)


def main():
    metadata, tensors = read_safetensors(sys.argv[1])
    if metadata.get("palettize.version") != "1":
        sys.exit("not a palettize v1 container")
    for name, entry in json.loads(metadata["palettize.tensors"]).items():
        dense = decode(name, entry, tensors)
        with open(os.path.join(sys.argv[2], name + ".bin"), "wb") as f:
            f.write(np.ascontiguousarray(dense).tobytes())


if __name__ == "__main__":
    main()
