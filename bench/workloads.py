"""Seeded benchmark workloads, written as safetensors files that every party reads: the C++ kernels
(bench/bench_engine.cpp), the command-line runs and the Python baselines all see the same bytes.

- tensor4096: one 4096x4096 F16 tensor "weight" = 0.02 * Student-t(5), heavy-tailed like LLM weights.
- llama: a Llama-2-7B-shaped checkpoint, N layers of q/k/v/o 4096x4096, gate/up 11008x4096, down
  4096x11008 (F16, same distribution) plus the two 4096-element norms, streamed tensor by tensor so that
  generating it never holds more than one tensor.
- onnx_to_safetensors: the float weights (rank >= 2) of an ONNX model, for the CLI (which reads
  safetensors only).

Files are cached by name (the name carries every parameter), so re-runs skip generation.
"""
import json
import os
import struct

import numpy as np

SCALE = 0.02
DOF = 5
HIDDEN = 4096
INTERMEDIATE = 11008
LINEARS = [  # (name, shape) per layer, as in Hugging Face Llama checkpoints
    ("self_attn.q_proj.weight", (HIDDEN, HIDDEN)),
    ("self_attn.k_proj.weight", (HIDDEN, HIDDEN)),
    ("self_attn.v_proj.weight", (HIDDEN, HIDDEN)),
    ("self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
    ("mlp.gate_proj.weight", (INTERMEDIATE, HIDDEN)),
    ("mlp.up_proj.weight", (INTERMEDIATE, HIDDEN)),
    ("mlp.down_proj.weight", (HIDDEN, INTERMEDIATE)),
]
NORMS = ["input_layernorm.weight", "post_attention_layernorm.weight"]
DTYPE_NAMES = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.uint16): "BF16"}


def heavy_tailed(shape, seed):
    """0.02 * Student-t(5) rounded to F16; the same seed always gives the same bytes."""
    rng = np.random.default_rng(seed)
    return (SCALE * rng.standard_t(DOF, size=shape)).astype(np.float16)


def _header(entries):
    """safetensors header bytes for [(name, dtype_name, shape, nbytes)] laid out back to back."""
    header, offset = {}, 0
    for name, dtype_name, shape, nbytes in entries:
        header[name] = {"dtype": dtype_name, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def write_streaming(path, entries, produce):
    """Writes entries [(name, dtype_name, shape, nbytes)]; produce(name) returns that tensor's array.
    The file appears under its final name only when complete."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(_header(entries))
        for name, _, shape, nbytes in entries:
            array = np.ascontiguousarray(produce(name))
            assert array.shape == tuple(shape) and array.nbytes == nbytes, name
            out.write(array.tobytes())
    os.replace(tmp, path)


def tensor4096(directory, seed=0):
    path = os.path.join(directory, f"tensor4096_t5_s{seed}.safetensors")
    if not os.path.exists(path):
        shape = (HIDDEN, HIDDEN)
        write_streaming(path, [("weight", "F16", shape, HIDDEN * HIDDEN * 2)], lambda _: heavy_tailed(shape, seed))
    return path


def llama_entries(layers):
    entries, seeds = [], {}
    for layer in range(layers):
        for index, (suffix, shape) in enumerate(LINEARS):
            name = f"model.layers.{layer}.{suffix}"
            entries.append((name, "F16", shape, shape[0] * shape[1] * 2))
            seeds[name] = 1000 + layer * 16 + index
        for suffix in NORMS:
            entries.append((f"model.layers.{layer}.{suffix}", "F16", (HIDDEN,), HIDDEN * 2))
    return entries, seeds


def llama(directory, layers, seed=0):
    """Returns (path, number of parameters)."""
    path = os.path.join(directory, f"llama2_7b_shaped_L{layers}_s{seed}.safetensors")
    entries, seeds = llama_entries(layers)

    def produce(name):
        if name in seeds:
            shape = next(e[2] for e in entries if e[0] == name)
            return heavy_tailed(shape, seed * 100003 + seeds[name])
        return np.ones(HIDDEN, dtype=np.float16)

    if not os.path.exists(path):
        write_streaming(path, entries, produce)
    return path, sum(int(np.prod(e[2])) for e in entries)


def onnx_to_safetensors(onnx_path, directory):
    """Float initializers and Constant tensors of rank >= 2 -> safetensors. Returns (path, params)."""
    import onnx
    from onnx import numpy_helper

    path = os.path.join(directory, os.path.basename(onnx_path).rsplit(".", 1)[0] + ".safetensors")
    model = onnx.load(onnx_path)
    tensors = {}

    def visit(graph):
        for init in graph.initializer:
            tensors.setdefault(init.name, numpy_helper.to_array(init))
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        tensors.setdefault(node.output[0], numpy_helper.to_array(attr.t))
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for sub in attr.graphs:
                    visit(sub)

    visit(model.graph)
    kept = {name: np.ascontiguousarray(a) for name, a in sorted(tensors.items())
            if a.dtype in (np.float16, np.float32) and a.ndim >= 2}
    if not os.path.exists(path):
        entries = [(name, DTYPE_NAMES[a.dtype], a.shape, a.nbytes) for name, a in kept.items()]
        write_streaming(path, entries, lambda name: kept[name])
    return path, sum(a.size for a in kept.values())


def read_tensor(path, name):
    """A tensor of a safetensors file as a read-only numpy array (memory-mapped)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    entry = header[name]
    dtype = {"F16": np.float16, "F32": np.float32}[entry["dtype"]]
    begin, end = entry["data_offsets"]
    count = (end - begin) // np.dtype(dtype).itemsize
    return np.memmap(path, dtype=dtype, mode="r", offset=8 + length + begin, shape=(count,)).reshape(entry["shape"])
