"""An independent decoder of the palettize container, written from docs/FORMAT.md alone, checked bit for bit
against `palettize decompress` on containers the CLI writes for every spec feature and dtype.

Run: PALETTIZE_BIN=build/palettize /usr/bin/python3 -m pytest tests/python
"""

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PALETTIZE = os.environ.get("PALETTIZE_BIN", str(REPO / "build" / "palettize"))

# ---- safetensors (FORMAT.md section 1) ----

NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1",
                "BF16": "<u2", "F8_E4M3": "u1", "F8_E5M2": "u1"}  # raw bit patterns for the last three


def read_safetensors(path):
    """Returns (metadata, {name: (dtype, shape, raw numpy array in storage dtype)})."""
    data = Path(path).read_bytes()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_length])
    body = data[8 + header_length:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=NUMPY_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = (info["dtype"], list(info["shape"]), array)
    return metadata, tensors


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype name, numpy array holding the storage bits)}."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, array) in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_checkpoint(path):
    """Single file or sharded index: [(shard path, metadata, tensors)] in shard order."""
    path = Path(path)
    if not path.name.endswith(".index.json"):
        return [(path, *read_safetensors(path))]
    weight_map = json.loads(path.read_text())["weight_map"]
    shards = list(dict.fromkeys(weight_map.values()))
    return [(path.parent / shard, *read_safetensors(path.parent / shard)) for shard in shards]


# ---- number formats ----

def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(values):
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest, ties to even (finite values)
    return rounded.astype(np.uint16)


def storage_to_f32(dtype, array):
    if dtype == "BF16":
        return bf16_bits_to_f32(array)
    return array.astype(np.float32)


def f32_to_storage(dtype, values):
    values = values.astype(np.float32)
    if dtype == "F32":
        return values
    if dtype == "F16":
        return values.astype(np.float16)  # numpy rounds to nearest even
    if dtype == "BF16":
        return f32_to_bf16_bits(values)
    raise ValueError(dtype)


def fp8_value(codes, exponent_bits, mantissa_bits, bias, has_infinity):
    codes = codes.astype(np.int64)
    sign = np.where(codes >> 7, -1.0, 1.0)
    exponent = (codes >> mantissa_bits) & ((1 << exponent_bits) - 1)
    mantissa = codes & ((1 << mantissa_bits) - 1)
    normal = (1 + mantissa / 2.0 ** mantissa_bits) * 2.0 ** (exponent - bias)
    subnormal = mantissa / 2.0 ** mantissa_bits * 2.0 ** (1 - bias)
    value = np.where(exponent == 0, subnormal, normal)
    top = (1 << exponent_bits) - 1
    if has_infinity:  # E5M2: exponent all ones is infinity (mantissa 0) or NaN
        value = np.where(exponent == top, np.where(mantissa == 0, np.inf, np.nan), value)
    else:  # E4M3FN: only S.1111.111 is NaN
        value = np.where((exponent == top) & (mantissa == (1 << mantissa_bits) - 1), np.nan, value)
    return (sign * value).astype(np.float32)


# ---- the container (FORMAT.md sections 2 and 3) ----

def unpack_indices(packed, n_bits, count):
    bits = np.unpackbits(packed, bitorder="little")[: count * n_bits].reshape(count, n_bits).astype(np.int64)
    return (bits << np.arange(n_bits)).sum(axis=1)


def lut_number(spec, shape, cluster_dim, item_rows, rest):
    """LUT b of every index t = o' * rest + r (section 3.2)."""
    o_prime = np.repeat(np.arange(item_rows), rest)
    r = np.tile(np.arange(rest), item_rows)
    granularity = spec["granularity"]
    if granularity["type"] == "per_tensor":
        return np.zeros(item_rows * rest, dtype=np.int64)
    group = granularity["group_size"]
    if granularity["axis"] == 0:
        return (o_prime * cluster_dim) // group
    inner = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return (r // inner) // group


def lut_entries(name, info, parts):
    """Flat float32 LUT entries in the original dtype's values, (NB * K * cd,)."""
    dtype, spec = info["dtype"], info["spec"]
    _, _, lut = parts[name + ".lut"]
    qspec = spec["lut_qspec"]
    if qspec is None:
        return storage_to_f32(dtype, lut).reshape(-1)
    entries_per_lut = (1 << spec["n_bits"]) * spec["cluster_dim"]
    scale = np.repeat(parts[name + ".lut_scale"][2].reshape(-1).astype(np.float32), entries_per_lut)
    codes = lut.reshape(-1)
    if qspec["dtype"] in ("int8", "uint8"):
        zero_point = np.repeat(parts[name + ".lut_zero_point"][2].reshape(-1).astype(np.int64), entries_per_lut)
        value = (codes.astype(np.int64) - zero_point).astype(np.float32) * scale
    elif qspec["dtype"] == "float8_e4m3fn":
        value = fp8_value(codes, 4, 3, 7, has_infinity=False) * scale
    else:
        value = fp8_value(codes, 5, 2, 15, has_infinity=True) * scale
    return storage_to_f32(dtype, f32_to_storage(dtype, value))  # rounded to the original dtype


def decode_tensor(name, info, parts):
    """The dense tensor in its storage form (section 3.4)."""
    dtype, shape, spec = info["dtype"], info["shape"], info["spec"]
    n_bits, cluster_dim = spec["n_bits"], spec["cluster_dim"]
    outputs = shape[0]
    rest = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    item_rows = outputs // cluster_dim
    assert info["index_shape"] == [item_rows] + shape[1:]
    indices = unpack_indices(parts[name + ".indices"][2], n_bits, item_rows * rest)
    luts = lut_number(spec, shape, cluster_dim, item_rows, rest)
    entries = lut_entries(name, info, parts)
    k = 1 << n_bits
    dense = np.empty((outputs, rest), dtype=np.float32)
    for j in range(cluster_dim):
        values = entries[(luts * k + indices) * cluster_dim + j].reshape(item_rows, rest)
        dense[j::cluster_dim, :] = values  # row o = o' * cd + j
    if spec["enable_per_channel_scale"]:
        _, _, channel_scale = parts[name + ".channel_scale"]
        dense = dense * storage_to_f32(dtype, channel_scale).reshape(outputs, 1)  # one float32 multiply
    return f32_to_storage(dtype, dense).reshape(shape)


def decode_container(path):
    """{name: (dtype, storage array)} of every tensor the container represents."""
    result = {}
    for _, metadata, tensors in read_checkpoint(path):
        assert metadata.get("palettize.version", "1") == "1"
        palettized = json.loads(metadata.get("palettize.tensors", "{}"))
        part_names = set()
        for name, info in palettized.items():
            prefix = name + "."
            part_names |= {stored for stored in tensors if stored.startswith(prefix) and stored[len(prefix):] in
                           ("lut", "indices", "lut_scale", "lut_zero_point", "channel_scale")}
            result[name] = (info["dtype"], decode_tensor(name, info, tensors))
        for name, (dtype, _, array) in tensors.items():
            if name not in part_names:
                result[name] = (dtype, array)
    return result


# ---- fixtures and the comparison with the CLI ----

def random_weights(rng, dtype, shape):
    values = rng.normal(0, 0.05, size=shape).astype(np.float32)
    values.reshape(-1)[::97] *= 8  # a few outliers
    return dtype, f32_to_storage(dtype, values)


LUT = {"int8": {"dtype": "int8", "qscheme": "symmetric"},
       "int8_clip": {"dtype": "int8", "qscheme": "symmetric_with_clipping"},
       "uint8": {"dtype": "uint8", "qscheme": "asymmetric"},
       "e4m3": {"dtype": "float8_e4m3fn", "qscheme": "symmetric"},
       "e5m2": {"dtype": "float8_e5m2", "qscheme": "symmetric"}}


def grouped(axis, size):
    return {"type": "per_grouped_channel", "axis": axis, "group_size": size}


SPEC_CASES = (
    [(f"n{n}", [16, 40], {"n_bits": n}) for n in (1, 2, 3, 4, 6, 8)]
    + [("g0", [16, 24], {"n_bits": 3, "granularity": grouped(0, 4)}),
       ("g1", [12, 32], {"n_bits": 4, "granularity": grouped(1, 8)}),
       ("conv_g1", [8, 4, 3, 3], {"n_bits": 2, "granularity": grouped(1, 2)}),
       ("conv_g0_cd2", [8, 4, 3, 3], {"n_bits": 3, "cluster_dim": 2, "granularity": grouped(0, 4)}),
       ("cd4", [16, 12], {"n_bits": 2, "cluster_dim": 4}),
       ("cd2_g1", [8, 16], {"n_bits": 2, "cluster_dim": 2, "granularity": grouped(1, 8)}),
       ("pcs", [16, 24], {"n_bits": 4, "enable_per_channel_scale": True}),
       ("pcs_g1_conv", [8, 4, 3, 3], {"n_bits": 3, "enable_per_channel_scale": True, "granularity": grouped(1, 2)})]
    + [(f"lut_{label}", [16, 24], {"n_bits": 4, "lut_qspec": qspec, "granularity": grouped(0, 4)})
       for label, qspec in LUT.items()]
    + [("lut_int8_pcs_cd2", [16, 24], {"n_bits": 3, "cluster_dim": 2, "enable_per_channel_scale": True,
                                        "lut_qspec": {"dtype": "int8", "qscheme": "asymmetric"}})]
)


def model_and_config(seed):
    rng = np.random.default_rng(seed)
    tensors, rules = {}, []
    for dtype in ("F32", "F16", "BF16"):
        for label, shape, spec in SPEC_CASES:
            name = f"{dtype.lower()}_{label}"
            tensors[name] = random_weights(rng, dtype, shape)
            rules.append({"pattern": name, "spec": spec})
    tensors["bias"] = random_weights(rng, "F32", [24])
    tensors["steps"] = ("I64", np.arange(6, dtype=np.int64).reshape(2, 3))
    config = {"global": None, "min_elements": 0, "rules": rules}
    return tensors, config


def palettize(*args):
    run = subprocess.run([PALETTIZE, *map(str, args)], capture_output=True, text=True)
    assert run.returncode == 0, f"palettize {' '.join(map(str, args))}: exit {run.returncode}\n{run.stderr}"
    return run


def assert_same_as_decompress(container, dense_path):
    decoded = decode_container(container)
    dense = {}
    for _, _, tensors in read_checkpoint(dense_path):
        dense.update(tensors)
    assert decoded.keys() == dense.keys()
    for name, (dtype, array) in decoded.items():
        dense_dtype, _, dense_array = dense[name]
        assert dtype == dense_dtype, name
        assert array.shape == dense_array.shape, name
        assert array.tobytes() == dense_array.tobytes(), f"{name}: the independent decoder differs"


@pytest.fixture(scope="module")
def binary():
    if not Path(PALETTIZE).exists():
        pytest.fail(f"palettize binary not found at {PALETTIZE}; build it or set PALETTIZE_BIN")
    return PALETTIZE


def test_single_file_container_decodes_like_decompress(tmp_path, binary):
    tensors, config = model_and_config(seed=1)
    write_safetensors(tmp_path / "m.safetensors", tensors, {"format": "pt"})
    (tmp_path / "c.json").write_text(json.dumps(config))
    palettize("compress", tmp_path / "m.safetensors", tmp_path / "p.safetensors", "--config", tmp_path / "c.json",
              "--quiet")
    palettize("decompress", tmp_path / "p.safetensors", tmp_path / "d.safetensors")
    assert_same_as_decompress(tmp_path / "p.safetensors", tmp_path / "d.safetensors")
    # Pass-through tensors are byte-identical to the input.
    _, original = read_safetensors(tmp_path / "m.safetensors")
    decoded = decode_container(tmp_path / "p.safetensors")
    for name in ("bias", "steps"):
        assert decoded[name][1].tobytes() == original[name][2].tobytes()


def test_part_layout_follows_the_format_document(tmp_path, binary):
    tensors, config = model_and_config(seed=2)
    write_safetensors(tmp_path / "m.safetensors", tensors)
    (tmp_path / "c.json").write_text(json.dumps(config))
    palettize("compress", tmp_path / "m.safetensors", tmp_path / "p.safetensors", "--config", tmp_path / "c.json",
              "--quiet")
    metadata, stored = read_safetensors(tmp_path / "p.safetensors")
    assert metadata["palettize.version"] == "1"
    palettized = json.loads(metadata["palettize.tensors"])
    assert set(palettized) == {rule["pattern"] for rule in config["rules"]}
    lut_dtypes = {"int8": "I8", "uint8": "U8", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2"}
    for name, info in palettized.items():
        spec, shape = info["spec"], info["shape"]
        n_bits, cd = spec["n_bits"], spec["cluster_dim"]
        nb = [1] * len(shape)
        if spec["granularity"]["type"] == "per_grouped_channel":
            axis = spec["granularity"]["axis"]
            nb[axis] = shape[axis] // spec["granularity"]["group_size"]
        qspec = spec["lut_qspec"]
        expected = {name + ".lut": (lut_dtypes[qspec["dtype"]] if qspec else info["dtype"], nb + [1 << n_bits, cd]),
                    name + ".indices": ("U8", [-(-np.prod(info["index_shape"]) * n_bits // 8)])}
        if qspec:
            expected[name + ".lut_scale"] = ("F32", nb + [1, 1])
            if qspec["dtype"] in ("int8", "uint8"):
                expected[name + ".lut_zero_point"] = (lut_dtypes[qspec["dtype"]], nb + [1, 1])
        if spec["enable_per_channel_scale"]:
            expected[name + ".channel_scale"] = (info["dtype"], [shape[0]] + [1] * (len(shape) - 1))
        actual = {part: (dtype, shape_) for part, (dtype, shape_, _) in stored.items() if part.startswith(name + ".")}
        assert actual == expected, name
        assert name not in stored


def test_sharded_container_decodes_like_decompress(tmp_path, binary):
    tensors, config = model_and_config(seed=3)
    names = list(tensors)
    shards = {f"model-0000{i + 1}-of-00003.safetensors": names[i::3] for i in range(3)}
    for shard, shard_names in shards.items():
        write_safetensors(tmp_path / shard, {name: tensors[name] for name in shard_names})
    weight_map = {name: shard for shard, shard_names in shards.items() for name in shard_names}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (tmp_path / "c.yaml").write_text(json.dumps(config))  # JSON is valid YAML
    palettize("compress", tmp_path / "model.safetensors.index.json", tmp_path / "p.safetensors.index.json",
              "--config", tmp_path / "c.yaml", "--quiet")
    palettize("decompress", tmp_path / "p.safetensors.index.json", tmp_path / "d.safetensors.index.json")
    assert_same_as_decompress(tmp_path / "p.safetensors.index.json", tmp_path / "d.safetensors.index.json")
    assert len(read_checkpoint(tmp_path / "p.safetensors.index.json")) == 3


def test_presets_decode_like_decompress(tmp_path, binary):
    rng = np.random.default_rng(4)
    tensors = {"a": random_weights(rng, "F16", [64, 48]), "b": random_weights(rng, "BF16", [32, 16, 3, 3])}
    write_safetensors(tmp_path / "m.safetensors", tensors)
    for preset in ("w4", "w6", "w8"):
        palettize("compress", tmp_path / "m.safetensors", tmp_path / f"{preset}.safetensors", "--preset", preset,
                  "--quiet")
        palettize("decompress", tmp_path / f"{preset}.safetensors", tmp_path / f"{preset}.dense.safetensors")
        assert_same_as_decompress(tmp_path / f"{preset}.safetensors", tmp_path / f"{preset}.dense.safetensors")
