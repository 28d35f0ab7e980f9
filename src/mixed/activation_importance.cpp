#include "mixed/activation_importance.hpp"

#include "palettize/error.hpp"

namespace palettize {
namespace {

int64_t attribute_or(const TensorConsumer& consumer, const std::string& name, int64_t fallback) {
  const auto found = consumer.int_attributes.find(name);
  return found == consumer.int_attributes.end() ? fallback : found->second;
}

std::string op_label(const TensorConsumer& consumer) {
  return consumer.op_type + " (input " + std::to_string(consumer.input_index) + ")";
}

}  // namespace

std::optional<WeightUse> weight_use(const TensorConsumer& consumer, const Shape& shape, std::string& why) {
  const bool standard = consumer.domain.empty() || consumer.domain == "ai.onnx";
  const bool known = consumer.op_type == "Conv" || consumer.op_type == "ConvTranspose" ||
                     consumer.op_type == "MatMul" || consumer.op_type == "Gemm";
  if (!standard || consumer.input_index != 1 || !known) {
    why = "it is read by " + op_label(consumer) + ", not as the weight of a Conv, ConvTranspose, MatMul or Gemm";
    return std::nullopt;
  }
  WeightUse use;
  if (consumer.op_type == "ConvTranspose") {
    use.kind = WeightUse::Kind::conv_transpose;
    use.group = attribute_or(consumer, "group", 1);
    if (shape.size() < 3) {
      why = "its ConvTranspose weight has shape " + shape_to_string(shape);
      return std::nullopt;
    }
    return use;
  }
  if (consumer.op_type == "Conv") {
    use.kind = WeightUse::Kind::conv;
    use.group = attribute_or(consumer, "group", 1);
    if (shape.size() < 3 || use.group < 1 || shape[0] % use.group != 0) {
      why = "its Conv weight has shape " + shape_to_string(shape) + " with group " + std::to_string(use.group);
      return std::nullopt;
    }
    return use;
  }
  if (shape.size() != 2) {
    why = "it is a " + std::to_string(shape.size()) + "-D weight of " + consumer.op_type + " (2-D expected)";
    return std::nullopt;
  }
  use.kind = consumer.op_type == "MatMul" ? WeightUse::Kind::matmul : WeightUse::Kind::gemm;
  use.trans_a = attribute_or(consumer, "transA", 0) != 0;
  use.trans_b = attribute_or(consumer, "transB", 0) != 0;
  return use;
}

int64_t activation_channel_axis(const WeightUse& use) {
  switch (use.kind) {
    case WeightUse::Kind::conv:
    case WeightUse::Kind::conv_transpose:
      return 1;
    case WeightUse::Kind::matmul:
      return -1;
    case WeightUse::Kind::gemm:  // A is 2-D: counted from the end, like MatMul, so one value read by both agrees
      return use.trans_a ? -2 : -1;
  }
  return 1;
}

void add_activation_importance(const WeightUse& use, const Shape& shape, std::span<const double> mean_square,
                               std::span<double> importance) {
  check(static_cast<int64_t>(importance.size()) == shape_numel(shape), "activation importance: ", importance.size(),
        " elements for a weight of shape ", shape_to_string(shape));
  const int64_t channels = static_cast<int64_t>(mean_square.size());
  if (use.kind == WeightUse::Kind::conv) {
    // Weight [O, C/g, k...]: output channel o belongs to group o / (O/g), which reads input channels
    // [group * C/g, (group + 1) * C/g).
    const int64_t outputs = shape[0], per_group_inputs = shape[1];
    check(channels == per_group_inputs * use.group, "activation importance: a Conv weight of shape ",
          shape_to_string(shape), " with group ", use.group, " reads ", per_group_inputs * use.group,
          " input channels, the activation has ", channels);
    const int64_t kernel = shape_numel(shape) / (outputs * per_group_inputs);
    const int64_t outputs_per_group = outputs / use.group;
    for (int64_t o = 0; o < outputs; ++o) {
      for (int64_t i = 0; i < per_group_inputs; ++i) {
        const double value = mean_square[static_cast<std::size_t>((o / outputs_per_group) * per_group_inputs + i)];
        double* element = importance.data() + (o * per_group_inputs + i) * kernel;
        for (int64_t k = 0; k < kernel; ++k) element[k] += value;
      }
    }
    return;
  }
  if (use.kind == WeightUse::Kind::conv_transpose) {
    // Weight [C, M/g, k...]: element (c, ...) multiplies input channel c, whatever the group.
    check(channels == shape[0], "activation importance: a ConvTranspose weight of shape ", shape_to_string(shape),
          " reads ", shape[0], " input channels, the activation has ", channels);
    const int64_t per_channel = shape_numel(shape) / shape[0];
    for (int64_t c = 0; c < shape[0]; ++c) {
      for (int64_t e = 0; e < per_channel; ++e) importance[static_cast<std::size_t>(c * per_channel + e)] += mean_square[c];
    }
    return;
  }
  // MatMul x[.., K] W[K, N] and Gemm with B = W [K, N], or W [N, K] with transB: the channel is K.
  const bool k_first = !(use.kind == WeightUse::Kind::gemm && use.trans_b);
  const int64_t k_size = k_first ? shape[0] : shape[1];
  check(channels == k_size, "activation importance: a weight of shape ", shape_to_string(shape),
        k_first ? "" : " (transposed)", " reads ", k_size, " input channels, the activation has ", channels);
  for (int64_t r = 0; r < shape[0]; ++r) {
    for (int64_t c = 0; c < shape[1]; ++c) {
      importance[static_cast<std::size_t>(r * shape[1] + c)] += mean_square[static_cast<std::size_t>(k_first ? r : c)];
    }
  }
}

}  // namespace palettize
