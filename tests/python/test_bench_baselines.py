"""bench/baselines.py: how many blocks a baseline fits and which of them its SSE covers (the clustering is
stubbed with fixed fit times, so no scikit-learn and no clock are involved)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import baselines  # noqa: E402

G16 = {"n_bits": 2, "granularity": {"type": "per_grouped_channel", "group_size": 16}}


def stub_fits(monkeypatch, seconds_per_fit):
    """Every fit takes `seconds_per_fit` and reconstructs each weight 1 too high (SSE 1 per weight)."""
    fitted = []

    def encode(name, block, spec, fit_rows=None):
        fitted.append(block.shape)
        return block + 1, (seconds_per_fit, seconds_per_fit)

    monkeypatch.setattr(baselines, "_encode_block", encode)
    return fitted


def test_fits_the_first_rows_blocks_alone_without_a_minimum_time(monkeypatch):
    fitted = stub_fits(monkeypatch, 0.5)
    weight = np.zeros((128, 8), dtype=np.float16)
    result = baselines.run("sklearn-coremltools", weight, G16, subset_rows=32, sample_rows=16)
    assert len(fitted) == 2
    assert result["blocks_measured"] == 2
    assert result["seconds_whole"] == 0.5 * 2 * (8 / 2)
    assert result["sse"] == 32 * 8
    assert result["note"] == "2/8 blocks, time x4"


def test_goes_on_fitting_until_the_minimum_time_but_compares_sse_on_the_first_rows(monkeypatch):
    fitted = stub_fits(monkeypatch, 0.5)
    weight = np.zeros((128, 8), dtype=np.float16)
    result = baselines.run("sklearn-coremltools", weight, G16, subset_rows=16, sample_rows=16, min_seconds=2.0)
    assert len(fitted) == 4  # 4 x 0.5 s
    assert result["seconds_measured"] == 2.0
    assert result["seconds_whole"] == 2.0 * (8 / 4)
    assert result["sse"] == 16 * 8  # the first block's rows only, as ours is measured
    assert result["note"] == "4/8 blocks, time x2"


def test_stops_at_the_last_block(monkeypatch):
    fitted = stub_fits(monkeypatch, 0.01)
    weight = np.zeros((64, 8), dtype=np.float16)
    result = baselines.run("sklearn-coremltools", weight, G16, subset_rows=16, sample_rows=16, min_seconds=60.0)
    assert len(fitted) == 4
    assert result["note"] == "4/4 blocks, time x1"
