// palettize calibrate, and the activation-to-weight mapping behind it. The model multiplies constant-1
// inputs by fixed per-channel factors s before every Conv, ConvTranspose, MatMul and Gemm, so each activation channel's
// mean square is exactly s^2 and every weight element's expected importance is known.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_test_support.hpp"
#include "mixed/activation_importance.hpp"
#include "onnx_test_support.hpp"
#include "palettize/safetensors.hpp"
#include "run_command.hpp"

namespace palettize {
namespace {

using testing::describe;
using testing::ort_installed;
using testing::run_palettize;
using testing::RunResult;


Tensor f32(Shape shape, std::vector<float> values) { return make_tensor(DType::F32, std::move(shape), values); }

std::vector<float> counting(std::size_t n) {
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  return values;
}

onnx::NodeProto node(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                     std::vector<std::pair<std::string, int64_t>> attributes = {}) {
  onnx::NodeProto n;
  n.set_op_type(op);
  for (const std::string& input : inputs) n.add_input(input);
  n.add_output(output);
  for (const auto& [name, value] : attributes) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  return n;
}

// x [2, 4, 3, 3] * s (1, 2, 3, 4 per channel) -> Conv group 2 (conv_w [6, 2, 1, 1]), depthwise Conv
// (dw_w [4, 1, 3, 3]) and ConvTranspose (tc_w [4, 3, 2, 2]); z [3, 5] * t (1..5) -> MatMul (mm_w [5, 2])
// and Gemm with transB (gemm_w [2, 5]).
void write_model(const std::filesystem::path& path) {
  onnx::ModelProto model;
  onnx::GraphProto* g = onnx_test::opset13_graph(model, "calibration");
  const std::vector<std::pair<std::string, Tensor>> initializers{
      {"s", f32({1, 4, 1, 1}, {1, 2, 3, 4})},
      {"t", f32({5}, {1, 2, 3, 4, 5})},
      {"conv_w", f32({6, 2, 1, 1}, counting(12))},
      {"dw_w", f32({4, 1, 3, 3}, counting(36))},
      {"tc_w", f32({4, 3, 2, 2}, counting(48))},
      {"mm_w", f32({5, 2}, counting(10))},
      {"gemm_w", f32({2, 5}, counting(10))}};
  for (const auto& [name, tensor] : initializers) *g->add_initializer() = onnx_test::tensor_proto(name, tensor.view());
  *g->add_node() = node("Mul", {"x", "s"}, "xs");
  *g->add_node() = node("Conv", {"xs", "conv_w"}, "y_conv", {{"group", 2}});
  *g->add_node() = node("Conv", {"xs", "dw_w"}, "y_dw", {{"group", 4}});
  *g->add_node() = node("ConvTranspose", {"xs", "tc_w"}, "y_tc");
  *g->add_node() = node("Mul", {"z", "t"}, "zt");
  *g->add_node() = node("MatMul", {"zt", "mm_w"}, "y_mm");
  *g->add_node() = node("Gemm", {"zt", "gemm_w"}, "y_gemm", {{"transB", 1}});
  onnx_test::add_value_info(g->mutable_input(), "x", 1, {2, 4, 3, 3});
  onnx_test::add_value_info(g->mutable_input(), "z", 1, {3, 5});
  onnx_test::add_value_info(g->mutable_output(), "y_conv", 1, {2, 6, 3, 3});
  onnx_test::add_value_info(g->mutable_output(), "y_dw", 1, {2, 4, 1, 1});
  onnx_test::add_value_info(g->mutable_output(), "y_tc", 1, {2, 3, 4, 4});
  onnx_test::add_value_info(g->mutable_output(), "y_mm", 1, {3, 2});
  onnx_test::add_value_info(g->mutable_output(), "y_gemm", 1, {3, 2});
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
}

std::vector<float> read_f32(const SafetensorsReader& reader, const std::string& name) {
  const TensorView view = reader.view(name);
  EXPECT_EQ(view.dtype, DType::F32);
  std::vector<float> values(static_cast<std::size_t>(view.numel()));
  std::memcpy(values.data(), view.data.data(), view.data.size());
  return values;
}

std::vector<float> repeat_each(const std::vector<float>& values, std::size_t times) {
  std::vector<float> out;
  for (float v : values) out.insert(out.end(), times, v);
  return out;
}

class Calibrate : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_);
    write_model(model_);
    std::ofstream(inputs_) << R"({"x": {"type": "float32", "shape": [2, 4, 3, 3], "fill": {"kind": "constant", "value": 1}},
                                 "z": {"type": "float32", "shape": [3, 5], "fill": {"kind": "constant", "value": 1}}})";
    std::ofstream(config_) << R"({"global": {"n_bits": 2, "granularity": {"type": "per_tensor"}}, "min_elements": 0})";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  RunResult calibrate(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"calibrate", model_.string(), out_.string(), "--config", config_.string(),
                                  "--inputs",  inputs_.string(), "--threads", "1", "--force"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_palettize(args);
  }
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("palettize-calibrate-test-" + std::to_string(getpid()));
  std::filesystem::path model_ = dir_ / "model.onnx";
  std::filesystem::path inputs_ = dir_ / "inputs.json";
  std::filesystem::path config_ = dir_ / "config.json";
  std::filesystem::path out_ = dir_ / "sensitivities.safetensors";
};

TEST_F(Calibrate, EachWeightGetsTheMeanSquareOfTheInputChannelItMultiplies) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  const RunResult r = calibrate({"--floor", "0"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("sensitivities of 6 tensors (5 from activations, 1 all 1)"), std::string::npos) << r.out;
  // s is read by Mul, not as a weight: plain clustering, said so (t, 1-D, is not planned at all).
  EXPECT_NE(r.err.find("warning: 's': it is read by Mul (input 1), not as the weight of a Conv, ConvTranspose, MatMul or Gemm; "
                       "its sensitivities are all 1"),
            std::string::npos)
      << r.err;
  const SafetensorsReader reader(out_);
  // Conv group 2: output channels 0-2 read input channels 0-1 (s^2 = 1, 4), 3-5 read 2-3 (9, 16).
  EXPECT_EQ(read_f32(reader, "conv_w"), (std::vector<float>{1, 4, 1, 4, 1, 4, 9, 16, 9, 16, 9, 16}));
  EXPECT_EQ(read_f32(reader, "dw_w"), repeat_each({1, 4, 9, 16}, 9));  // depthwise: channel o, whole kernel
  EXPECT_EQ(read_f32(reader, "tc_w"), repeat_each({1, 4, 9, 16}, 12));  // ConvTranspose [C, M, k...]: row c
  EXPECT_EQ(read_f32(reader, "mm_w"), repeat_each({1, 4, 9, 16, 25}, 2));  // [K, N]: row k
  const std::vector<float> gemm{1, 4, 9, 16, 25};
  std::vector<float> gemm_rows = gemm;
  gemm_rows.insert(gemm_rows.end(), gemm.begin(), gemm.end());
  EXPECT_EQ(read_f32(reader, "gemm_w"), gemm_rows);  // transB: [N, K], column k
  EXPECT_EQ(read_f32(reader, "s"), std::vector<float>(4, 1.0f));
  EXPECT_FALSE(reader.contains("t"));

  // The default floor adds 1e-3 of the tensor's mean; compress takes the file.
  const RunResult floored = calibrate();
  ASSERT_EQ(floored.exit_code, 0) << describe(floored);
  const std::vector<float> mm = read_f32(SafetensorsReader(out_), "mm_w");
  EXPECT_FLOAT_EQ(mm[0], 1 + 0.011f);
  EXPECT_FLOAT_EQ(mm[9], 25 + 0.011f);
  const RunResult compress = run_palettize({"compress", model_.string(), (dir_ / "out.onnx").string(), "--config",
                                            config_.string(), "--sensitivities", out_.string(), "--quiet"});
  EXPECT_EQ(compress.exit_code, 0) << describe(compress);
}

TEST_F(Calibrate, StrictRefusesATensorItCannotCalibrateAndWritesNothing) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  std::filesystem::remove(out_);
  const RunResult r = calibrate({"--strict"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'s': it is read by Mul (input 1), not as the weight of a Conv, ConvTranspose, MatMul or Gemm (--strict)"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_));
}

// One activation read by a Conv (channels on axis 1) and a MatMul (the last axis) has no single channel axis.
TEST_F(Calibrate, AnActivationReadOnTwoChannelAxesIsAnError) {
  onnx::ModelProto model;
  onnx::GraphProto* g = onnx_test::opset13_graph(model, "two_axes");
  *g->add_initializer() = onnx_test::tensor_proto("conv_w", f32({4, 4, 1, 1}, counting(16)).view());
  *g->add_initializer() = onnx_test::tensor_proto("mm_w", f32({3, 2}, counting(6)).view());
  *g->add_node() = node("Conv", {"x", "conv_w"}, "y_conv");
  *g->add_node() = node("MatMul", {"x", "mm_w"}, "y_mm");
  onnx_test::add_value_info(g->mutable_input(), "x", 1, {2, 4, 3, 3});
  onnx_test::add_value_info(g->mutable_output(), "y_conv", 1, {2, 4, 3, 3});
  onnx_test::add_value_info(g->mutable_output(), "y_mm", 1, {2, 4, 3, 2});
  std::ofstream(model_, std::ios::binary) << model.SerializeAsString();
  const RunResult r = calibrate();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'x' is read by weights whose channels lie on different axes (1 and -1)"), std::string::npos)
      << r.err;
}

// calibrate starts the worker with --no-reference: the reference run, whose outputs it never reads, is
// skipped. Here that run would fail (z is one column too wide for t), so the worker is ready only without it,
// and then refuses to score a model.
TEST_F(Calibrate, TheWorkerSkipsTheReferenceRunWithNoReference) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  std::ofstream(inputs_) << R"({"x": {"type": "float32", "shape": [2, 4, 3, 3], "fill": {"kind": "constant", "value": 1}},
                               "z": {"type": "float32", "shape": [3, 6], "fill": {"kind": "constant", "value": 1}}})";
  const std::string worker = "node " + test::shell_quote((std::filesystem::path(PALETTIZE_SOURCE_DIR) /
                                                          "tools/ort/sensitivity_worker.js").string()) +
                             " " + test::shell_quote(model_.string()) + " " + test::shell_quote(inputs_.string());
  const std::string request = test::shell_quote(R"({"model": ")" + model_.string() + R"("})");
  const test::CommandResult with_reference = test::run_command("echo " + request + " | " + worker + " 2>/dev/null");
  EXPECT_EQ(with_reference.exit_code, 1);
  EXPECT_EQ(with_reference.output.find("\"ready\""), std::string::npos) << with_reference.output;
  const test::CommandResult without =
      test::run_command("echo " + request + " | " + worker + " --no-reference 2>/dev/null");
  EXPECT_EQ(without.exit_code, 0) << without.output;
  EXPECT_NE(without.output.find("{\"ready\":true"), std::string::npos) << without.output;
  EXPECT_NE(without.output.find("no reference outputs to score against (--no-reference)"), std::string::npos)
      << without.output;
}

TEST_F(Calibrate, ClearErrors) {
  RunResult r = run_palettize({"calibrate", (dir_ / "m.safetensors").string(), out_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs an .onnx model"), std::string::npos) << r.err;
  std::ofstream(out_) << "x";
  r = run_palettize({"calibrate", model_.string(), out_.string(), "--inputs", inputs_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exists; give --force to overwrite it"), std::string::npos) << r.err;
  r = calibrate({"--floor", "-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--floor must be finite and >= 0, got -1"), std::string::npos) << r.err;
}

// The mapping alone, against a direct loop over (output, input, kernel) for grouped convolutions.
TEST(ActivationImportance, ConvGroupsMapOutputChannelsToTheirInputChannels) {
  for (const int64_t group : {1, 2, 3, 6}) {
    const Shape shape{6, 6 / group, 2, 1};
    std::vector<double> mean_square(6);
    for (int c = 0; c < 6; ++c) mean_square[c] = 1 << c;
    std::vector<double> importance(static_cast<std::size_t>(shape_numel(shape)), 0.5);
    add_activation_importance({WeightUse::Kind::conv, group}, shape, mean_square, importance);
    for (int64_t o = 0; o < 6; ++o) {
      for (int64_t i = 0; i < shape[1]; ++i) {
        for (int64_t k = 0; k < 2; ++k) {
          const double expected = 0.5 + mean_square[(o / (6 / group)) * shape[1] + i];
          EXPECT_EQ(importance[(o * shape[1] + i) * 2 + k], expected) << "group " << group << " o " << o;
        }
      }
    }
  }
}

TEST(ActivationImportance, WeightUsesAndTheirErrors) {
  std::string why;
  TensorConsumer conv{"Conv", "", 1, {"x", "w"}, {{"group", 2}}};
  ASSERT_TRUE(weight_use(conv, {4, 3, 3, 3}, why).has_value()) << why;
  EXPECT_EQ(activation_channel_axis(*weight_use(conv, {4, 3, 3, 3}, why)), 1);
  EXPECT_FALSE(weight_use(conv, {5, 3, 3, 3}, why).has_value());  // 5 outputs in 2 groups
  EXPECT_NE(why.find("Conv weight has shape [5, 3, 3, 3] with group 2"), std::string::npos) << why;
  TensorConsumer gemm{"Gemm", "", 1, {"a", "w"}, {{"transA", 1}}};
  EXPECT_EQ(activation_channel_axis(*weight_use(gemm, {3, 2}, why)), -2);  // A is [K, M]
  TensorConsumer matmul_first{"MatMul", "", 0, {"w", "x"}, {}};
  EXPECT_FALSE(weight_use(matmul_first, {3, 2}, why).has_value());
  EXPECT_NE(why.find("read by MatMul (input 0)"), std::string::npos) << why;
  TensorConsumer batched{"MatMul", "", 1, {"x", "w"}, {}};
  EXPECT_FALSE(weight_use(batched, {2, 3, 2}, why).has_value());
  EXPECT_NE(why.find("3-D weight of MatMul"), std::string::npos) << why;
  std::vector<double> importance(6, 0.0);
  EXPECT_THROW(add_activation_importance({WeightUse::Kind::matmul}, {3, 2}, std::vector<double>(2, 1.0), importance),
               Error);
}

}  // namespace
}  // namespace palettize
