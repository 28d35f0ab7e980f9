#!/usr/bin/python3
"""Make a fixed-resolution segmentation model (ISNet) run at a smaller input resolution, same weights.

ISNet's exported graph resizes feature maps to constant sizes (Resize 'sizes' = Concat(Shape(x)[:2],
Constant [H, W])), so it only accepts its export resolution. This rewrites those constants by a factor and
sets the new input shape; every weight is left byte for byte as it is, so a sensitivity table measured on
the rescaled model (palettize sensitivity keys tables by the weights' fingerprint) applies to the original.
Used to keep output-aware sensitivity affordable (ISNet at 1024x1024 takes ~30 s per run on 2 cores).

usage: rescale_resize_sizes.py IN.onnx OUT.onnx --input NAME=N,C,H,W --factor F
"""
import argparse

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--input", required=True, help="NAME=N,C,H,W")
    parser.add_argument("--factor", type=float, required=True, help="new size / exported size, e.g. 0.25")
    args = parser.parse_args()
    name, dims = args.input.split("=")
    dims = [int(d) for d in dims.split(",")]

    model = onnx.load(args.model)
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    resized = 0
    for node in graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        sizes = producers.get(node.input[3])
        if sizes is None or sizes.op_type != "Concat":
            raise SystemExit(f"{node.name}: 'sizes' is not a Concat; this model is not laid out like ISNet")
        for part in sizes.input:
            constant = producers.get(part)
            if constant is None or constant.op_type != "Constant":
                continue
            value = numpy_helper.to_array(constant.attribute[0].t)
            scaled = np.maximum(1, np.round(value * args.factor)).astype(value.dtype)
            constant.attribute[0].t.CopyFrom(numpy_helper.from_array(scaled, constant.attribute[0].t.name))
            resized += 1
    graph_input = next((i for i in graph.input if i.name == name), None)
    if graph_input is None:
        raise SystemExit(f"the model has no input '{name}'")
    shape = graph_input.type.tensor_type.shape
    if len(shape.dim) != len(dims):
        raise SystemExit(f"input '{name}' has rank {len(shape.dim)}, got {len(dims)} dims")
    for dim, value in zip(shape.dim, dims):
        dim.Clear()
        dim.dim_value = value
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    del graph.value_info[:]
    onnx.save(model, args.output)
    print(f"{args.output}: {resized} Resize size constants scaled by {args.factor}, input {name} {dims}")


if __name__ == "__main__":
    main()
