"""Tests of the Python module `palettize`, engine side: the reference's worked examples (coreai_opt_semantics.md
§3.1, §3.5, §3.7, §3.8), Core ML layouts, decode against a numpy reconstruction from lut/indices, packing,
the bfloat16 path, input handling, errors and the released GIL."""
import gc
import sys
import threading

import numpy as np
import pytest

from module_helpers import bf16_bits_to_f32, decode_by_hand, f32_to_bf16_bits, pack_by_hand, pz, weight

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
    ((32, 16), pz.PalettizationSpec(granularity=pz.PerGroupedChannelGranularity(group_size=8)),
     (4, 1, 16, 1), (32, 16)),
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



def test_fast_kmeans_mode_rounds_before_clustering():
    # The reference's fast mode (§3.3): fp16 cast, then rounding to `rounding_precision` decimals.
    w = np.array([[1.123456, 1.123456, 2.987654, 2.987654, 3.456789]], dtype=np.float32)
    spec = pz.PalettizationSpec(n_bits=2)
    exact = pz.palettize(w, spec)
    np.testing.assert_array_equal(exact.decode(), w)
    fast = pz.palettize(w, spec, enable_fast_kmeans_mode=True, rounding_precision=2)
    error = np.abs(fast.decode() - w).max()
    assert 1e-3 < error < 1e-2
