"""The Python module gives byte-identical results to the palettize CLI for the same inputs: container parts
(LUT, packed indices, scales, zero points) and decompressed weights."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

from module_helpers import pz, weight, write_safetensors

# ---------------------------------------------------------------- identical to the CLI

# The CLI of the build this module comes from: <build>/python/palettize*.so -> <build>/palettize.
CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(pz.__file__))), "palettize")
ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "U8": np.uint8, "I8": np.int8,
             "F8_E4M3": np.uint8, "F8_E5M2": np.uint8}
ST_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def read_safetensors(path):
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    header.pop("__metadata__", None)
    data = raw[8 + size:]
    return {name: np.frombuffer(data[h["data_offsets"][0]:h["data_offsets"][1]], dtype=ST_DTYPES[h["dtype"]])
            .reshape(h["shape"]) for name, h in header.items()}


def run_cli(*args):
    run = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert run.returncode == 0, f"palettize {' '.join(map(str, args))}: exit {run.returncode}\n{run.stderr}"
    return run.stdout


GROUPED_AXIS1 = pz.PerGroupedChannelGranularity(axis=1, group_size=4)
GROUPED_16 = pz.PerGroupedChannelGranularity(group_size=16)
CLI_CASES = [
    ("float32", (64, 32), pz.PalettizationSpec(n_bits=3)),
    ("float16", (64, 32), pz.presets.w4()),
    ("bfloat16", (32, 16, 3, 3),
     pz.PalettizationSpec(n_bits=2, cluster_dim=2, enable_per_channel_scale=True, granularity=GROUPED_AXIS1)),
    ("float32", (64, 32),
     pz.PalettizationSpec(n_bits=6, lut_qspec=pz.QuantizationSpec(dtype="int8", qscheme="asymmetric"),
                          granularity=GROUPED_16)),
    ("float16", (48, 32),
     pz.PalettizationSpec(n_bits=4, lut_qspec=pz.QuantizationSpec(dtype="float8_e4m3fn"),
                          enable_per_channel_scale=True)),
]


@pytest.mark.skipif(not os.path.exists(CLI), reason="the palettize CLI is not built next to this module")
@pytest.mark.parametrize("with_sensitivities", [False, True])
@pytest.mark.parametrize("dtype, shape, spec", CLI_CASES)
def test_results_are_identical_to_the_cli(tmp_path, dtype, shape, spec, with_sensitivities):
    w = weight(shape, dtype, seed=11)
    write_safetensors(tmp_path / "in.safetensors", {"w": (ST_NAMES[dtype], w)})
    sensitivities = None
    compress_args = ["compress", tmp_path / "in.safetensors", tmp_path / "out.safetensors", "--spec", spec.to_json(),
                     "--quiet", "--strict", "--seed", "3"]
    if with_sensitivities:
        sensitivities = np.random.default_rng(2).uniform(0.01, 1.0, shape).astype(np.float32)
        write_safetensors(tmp_path / "sens.safetensors", {"w": ("F32", sensitivities)})
        compress_args += ["--sensitivities", tmp_path / "sens.safetensors"]
    run_cli(*compress_args)
    result = pz.palettize(w, spec, sensitivities=sensitivities, seed=3,
                          dtype="bfloat16" if dtype == "bfloat16" else None)
    parts = read_safetensors(tmp_path / "out.safetensors")
    stored_lut = result.lut if result.quantized_lut is None else result.quantized_lut
    np.testing.assert_array_equal(parts["w.lut"].view(np.uint8), stored_lut.view(np.uint8))
    np.testing.assert_array_equal(parts["w.indices"], result.packed_indices)
    for part, mine in (("lut_scale", result.lut_scale), ("channel_scale", result.channel_scale)):
        assert (f"w.{part}" in parts) == (mine is not None)
        if mine is not None:
            np.testing.assert_array_equal(parts[f"w.{part}"], mine)
    assert ("w.lut_zero_point" in parts) == (result.lut_zero_point is not None)
    if result.lut_zero_point is not None:
        np.testing.assert_array_equal(parts["w.lut_zero_point"].astype(np.int32), result.lut_zero_point)
    run_cli("decompress", tmp_path / "out.safetensors", tmp_path / "dense.safetensors")
    np.testing.assert_array_equal(read_safetensors(tmp_path / "dense.safetensors")["w"], result.decode())
