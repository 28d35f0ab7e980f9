"""Tests of the Python module `palettize`, spec side: the spec classes in coreai_opt's vocabulary, validation
as ValueError with the engine's messages, the reference's dict form and round trips, presets."""
import pickle

import numpy as np
import pytest

from module_helpers import pz

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

