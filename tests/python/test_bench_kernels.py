"""bench/run_bench.py: which of Google Benchmark's JSON entries stand for each in-process benchmark."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import run_bench  # noqa: E402

ROW = "palettize/n4/row/min_time:0.500/process_time/real_time"


def entry(name, real_time, run_type="iteration", aggregate_name=None):
    e = {"name": name, "run_type": run_type, "real_time": real_time, "time_unit": "ms", "sse": 169.0}
    if aggregate_name:
        e["aggregate_name"] = aggregate_name
    return e


def test_a_single_run_stands_for_itself():
    kernels = run_bench.kernels_by_name([entry(ROW, 300.0), entry("decode/n4/g16/real_time", 5.0)])
    assert kernels["palettize/n4/row"]["real_time"] == 300.0
    assert kernels["decode/n4/g16"]["real_time"] == 5.0


def test_with_repetitions_the_median_stands_whatever_the_order_of_the_aggregates():
    results = [entry(ROW + "_median", 297.0, "aggregate", "median"),
               entry(ROW + "_mean", 310.0, "aggregate", "mean"),
               entry(ROW + "_stddev", 20.0, "aggregate", "stddev"),
               entry(ROW + "_cv", 0.06, "aggregate", "cv")]
    kernels = run_bench.kernels_by_name(results)
    assert list(kernels) == ["palettize/n4/row"]
    assert kernels["palettize/n4/row"]["real_time"] == 297.0
    assert kernels["palettize/n4/row"]["sse"] == 169.0
