// private: include only from src/ and tests/
#pragma once
// Per-element importances of a weight from the activations it multiplies (`palettize calibrate`): the
// output error a weight change dw causes through y = W x is sum over inputs of (dw . x)^2, whose diagonal
// part gives each element the mean square of the input channel it multiplies. Clustering weighted by it
// spends the LUT entries on the weights that see large inputs.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "palettize/onnx_model.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

// How a weight enters the node that reads it.
struct WeightUse {
  enum class Kind { conv, conv_transpose, matmul, gemm };
  Kind kind = Kind::conv;
  int64_t group = 1;     // Conv
  bool trans_a = false;  // Gemm: A is [K, M]
  bool trans_b = false;  // Gemm: B (the weight) is [N, K]
};

// The weight use of `consumer` for a weight of `shape`, or nullopt with the reason in `why` when the
// tensor does not enter it as a Conv, ConvTranspose, MatMul or Gemm weight of a known layout.
std::optional<WeightUse> weight_use(const TensorConsumer& consumer, const Shape& shape, std::string& why);

// The axis of the node's input 0 (the activation) that carries the channels the weight multiplies; negative
// counts from the end (MatMul -1, Gemm -1 or -2 with transA, Conv and ConvTranspose 1).
int64_t activation_channel_axis(const WeightUse& use);

// Adds to each element of `importance` (laid out like a weight of `shape`) the mean square of the input
// channel that element multiplies. Error when the channel count does not fit the weight.
void add_activation_importance(const WeightUse& use, const Shape& shape, std::span<const double> mean_square,
                               std::span<double> importance);

}  // namespace palettize
