// private: include only from src/ and tests/
#pragma once
// The decode subgraph that stands in for one palettized tensor (docs/FORMAT.md, "ONNX output").
//
// Data (initializers of the graph that held the tensor): the container parts of the tensor
// (palettize/container.hpp) with the same bytes, plus a few small int64/int32 constants shared by all
// decode subgraphs of the graph:
//   indices   UINT8 [G, B]: the packed LSB-first bitstream, zero-padded to whole periods of B bytes
//             (a period holds E = 8/gcd(n,8) indices: n=1,2,4 -> 1 byte, n=3,6 -> 3 bytes, n=8 -> 1 index)
//   lut       the LUT [NB*K] (or [NB*K, V] for vectors) in the weight dtype, or its codes [NB, K*V] with
//             lut_scale / lut_zero_point [NB, 1] when the LUT is quantized
//   channel_scale  [O, 1, ..., 1] in the weight dtype
// Nodes, opset 7+ only (the model's opset is never changed):
//   unpack:  Cast(indices -> INT32); for 3 and 6 bits Gather the low/high byte of each index and combine
//            (lo + 256 hi); Div by 2^shift; Mod K (before opset 10: x - (x / K) * K)
//   shape:   Reshape (Slice first when G*E exceeds the index count) to the index shape, with every
//            grouped axis split as [NB_i, d_i / NB_i], and Add block offsets (b * K) when there are
//            several LUTs
//   lookup:  Gather(lut, indices); vectors: Reshape [O/V, rest, V], Transpose, Reshape
//   scale:   Mul by the channel scale (in float32 via Cast for F16/BF16)
//   quantized LUT: Cast(codes -> FLOAT) (FP8 codes: Cast from FLOAT8 at opset >= 19, else Gather from a
//            256-entry FLOAT16 table holding every FP8 value exactly), Sub zero point, Mul scale, Cast to
//            the weight dtype.
// All arithmetic is exact or rounds once in float32, so the result equals palettize::decode bit for bit.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "onnx/onnx_proto.hpp"
#include "palettize/container.hpp"

namespace palettize::onnx_io {

struct DecodeSubgraph {
  std::vector<onnx::NodeProto> nodes;  // topological order; the last one outputs the tensor
  std::vector<onnx::TensorProto> initializers;
  std::map<std::string, std::string> part_names;  // container suffix (".lut", ...) -> initializer name
};

// Returns a name unused anywhere in the model and reserves it; `preferred` is tried first when not empty.
using NameReserver = std::function<std::string(const std::string& preferred)>;

// What a decode subgraph needs from the graph it goes into.
struct GraphContext {
  int64_t opset = 0;
  NameReserver reserve;
  // Small constants (shapes, divisors, the FP8 table) already added to the graph, by content, so decode
  // subgraphs in one graph share them. Updated with the constants a new subgraph adds.
  std::map<std::string, std::string>* shared_constants = nullptr;
};

// `parts` are encode_palettized(entry, palettized). The last node writes `output_name`.
DecodeSubgraph build_decode_subgraph(const ContainerEntry& entry, std::span<const NamedTensor> parts,
                                     const std::string& output_name, const GraphContext& context);

// Packing geometry of n-bit indices: E indices per period of B bytes.
struct PackingPeriod {
  int64_t indices = 1;
  int64_t bytes = 1;
};
PackingPeriod packing_period(int n_bits);

}  // namespace palettize::onnx_io
