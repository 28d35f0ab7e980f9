"""Tests of the Python module `palettize`: spec vocabulary and validation, dict forms, the reference's
worked examples (coreai_opt_semantics.md §3.1, §3.5, §3.7, §3.8), Core ML layouts, decode against a numpy
reconstruction from lut/indices, the bfloat16 path, input handling, errors and the released GIL."""
import gc
import importlib.util
import json
import os
import pickle
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

# The module comes from PYTHONPATH (the README runs pytest with PYTHONPATH=build/python); without it, from
# $PALETTIZE_BINARY_DIR/python, then build/python.
if importlib.util.find_spec("palettize") is None:
    _ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.join(os.environ.get("PALETTIZE_BINARY_DIR", os.path.join(_ROOT, "build")), "python"))

import palettize as pz  # noqa: E402


# ---------------------------------------------------------------- helpers

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


int8_sym = pz.QuantizationSpec(dtype="int8", qscheme="symmetric")


# ---------------------------------------------------------------- module and spec objects

def test_module_imports_with_a_version():
    assert isinstance(pz.__version__, str) and pz.__version__.count(".") == 2


def test_spec_defaults_match_the_reference():
    spec = pz.PalettizationSpec()
    assert spec.n_bits == 4
    assert spec.lut_qspec is None
    assert spec.granularity == pz.PerTensorGranularity()
    assert spec.cluster_dim == 1
    assert spec.enable_per_channel_scale is False
    assert spec == pz.default_weight_palettization_spec()
    assert repr(spec) == ("PalettizationSpec(n_bits=4, lut_qspec=None, granularity=PerTensorGranularity(), "
                          "cluster_dim=1, enable_per_channel_scale=False)")


def test_spec_fields_and_repr():
    spec = pz.PalettizationSpec(n_bits=6, lut_qspec=pz.QuantizationSpec(dtype="uint8", qscheme="asymmetric"),
                                granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=8),
                                cluster_dim=2, enable_per_channel_scale=True)
    assert spec.n_bits == 6
    assert spec.lut_qspec == pz.QuantizationSpec(dtype="uint8", qscheme="asymmetric", qformulation="zp")
    assert spec.lut_qspec.dtype == "uint8" and spec.lut_qspec.qscheme == "asymmetric"
    assert spec.lut_qspec.granularity == {"type": "per_tensor"}
    assert (spec.lut_qspec.quant_min, spec.lut_qspec.quant_max) == (0, 255)
    assert spec.granularity.axis == 1 and spec.granularity.group_size == 8
    assert spec.cluster_dim == 2 and spec.enable_per_channel_scale is True
    assert "PerGroupedChannelGranularity(axis=1, group_size=8)" in repr(spec)
    assert "QuantizationSpec(dtype='uint8', qscheme='asymmetric', qformulation='zp')" in repr(spec)


def test_specs_are_immutable_and_hashable():
    spec = pz.PalettizationSpec(n_bits=2)
    with pytest.raises(AttributeError):
        spec.n_bits = 3
    with pytest.raises(AttributeError):
        pz.PerGroupedChannelGranularity(group_size=4).group_size = 8
    assert hash(spec) == hash(pz.PalettizationSpec(n_bits=2))
    assert len({spec, pz.PalettizationSpec(n_bits=2), pz.PalettizationSpec()}) == 2
    assert spec != pz.PalettizationSpec()
    assert spec != "not a spec"


def test_granularity_accepts_a_dict_with_type():
    spec = pz.PalettizationSpec(granularity={"type": "per_grouped_channel", "axis": 1, "group_size": 8})
    assert spec.granularity == pz.PerGroupedChannelGranularity(axis=1, group_size=8)
    assert pz.PerGroupedChannelGranularity(group_size=4).axis is None
    assert pz.PerTensorGranularity().axis is None


def test_quantization_spec_accepts_numpy_dtypes_and_the_fp8_alias():
    assert pz.QuantizationSpec(dtype=np.uint8).dtype == "uint8"
    assert pz.QuantizationSpec(dtype="float8_e4m3").dtype == "float8_e4m3fn"
    assert pz.QuantizationSpec(dtype="int4").dtype == "int4"  # a valid QuantizationSpec, refused for LUTs


# ---------------------------------------------------------------- validation: ValueError, engine messages

@pytest.mark.parametrize("kwargs, message", [
    (dict(n_bits=5), "n_bits must be one of {1, 2, 3, 4, 6, 8}, got 5"),
    (dict(n_bits=0), "n_bits must be one of {1, 2, 3, 4, 6, 8}, got 0"),
    (dict(n_bits=-1), "n_bits must be one of {1, 2, 3, 4, 6, 8}, got -1"),
    (dict(cluster_dim=0), "cluster_dim must be a positive integer, got 0"),
    (dict(cluster_dim=-1), "cluster_dim must be a positive integer, got -1"),
    (dict(enable_per_channel_scale="not_a_bool"), "enable_per_channel_scale must be a boolean"),
    (dict(n_bits="4"), "n_bits must be an integer"),
    (dict(lut_qspec=pz.QuantizationSpec(dtype="int4")),
     "lut_qspec.dtype must be one of {int8, uint8, float8_e4m3fn, float8_e5m2}, got int4"),
    (dict(lut_qspec=pz.QuantizationSpec(granularity={"type": "per_channel", "axis": 0})),
     "lut_qspec.granularity must be PerTensorGranularity, got PerChannelGranularity"),
    (dict(lut_qspec=pz.QuantizationSpec(qformulation="minval")),
     "lut_qspec.qformulation=MINVAL is not supported for palettization. Use lut_qspec.qformulation=ZP instead."),
    (dict(granularity={"type": "per_grouped_channel", "group_size": 0}), "group_size must be >= 1, got 0"),
    (dict(granularity={"type": "per_grouped_channel", "axis": 2, "group_size": 4}), "axis must be 0, 1 or unset"),
    (dict(granularity={"axis": 0, "group_size": 4}), "Missing type key in dict for PalettizationGranularity"),
    (dict(granularity={"type": "per_block"}), "No object is registered with key: per_block"),
    (dict(granularity={"type": "per_tensor", "group_size": 4}), "Unknown field 'group_size'"),
])
def test_invalid_specs_raise_value_error_with_the_engine_message(kwargs, message):
    with pytest.raises(ValueError) as error:
        pz.PalettizationSpec(**kwargs)
    assert message in str(error.value)
    assert isinstance(error.value, pz.Error)


def test_fp8_needs_the_symmetric_scheme():
    with pytest.raises(ValueError, match="requires symmetric quantization scheme"):
        pz.QuantizationSpec(dtype="float8_e4m3fn", qscheme="asymmetric")
    for dtype in ("int8", "uint8", "float8_e4m3fn", "float8_e5m2"):
        pz.PalettizationSpec(lut_qspec=pz.QuantizationSpec(dtype=dtype, qscheme="symmetric"))


def test_unknown_quantization_names_are_rejected():
    with pytest.raises(ValueError, match="Unsupported dtype: int3"):
        pz.QuantizationSpec(dtype="int3")
    with pytest.raises(ValueError, match="Unsupported qscheme: sym"):
        pz.QuantizationSpec(qscheme="sym")


def test_grouped_granularity_rules():
    with pytest.raises(ValueError, match="Missing required field 'group_size'"):
        pz.PerGroupedChannelGranularity(axis=0)
    with pytest.raises(ValueError, match="group_size must be >= 1, got -3"):
        pz.PerGroupedChannelGranularity(group_size=-3)
    with pytest.raises(ValueError, match="axis must be 0, 1 or unset, got 2"):
        pz.PerGroupedChannelGranularity(axis=2, group_size=4)


def test_per_channel_scale_with_vectors_is_a_valid_spec():
    assert pz.PalettizationSpec(cluster_dim=2, enable_per_channel_scale=True).cluster_dim == 2


# ---------------------------------------------------------------- dict forms and presets

def test_to_dict_is_the_reference_dict_form():
    spec = pz.PalettizationSpec(n_bits=2, lut_qspec=int8_sym,
                                granularity=pz.PerGroupedChannelGranularity(axis=0, group_size=16))
    assert spec.to_dict() == {
        "n_bits": 2,
        "lut_qspec": {"dtype": "int8", "qscheme": "symmetric", "qformulation": "zp",
                      "granularity": {"type": "per_tensor"}},
        "granularity": {"type": "per_grouped_channel", "axis": 0, "group_size": 16},
        "cluster_dim": 1,
        "enable_per_channel_scale": False,
    }
    assert list(spec.to_dict()) == ["n_bits", "lut_qspec", "granularity", "cluster_dim", "enable_per_channel_scale"]
    assert pz.PalettizationSpec().to_dict()["granularity"] == {"type": "per_tensor"}


@pytest.mark.parametrize("spec", [
    pz.PalettizationSpec(),
    pz.PalettizationSpec(n_bits=8, cluster_dim=4, enable_per_channel_scale=True),
    pz.PalettizationSpec(n_bits=3, granularity=pz.PerGroupedChannelGranularity(group_size=7)),
    pz.PalettizationSpec(lut_qspec=pz.QuantizationSpec(dtype="float8_e5m2"),
                         granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=2)),
    pz.PalettizationSpec(lut_qspec=pz.QuantizationSpec(dtype="int8", qscheme="symmetric_with_clipping")),
])
def test_round_trips(spec):
    assert pz.PalettizationSpec.from_dict(spec.to_dict()) == spec
    assert pz.PalettizationSpec(**spec.to_dict()) == spec  # the reference's PalettizationSpec(**model_dump())
    assert pz.PalettizationSpec.from_json(spec.to_json()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    if spec.lut_qspec is not None:
        assert pz.QuantizationSpec.from_dict(spec.lut_qspec.to_dict()) == spec.lut_qspec
    granularity_type = type(spec.granularity)
    assert granularity_type.from_dict(spec.granularity.to_dict()) == spec.granularity


def test_from_dict_defaults_and_rejects():
    assert pz.PalettizationSpec.from_dict({}) == pz.PalettizationSpec()
    assert pz.PalettizationSpec.from_dict({"n_bits": 2}) == pz.PalettizationSpec(n_bits=2)
    with pytest.raises(ValueError, match="Unknown field 'nbits'"):
        pz.PalettizationSpec.from_dict({"nbits": 2})
    with pytest.raises(ValueError, match="must be an object"):
        pz.PalettizationSpec.from_dict([1, 2])
    with pytest.raises(ValueError, match="cannot be given as a Python object"):
        pz.PalettizationSpec.from_dict({"n_bits": object()})
    with pytest.raises(ValueError, match="expected a per_tensor granularity dict"):
        pz.PerTensorGranularity.from_dict({"type": "per_grouped_channel", "group_size": 2})


def test_from_dict_takes_numpy_scalars():
    assert pz.PalettizationSpec.from_dict({"n_bits": np.int64(2)}) == pz.PalettizationSpec(n_bits=2)


def test_presets():
    grouped = pz.PerGroupedChannelGranularity(axis=0, group_size=16)
    assert pz.presets.w4() == pz.PalettizationSpec(n_bits=4, granularity=grouped)
    assert pz.presets.w6() == pz.PalettizationSpec(n_bits=6, granularity=grouped)
    assert pz.presets.w8() == pz.PalettizationSpec(n_bits=8)
    assert pz.presets.default() == pz.default_weight_palettization_spec()
    assert pz.presets.w4(group_size=32).granularity.group_size == 32
    assert pz.presets.w6(axis=1).granularity.axis == 1
    assert pz.preset("w4") == pz.presets.w4()
    with pytest.raises(ValueError, match="Available presets: default, w4, w6, w8"):
        pz.preset("w5")
    with pytest.raises(ValueError, match="group_size must be >= 1"):
        pz.presets.w4(group_size=0)


# ---------------------------------------------------------------- the reference's worked examples

LUT_QUANT_EXAMPLES = [
    # §3.8: LUT [1,2,3,4] from weight [[1,2],[3,4]], n=2: dequantized LUT, codes, scale, zero point
    ("int8", "symmetric", [1.0039, 2.0078, 3.0118, 3.9843], [32, 64, 96, 127], 4 / 127.5, 0),
    ("int8", "asymmetric", [1.0039, 1.9922, 2.9961, 4.0], [-64, -1, 63, 127], 4 / 255, -128),
    ("uint8", "symmetric", [1.0039, 2.0078, 3.0118, 3.9843], [160, 192, 224, 255], 4 / 127.5, 128),
    ("uint8", "asymmetric", [1.0039, 1.9922, 2.9961, 4.0], [64, 127, 191, 255], 4 / 255, 0),
]


@pytest.mark.parametrize("dtype, qscheme, lut, codes, scale, zero_point", LUT_QUANT_EXAMPLES)
def test_lut_quantization_worked_values(dtype, qscheme, lut, codes, scale, zero_point):
    spec = pz.PalettizationSpec(n_bits=2, lut_qspec=pz.QuantizationSpec(dtype=dtype, qscheme=qscheme))
    result = pz.palettize(np.array([[1, 2], [3, 4]], dtype=np.float32), spec)
    order = np.argsort(result.lut.ravel())
    np.testing.assert_allclose(result.lut.ravel()[order], lut, atol=1e-4)
    assert result.quantized_lut.dtype == np.dtype(dtype)
    assert result.quantized_lut.shape == (1, 1, 4, 1)
    assert result.quantized_lut.ravel()[order].tolist() == codes
    assert result.lut_scale.shape == (1, 1, 1, 1) and result.lut_scale.dtype == np.float32
    assert result.lut_scale.item() == pytest.approx(scale, rel=1e-6)
    assert result.lut_zero_point.shape == (1, 1, 1, 1) and result.lut_zero_point.dtype == np.int32
    assert result.lut_zero_point.item() == zero_point
    np.testing.assert_allclose(np.unique(result.decode()), lut, atol=1e-4)


def test_fp8_lut_has_no_zero_point():
    spec = pz.PalettizationSpec(n_bits=2, lut_qspec=pz.QuantizationSpec(dtype="float8_e4m3fn"))
    result = pz.palettize(np.array([[1, 2], [3, 4]], dtype=np.float32), spec)
    assert result.lut_zero_point is None
    assert result.quantized_lut.dtype == np.uint8  # FP8 bit patterns
    assert result.lut_scale.item() == pytest.approx(4 / 448, rel=1e-6)


def test_per_channel_scale_example():
    w = np.array([[1, 2, -3, .5], [-5, 1, 2, -1], [.1, -.2, .15, 0]], dtype=np.float32)
    result = pz.palettize(w, pz.PalettizationSpec(enable_per_channel_scale=True))
    assert result.channel_scale.shape == (3, 1)
    np.testing.assert_array_equal(result.channel_scale, np.array([[3], [5], [0.2]], dtype=np.float32))


def test_per_channel_scale_of_a_zero_weight_is_one():
    result = pz.palettize(np.zeros((2, 3, 2, 2), dtype=np.float32), pz.PalettizationSpec(enable_per_channel_scale=True))
    assert result.channel_scale.shape == (2, 1, 1, 1)
    np.testing.assert_array_equal(result.channel_scale, np.ones((2, 1, 1, 1), dtype=np.float32))
    np.testing.assert_array_equal(result.decode(), np.zeros((2, 3, 2, 2), dtype=np.float32))


def test_fewer_distinct_values_pad_with_the_last_centroid():
    w = np.array([[1, 1, 2], [2, 1, 2]], dtype=np.float32)
    result = pz.palettize(w, pz.PalettizationSpec(n_bits=2))
    assert result.lut.ravel().tolist() == [1.0, 2.0, 2.0, 2.0]
    assert set(result.indices.ravel().tolist()) <= {0, 1}
    np.testing.assert_array_equal(result.decode(), w)


# ---------------------------------------------------------------- layouts

@pytest.mark.parametrize("shape, spec, lut_shape, index_shape", [
    ((2, 3), pz.PalettizationSpec(n_bits=2), (1, 1, 4, 1), (2, 3)),
    ((32, 16), pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(group_size=8)), (4, 1, 16, 1), (32, 16)),
    ((32, 16), pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=8)),
     (1, 2, 16, 1), (32, 16)),
    ((8, 4, 3, 3), pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(axis=0, group_size=4)),
     (2, 1, 1, 1, 16, 1), (8, 4, 3, 3)),
    ((8, 4, 3, 3), pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=2)),
     (1, 2, 1, 1, 16, 1), (8, 4, 3, 3)),
    ((6, 8), pz.PalettizationSpec(n_bits=2, cluster_dim=2), (1, 1, 4, 2), (3, 8)),
    ((12, 16), pz.PalettizationSpec(n_bits=2, cluster_dim=2, granularity=pz.PerGroupedChannelGranularity(group_size=4)),
     (3, 1, 4, 2), (6, 16)),
    ((12, 16), pz.PalettizationSpec(n_bits=2, cluster_dim=4,
                                    granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=4)),
     (1, 4, 4, 4), (3, 16)),
    ((10,), pz.PalettizationSpec(n_bits=1), (1, 2, 1), (10,)),
])
def test_core_ml_layout(shape, spec, lut_shape, index_shape):
    result = pz.palettize(weight(shape), spec)
    assert result.lut.shape == lut_shape and result.lut_shape == lut_shape
    assert result.indices.shape == index_shape and result.index_shape == index_shape
    assert result.indices.dtype == np.uint8
    assert result.shape == shape
    assert result.num_luts == int(np.prod(lut_shape[:-2]))
    assert int(result.indices.max()) < 2 ** spec.n_bits
    layout = pz.palettized_layout(shape, spec)
    assert layout["lut_shape"] == lut_shape and layout["index_shape"] == index_shape
    assert layout["packed_index_bytes"] == result.packed_indices.size
    assert result.channel_scale is None and result.lut_scale is None
    assert result.lut_zero_point is None and result.quantized_lut is None


def test_spec_as_applied_resolves_the_axis():
    spec = pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(group_size=2))
    result = pz.palettize(weight((4, 4)), spec)
    assert result.spec.granularity == pz.PerGroupedChannelGranularity(axis=0, group_size=2)


def test_spec_may_be_a_preset_name_or_a_dict():
    w = weight((32, 8))
    by_name = pz.palettize(w, "w4")
    by_dict = pz.palettize(w, pz.presets.w4().to_dict())
    assert by_name.spec == by_dict.spec == pz.presets.w4()
    np.testing.assert_array_equal(by_name.indices, by_dict.indices)
    assert pz.palettize(w).spec == pz.PalettizationSpec()


# ---------------------------------------------------------------- decode equals the numpy reconstruction

DECODE_CASES = [
    ((16, 8), pz.PalettizationSpec(n_bits=3)),
    ((16, 8), pz.PalettizationSpec(n_bits=2, granularity=pz.PerGroupedChannelGranularity(group_size=4))),
    ((16, 8), pz.PalettizationSpec(n_bits=4, granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=2),
                                   enable_per_channel_scale=True)),
    ((12, 6), pz.PalettizationSpec(n_bits=2, cluster_dim=3)),
    ((12, 6), pz.PalettizationSpec(n_bits=2, cluster_dim=2, enable_per_channel_scale=True,
                                   granularity=pz.PerGroupedChannelGranularity(group_size=4))),
    ((8, 4, 3, 3), pz.PalettizationSpec(n_bits=6, granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=2))),
    ((8, 4, 3, 3), pz.PalettizationSpec(n_bits=1, cluster_dim=2, enable_per_channel_scale=True)),
    ((16, 8), pz.PalettizationSpec(n_bits=4, lut_qspec=pz.QuantizationSpec(dtype="uint8", qscheme="asymmetric"),
                                   granularity=pz.PerGroupedChannelGranularity(group_size=8))),
    ((16, 8), pz.PalettizationSpec(n_bits=3, lut_qspec=pz.QuantizationSpec(dtype="float8_e5m2"),
                                   enable_per_channel_scale=True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape, spec", DECODE_CASES)
def test_decode_equals_numpy_reconstruction(shape, spec, dtype):
    w = weight(shape, dtype)
    result = pz.palettize(w, spec, dtype="bfloat16" if dtype == "bfloat16" else None)
    dense = result.decode()
    assert dense.shape == shape
    assert dense.dtype == (np.uint16 if dtype == "bfloat16" else np.dtype(dtype))
    assert result.dtype == dtype
    np.testing.assert_array_equal(dense, decode_by_hand(result))
    error = pz.compare(w, dense, dtype="bfloat16" if dtype == "bfloat16" else None)
    assert error.count == w.size and error.snr_db > 0


@pytest.mark.parametrize("n_bits", [1, 2, 3, 4, 6, 8])
def test_packed_indices_follow_core_ml_bit_order(n_bits):
    result = pz.palettize(weight((5, 7), seed=n_bits), pz.PalettizationSpec(n_bits=n_bits))
    expected = pack_by_hand(result.indices, n_bits)
    np.testing.assert_array_equal(result.packed_indices, expected)
    np.testing.assert_array_equal(pz.pack_indices(result.indices, n_bits), expected)
    np.testing.assert_array_equal(pz.unpack_indices(expected, n_bits, 35), result.indices.ravel())


def test_pack_indices_rejects_wide_or_out_of_range_indices():
    with pytest.raises(ValueError, match="uint8"):
        pz.pack_indices(np.array([1, 2], dtype=np.int64), 2)
    with pytest.raises(ValueError):
        pz.pack_indices(np.array([4], dtype=np.uint8), 2)


# ---------------------------------------------------------------- dtypes and the bfloat16 path

def test_float16_weights_give_a_float16_lut_and_scales():
    result = pz.palettize(weight((8, 8), "float16"), pz.PalettizationSpec(enable_per_channel_scale=True))
    assert result.lut.dtype == np.float16 and result.channel_scale.dtype == np.float16
    assert result.decode().dtype == np.float16


def test_bfloat16_given_as_uint16_bits():
    values = np.random.default_rng(3).standard_normal((16, 8)).astype(np.float32)
    bits = f32_to_bf16_bits(values)
    result = pz.palettize(bits, pz.PalettizationSpec(n_bits=4, enable_per_channel_scale=True), dtype="bfloat16")
    assert result.dtype == "bfloat16"
    assert result.lut.dtype == np.uint16 and result.channel_scale.dtype == np.uint16
    assert np.all(np.isfinite(bf16_bits_to_f32(result.lut)))
    dense = result.decode()
    assert dense.dtype == np.uint16
    np.testing.assert_array_equal(dense, decode_by_hand(result))
    # channel scales are the row maxima, exact in bfloat16
    np.testing.assert_array_equal(bf16_bits_to_f32(result.channel_scale).ravel(),
                                  np.abs(bf16_bits_to_f32(bits)).max(axis=1))
    assert pz.compare(bits, dense, dtype="bfloat16").snr_db > 15


@pytest.mark.parametrize("array, dtype, message", [
    (np.ones((2, 2), dtype=np.uint16), None, "only with dtype='bfloat16'"),
    (np.ones((2, 2), dtype=np.float32), "bfloat16", "bfloat16 bit patterns in a uint16 array, got a float32"),
    (np.ones((2, 2), dtype=np.float64), None, "cannot palettize a weight array of dtype float64"),
    (np.ones((2, 2), dtype=np.int32), None, "cannot palettize a weight array of dtype int32"),
    (np.ones((2, 2), dtype=np.float32), "float16", "does not match the weight array's dtype float32"),
    (np.ones((2, 2), dtype=np.float32), "float64", "dtype must be 'float32', 'float16' or 'bfloat16'"),
])
def test_wrong_dtypes_are_refused(array, dtype, message):
    with pytest.raises(ValueError, match=message):
        pz.palettize(array, pz.PalettizationSpec(), dtype=dtype)


def test_dtype_may_name_the_array_type():
    w = weight((4, 4), "float16")
    assert pz.palettize(w, dtype=np.float16).dtype == "float16"
    assert pz.palettize(w, dtype="float16").dtype == "float16"


# ---------------------------------------------------------------- input handling and errors

def test_non_contiguous_and_big_endian_inputs_give_the_same_result():
    base = weight((16, 12))
    spec = pz.PalettizationSpec(n_bits=3, granularity=pz.PerGroupedChannelGranularity(group_size=4))
    transposed = base.T  # a view, not C-contiguous
    expected = pz.palettize(np.ascontiguousarray(transposed), spec)
    for variant in (transposed, transposed.astype(">f4")):
        result = pz.palettize(variant, spec)
        np.testing.assert_array_equal(result.indices, expected.indices)
        np.testing.assert_array_equal(result.lut, expected.lut)
    strided = base[::2]
    np.testing.assert_array_equal(pz.palettize(strided, spec).lut, pz.palettize(strided.copy(), spec).lut)


def test_lists_are_accepted_only_as_float32_arrays():
    with pytest.raises(ValueError, match="float64"):
        pz.palettize([[1.0, 2.0]], pz.PalettizationSpec(n_bits=1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(bad):
    w = weight((4, 4))
    w[1, 2] = bad
    with pytest.raises(ValueError, match="NaN and infinite weights cannot be palettized"):
        pz.palettize(w, pz.PalettizationSpec())


def test_empty_and_scalar_weights_are_refused():
    with pytest.raises(ValueError, match="empty tensor"):
        pz.palettize(np.zeros((0, 4), dtype=np.float32), pz.PalettizationSpec())
    with pytest.raises(ValueError, match="rank 0"):
        pz.palettize(np.float32(1.0), pz.PalettizationSpec())


def test_a_spec_that_does_not_fit_raises_incompatible_spec_error():
    spec = pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(group_size=16))
    with pytest.raises(pz.IncompatibleSpecError) as error:
        pz.palettize(weight((10, 4)), spec)
    assert isinstance(error.value, ValueError)
    assert "group_size" in str(error.value) or "16" in str(error.value)
    with pytest.raises(pz.IncompatibleSpecError):
        pz.palettize(weight((3, 8)), pz.PalettizationSpec(cluster_dim=2))


def test_sensitivities_are_checked_and_used():
    w = np.array([[1, 2, 3, 4], [100, 101, 102, 103]], dtype=np.float32)
    spec = pz.PalettizationSpec(n_bits=2)
    with pytest.raises(ValueError, match="do not match the weight"):
        pz.palettize(w, spec, sensitivities=np.ones((4, 2)))
    with pytest.raises(ValueError, match="not a finite non-negative number"):
        pz.palettize(w, spec, sensitivities=-np.ones((2, 4)))
    plain = pz.palettize(w, spec)
    weighted = pz.palettize(w, spec, sensitivities=np.array([[100] * 4, [0.01] * 4]))
    assert np.sum(weighted.lut <= 50) >= 3 > np.sum(plain.lut <= 50)
    uniform = pz.palettize(w, spec, sensitivities=np.ones((2, 4)))
    np.testing.assert_array_equal(uniform.lut, plain.lut)


def test_threads_argument():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        pz.palettize(weight((4, 4)), pz.PalettizationSpec(), threads=0)


def test_results_are_deterministic_across_thread_counts():
    w = weight((64, 32), seed=5)
    spec = pz.PalettizationSpec(n_bits=3, cluster_dim=2, granularity=pz.PerGroupedChannelGranularity(group_size=8))
    one = pz.palettize(w, spec, seed=7, threads=1)
    many = pz.palettize(w, spec, seed=7)
    np.testing.assert_array_equal(one.lut, many.lut)
    np.testing.assert_array_equal(one.indices, many.indices)


def test_result_arrays_are_read_only_views_that_outlive_the_result():
    result = pz.palettize(weight((8, 8)), pz.PalettizationSpec(n_bits=2))
    indices, lut = result.indices, result.lut
    assert not indices.flags.writeable and not lut.flags.writeable
    with pytest.raises(ValueError):
        indices[0, 0] = 1
    expected = decode_by_hand(result)
    del result
    gc.collect()
    lut_values = lut[0, 0, indices, 0]
    np.testing.assert_array_equal(lut_values, expected)


def test_decode_returns_a_fresh_writable_array():
    result = pz.palettize(weight((4, 4)), pz.PalettizationSpec(n_bits=2))
    first = result.decode()
    first[:] = 0
    assert np.any(result.decode() != 0)


def test_compare_metrics():
    w = weight((4, 4))
    same = pz.compare(w, w)
    assert same.sse == 0 and same.snr_db == float("inf") and same.max_abs_err == 0
    shifted = pz.compare(w, w + np.float32(0.5))
    assert shifted.max_abs_err == pytest.approx(0.5, abs=1e-6)
    assert shifted.mse == pytest.approx(0.25, rel=1e-5)
    assert "ErrorMetrics(" in repr(shifted)


def test_repr_of_a_result():
    text = repr(pz.palettize(weight((4, 4)), pz.PalettizationSpec(n_bits=2)))
    assert text.startswith("PalettizedTensor(shape=[4, 4], dtype=float32, lut_shape=[1, 1, 4, 1]")


# ---------------------------------------------------------------- the GIL

def test_concurrent_calls_from_python_threads_match_sequential_ones():
    spec = pz.PalettizationSpec(n_bits=4, granularity=pz.PerGroupedChannelGranularity(group_size=8))
    weights = [weight((64, 64), seed=seed) for seed in range(6)]
    expected = [pz.palettize(w, spec, threads=1) for w in weights]
    results = [None] * len(weights)

    def work(i):
        results[i] = pz.palettize(weights[i], spec, threads=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(weights))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got.lut, want.lut)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.decode(), want.decode())


def test_palettize_releases_the_gil():
    # With a huge switch interval a thread hands the GIL over only when it releases it itself. The worker
    # signals, then enters palettize on a large tensor: the main thread can run Python code (see the flag
    # still unset) only if palettize released the GIL. Were it held, the main thread would wake only
    # after the worker had set `finished`.
    w = weight((2048, 256), seed=1)  # half a million distinct values: far longer than a thread's wake-up
    spec = pz.PalettizationSpec(n_bits=4)
    started, finished = threading.Event(), threading.Event()

    def work():
        started.set()
        pz.palettize(w, spec, threads=1)
        finished.set()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        ran_during_palettize = not finished.is_set()
        worker.join()
    finally:
        sys.setswitchinterval(previous)
    assert ran_during_palettize


# ---------------------------------------------------------------- identical to the CLI

# The CLI of the build this module comes from: <build>/python/palettize*.so -> <build>/palettize.
CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(pz.__file__))), "palettize")
ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "U8": np.uint8, "I8": np.int8,
             "F8_E4M3": np.uint8, "F8_E5M2": np.uint8}
ST_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


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


CLI_CASES = [
    ("float32", (64, 32), pz.PalettizationSpec(n_bits=3)),
    ("float16", (64, 32), pz.presets.w4()),
    ("bfloat16", (32, 16, 3, 3), pz.PalettizationSpec(n_bits=2, cluster_dim=2, enable_per_channel_scale=True,
                                                      granularity=pz.PerGroupedChannelGranularity(axis=1, group_size=4))),
    ("float32", (64, 32), pz.PalettizationSpec(n_bits=6, lut_qspec=pz.QuantizationSpec(dtype="int8", qscheme="asymmetric"),
                                               granularity=pz.PerGroupedChannelGranularity(group_size=16))),
    ("float16", (48, 32), pz.PalettizationSpec(n_bits=4, lut_qspec=pz.QuantizationSpec(dtype="float8_e4m3fn"),
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
