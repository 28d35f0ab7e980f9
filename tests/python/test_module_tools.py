"""compress_file, decompress_file and eval_files run the CLI's own operations: for the same inputs they write
the same bytes as `palettize compress/decompress` and return the numbers `palettize compress/eval --json`
print; errors raise ValueError (palettize.Error) with the engine's messages."""
import json
import os
import struct
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from module_helpers import pz, weight, write_safetensors

CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(pz.__file__))), "palettize")
needs_cli = pytest.mark.skipif(not os.path.exists(CLI), reason="the palettize CLI is not built next to this module")


def write_onnx(path, with_if=True):
    """Initializers, a Constant node and (with_if) a Constant under the same name in both If branches."""
    enc = weight((64, 32), "float16", seed=1)
    dec = weight((48, 40), "float32", seed=2)
    head = weight((10, 128), "float32", seed=3)  # w4's groups of 16 cannot apply: skipped with a warning
    sub = weight((32, 32), "float32", seed=4)
    nodes = [helper.make_node("Constant", [], ["dec.w"], value=numpy_helper.from_array(dec, "dec.w"))]
    outputs = []
    for name, array in (("enc.w", enc), ("dec.w", dec), ("head.w", head)):
        nodes.append(helper.make_node("Identity", [name], ["y_" + name]))
        elem = TensorProto.FLOAT16 if array.dtype == np.float16 else TensorProto.FLOAT
        outputs.append(helper.make_tensor_value_info("y_" + name, elem, list(array.shape)))
    if with_if:
        branches = {}
        for branch in ("then", "else"):
            out = "y_" + branch
            branches[branch] = helper.make_graph(
                [helper.make_node("Constant", [], ["sub.w"], value=numpy_helper.from_array(sub, "sub.w")),
                 helper.make_node("Identity", ["sub.w"], [out])],
                branch, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [32, 32])])
        nodes.append(helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True), "c")))
        nodes.append(helper.make_node("If", ["cond"], ["y_sub"], name="If_0", then_branch=branches["then"],
                                      else_branch=branches["else"]))
        outputs.append(helper.make_tensor_value_info("y_sub", TensorProto.FLOAT, [32, 32]))
    initializers = [numpy_helper.from_array(enc, "enc.w"), numpy_helper.from_array(head, "head.w")]
    graph = helper.make_graph(nodes, "tools", [], outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(path))


def write_checkpoint(path):
    write_safetensors(path, {
        "layers.0.w": ("F32", weight((64, 48), "float32", seed=5)),
        "layers.1.w": ("F16", weight((32, 64), "float16", seed=6)),
        "odd.w": ("F32", weight((10, 128), "float32", seed=7)),
        "bias": ("F32", weight((64,), "float32", seed=8)),
    })


def cli(*args):
    run = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert run.returncode == 0, f"palettize {' '.join(map(str, args))}: exit {run.returncode}\n{run.stderr}"
    return run.stdout


def without_timings(report):
    """The report minus what depends on the run (seconds) or the output's name."""
    report = json.loads(json.dumps(report))
    for key in ("output", "output_files"):
        report.pop(key, None)
    report["total"].pop("seconds", None)
    for row in report["tensors"]:
        row.pop("seconds", None)
    return report


def same_as_cli(tmp_path, model, cli_args, **kwargs):
    """compress_file(model, mine.EXT, **kwargs) against `palettize compress model cli.EXT cli_args --json`."""
    ext = ".onnx" if str(model).endswith(".onnx") else ".safetensors"
    mine, theirs = tmp_path / ("mine" + ext), tmp_path / ("cli" + ext)
    report = pz.compress_file(str(model), str(mine), **kwargs)
    expected = json.loads(cli("compress", model, theirs, "--json", *cli_args))
    assert mine.read_bytes() == theirs.read_bytes()
    assert without_timings(report) == without_timings(expected)
    assert report["output"] == str(mine) and report["output_files"] == [str(mine)]
    return mine, theirs, report


CONFIG = "global: w4\nrules:\n  - pattern: 'sub\\.w|layers\\.1\\..*'\n    spec: {n_bits: 2}\n"


@needs_cli
@pytest.mark.parametrize("kind", ["onnx", "safetensors"])
@pytest.mark.parametrize("case", ["default", "preset", "spec", "config", "target_bits", "sensitivities"])
def test_compress_decompress_eval_equal_the_cli(tmp_path, kind, case):
    if kind == "onnx":
        model = tmp_path / "model.onnx"
        write_onnx(model, with_if=case != "target_bits")  # mixed precision needs unique tensor names
    else:
        model = tmp_path / "model.safetensors"
        write_checkpoint(model)
    (tmp_path / "config.yaml").write_text(CONFIG)
    spec = pz.PalettizationSpec(n_bits=3, cluster_dim=2, enable_per_channel_scale=True)
    cli_args, kwargs = {
        "default": ([], {}),
        "preset": (["--preset", "w6"], {"preset": "w6"}),
        "spec": (["--spec", spec.to_json(), "--seed", "5"], {"spec": spec, "seed": 5}),
        "config": (["--config", tmp_path / "config.yaml", "--threads", "1"],
                   {"config": str(tmp_path / "config.yaml"), "threads": 1}),
        "target_bits": (["--target-bits", "3", "--candidates", "2,4"], {"target_bits": 3.0, "candidates": "2,4"}),
        "sensitivities": (["--sensitivities", tmp_path / "sens.safetensors"],
                          {"sensitivities": str(tmp_path / "sens.safetensors")}),
    }[case]
    if case == "sensitivities":
        names = {"onnx": {"enc.w": (64, 32), "dec.w": (48, 40), "head.w": (10, 128),
                          "sub.w@main/If_0:then_branch": (32, 32), "sub.w@main/If_0:else_branch": (32, 32)},
                 "safetensors": {"layers.0.w": (64, 48), "layers.1.w": (32, 64), "odd.w": (10, 128)}}[kind]
        rng = np.random.default_rng(9)
        write_safetensors(tmp_path / "sens.safetensors",
                          {n: ("F32", rng.uniform(0.01, 1, s).astype(np.float32)) for n, s in names.items()})
    mine, theirs, report = same_as_cli(tmp_path, model, cli_args, **kwargs)
    assert report["total"]["palettized"] >= 2

    ext = mine.suffix
    pz.decompress_file(str(mine), str(tmp_path / ("dense_mine" + ext)))
    cli("decompress", theirs, tmp_path / ("dense_cli" + ext))
    assert (tmp_path / ("dense_mine" + ext)).read_bytes() == (tmp_path / ("dense_cli" + ext)).read_bytes()

    evaluated = pz.eval_files(str(model), str(mine))
    assert evaluated == json.loads(cli("eval", model, mine, "--json"))
    rows = {row["name"]: row for row in evaluated["tensors"]}
    for row in report["tensors"]:
        if row["status"] == "palettized":
            assert rows[row["name"]]["sse"] == row["sse"]


def test_paths_may_be_pathlike_and_warnings_are_returned(tmp_path):
    write_onnx(tmp_path / "model.onnx")
    report = pz.compress_file(tmp_path / "model.onnx", tmp_path / "out.onnx", preset="w4")
    assert report["warnings"] == [
        "skipping 'head.w' [10, 128] (spec from global): " +
        next(r["reason"] for r in report["tensors"] if r["name"] == "head.w")]
    statuses = {row["name"]: row["status"] for row in report["tensors"]}
    assert statuses == {"enc.w": "palettized", "head.w": "skipped", "dec.w": "palettized",
                        "sub.w@main/If_0:then_branch": "palettized", "sub.w@main/If_0:else_branch": "palettized"}
    assert pz.eval_files(tmp_path / "model.onnx", tmp_path / "out.onnx")["total"]["bits_per_weight"] > 4


@pytest.mark.parametrize("call, message", [
    (lambda d: pz.compress_file(d / "model.onnx", d / "model.onnx", force=True), "would overwrite the input"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.safetensors"), "does not convert between them"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", preset="w4", spec={"n_bits": 2}),
     "exclude each other"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", spec={"n_bits": 5}), "n_bits"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", preset="w5"), "preset must be"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", threads=0), "threads must be >= 1"),
    (lambda d: pz.compress_file(d / "missing.onnx", d / "out.onnx"), "missing.onnx"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", preset="w4", strict=True), "tensor 'head.w'"),
    (lambda d: pz.compress_file(d / "model.onnx", d / "out.onnx", target_bits=3), "is used in several graphs"),
    (lambda d: pz.decompress_file(d / "model.onnx", d / "out.onnx"), "not a palettized ONNX model"),
    (lambda d: pz.eval_files(d / "model.onnx", d / "other.onnx"), "other.onnx"),
])
def test_errors_raise_value_error_with_the_engines_message(tmp_path, call, message):
    write_onnx(tmp_path / "model.onnx")
    with pytest.raises(ValueError, match=None) as raised:
        call(tmp_path)
    assert isinstance(raised.value, pz.Error)
    assert message in str(raised.value)
    assert not (tmp_path / "out.onnx").exists() and not (tmp_path / "out.safetensors").exists()


def test_existing_output_is_kept_unless_forced(tmp_path):
    write_onnx(tmp_path / "model.onnx")
    (tmp_path / "out.onnx").write_bytes(b"keep")
    with pytest.raises(ValueError, match="already exists"):
        pz.compress_file(tmp_path / "model.onnx", tmp_path / "out.onnx")
    assert (tmp_path / "out.onnx").read_bytes() == b"keep"
    pz.compress_file(tmp_path / "model.onnx", tmp_path / "out.onnx", force=True)
    assert (tmp_path / "out.onnx").read_bytes() != b"keep"
