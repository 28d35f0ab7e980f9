// The palettize tool on ONNX models (build/palettize as a subprocess): compress -> decompress -> eval and
// inspect over initializers, Constant nodes and tensors inside If branches; config rules on graph names;
// mixed precision with the recipe in metadata_props; errors; and, when onnxruntime-node is installed,
// the compressed model runs and gives exactly the decompressed model's outputs.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cli_test_support.hpp"
#include "onnx_test_support.hpp"
#include "palettize/engine.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"
#include "run_command.hpp"

namespace palettize::testing {
namespace {

using nlohmann::json;
namespace ot = onnx_test;

const std::string kThen = "sub.w@main/If_0:then_branch";
const std::string kElse = "sub.w@main/If_0:else_branch";

struct Weights {
  Tensor enc = random_tensor(DType::F16, {64, 32}, 1);    // initializer
  Tensor bias = random_tensor(DType::F32, {64}, 2);       // initializer, rank 1: not eligible
  Tensor dec = random_tensor(DType::F32, {48, 40}, 3);    // Constant node
  Tensor head = random_tensor(DType::F32, {10, 128}, 4);  // 10 rows: w4's groups of 16 cannot apply
  Tensor sub = random_tensor(DType::BF16, {32, 32}, 5);   // Constant in both If branches (same name)
  Tensor ids = int64_tensor({4, 3});                      // not a float tensor: not listed at all
};

onnx::TensorProto int64_proto(const std::string& name, const Tensor& tensor) {
  onnx::TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(7);
  for (int64_t d : tensor.shape) proto.add_dims(d);
  proto.set_raw_data(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size());
  return proto;
}

void add_output(onnx::GraphProto* graph, const std::string& weight, const std::string& output, const Tensor& value,
                bool cast) {
  *graph->add_node() = ot::output_node(weight, output, cast);
  const int32_t type = cast ? 1 : value.dtype == DType::I64 ? 7 : ot::onnx_type(value.dtype);
  ot::add_value_info(graph->mutable_output(), output, type, value.shape);
}

// Every weight is also an output (as float32, the type onnxruntime-node returns), so running the model
// shows the decoded weights. With_if = false leaves out the If (tensor names are then unique).
std::string build_model(const Weights& w, bool with_if) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("palettize-test");
  onnx::OperatorSetIdProto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("cli");
  *g->add_initializer() = ot::tensor_proto("enc.w", w.enc.view());
  *g->add_initializer() = ot::tensor_proto("enc.b", w.bias.view());
  *g->add_initializer() = ot::tensor_proto("head.w", w.head.view());
  *g->add_initializer() = int64_proto("ids", w.ids);
  *g->add_node() = ot::constant_node("dec.w", ot::tensor_proto("dec.w", w.dec.view()));
  add_output(g, "enc.w", "y_enc", w.enc, true);
  add_output(g, "enc.b", "y_bias", w.bias, false);
  add_output(g, "dec.w", "y_dec", w.dec, false);
  add_output(g, "head.w", "y_head", w.head, false);
  add_output(g, "ids", "y_ids", w.ids, false);
  if (with_if) {
    ot::add_constant_if(g, "y_sub", [&](onnx::GraphProto* sub, const std::string& branch) {
      *sub->add_node() = ot::constant_node("sub.w", ot::tensor_proto("sub.w", w.sub.view()));
      add_output(sub, "sub.w", "y_" + branch, w.sub, true);
    });
    ot::add_value_info(g->mutable_output(), "y_sub", 1, w.sub.shape);
  }
  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::map<std::string, json> rows_by_name(const json& report) {
  std::map<std::string, json> rows;
  for (const json& row : report["tensors"]) rows[row["name"].get<std::string>()] = row;
  return rows;
}

// The originals by key, as OnnxModel reads them.
std::map<std::string, Tensor> dense_tensors(const std::filesystem::path& path) {
  std::map<std::string, Tensor> tensors;
  const OnnxModel model = OnnxModel::load(path);
  for (const OnnxTensor& t : model.palettizable_tensors()) {
    tensors[t.key] = Tensor{t.view.dtype, t.view.shape, {t.view.data.begin(), t.view.data.end()}};
  }
  return tensors;
}

class CliOnnx : public ::testing::Test {
 protected:
  void SetUp() override { write_text(model_path(), build_model(weights, true)); }
  std::filesystem::path model_path() const { return scratch / "model.onnx"; }
  RunResult compress(std::vector<std::string> extra, const std::string& out = "out.onnx") {
    std::vector<std::string> args{"compress", model_path().string(), (scratch / out).string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_palettize(args);
  }
  RunResult decompress_out() {
    return run_palettize({"decompress", (scratch / "out.onnx").string(), (scratch / "dense.onnx").string()});
  }
  ScratchDir scratch;
  Weights weights;
};

TEST_F(CliOnnx, CompressThenDecompressGivesTheEngineDecodeUnderTheGraphNames) {
  const RunResult run = compress({});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const json report = run.json();
  std::map<std::string, json> rows = rows_by_name(report);
  ASSERT_EQ(rows.size(), 6u) << report.dump(2);  // every float tensor, none of the int64 ones
  for (const std::string& key : {std::string("enc.w"), std::string("dec.w"), std::string("head.w"), kThen, kElse}) {
    EXPECT_EQ(rows[key]["status"], "palettized") << key;
    EXPECT_EQ(rows[key]["spec_from"], "global") << key;
  }
  EXPECT_EQ(rows["enc.b"]["status"], "copied");
  EXPECT_EQ(report["total"]["palettized"], 5);
  EXPECT_EQ(report["total"]["output_file_bytes"], std::filesystem::file_size(scratch / "out.onnx"));
  EXPECT_EQ(report["total"]["input_file_bytes"], std::filesystem::file_size(model_path()));
  EXPECT_LT(std::filesystem::file_size(scratch / "out.onnx"), std::filesystem::file_size(model_path()));

  const RunResult back = decompress_out();
  ASSERT_EQ(back.exit_code, 0) << describe(back);
  const std::map<std::string, Tensor> originals = dense_tensors(model_path());
  const std::map<std::string, Tensor> restored = dense_tensors(scratch / "dense.onnx");
  ASSERT_EQ(restored.size(), originals.size());
  const OnnxModel compressed = OnnxModel::load(scratch / "out.onnx");
  for (const auto& [key, original] : originals) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(restored.contains(key));
    if (rows[key]["status"] != "palettized") {
      EXPECT_TRUE(same_bytes(restored.at(key).data, original.data));
      continue;
    }
    const PalettizedTensor expected = palettize(original.view(), spec_from_json(rows[key]["spec"]));
    EXPECT_TRUE(same_bytes(restored.at(key).data, decode(expected).data)) << "decode differs from the engine's";
    EXPECT_TRUE(same_bytes(decode(compressed.palettized_tensor(key)).data, decode(expected).data));
    const ErrorMetrics metrics = compare(original.view(), decode(expected).view());
    EXPECT_EQ(rows[key]["sse"].get<double>(), metrics.sse);
  }
  EXPECT_EQ(OnnxModel::load(scratch / "dense.onnx").palettized_keys().size(), 0u);
}

TEST_F(CliOnnx, ConfigRulesMatchTheNamesInTheGraphAndMisfitsAreWarned) {
  write_text(scratch / "config.yaml",
             "global: w4\nrules:\n  - pattern: 'sub\\.w'\n    spec: null\n"
             "  - pattern: 'dec\\..*'\n    spec: {n_bits: 2}\n");
  const RunResult run = compress({"--config", (scratch / "config.yaml").string()});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  std::map<std::string, json> rows = rows_by_name(run.json());
  EXPECT_EQ(rows["enc.w"]["spec"]["n_bits"], 4);
  EXPECT_EQ(rows["enc.w"]["spec"]["granularity"]["group_size"], 16);
  EXPECT_EQ(rows["dec.w"]["spec"]["n_bits"], 2);
  EXPECT_EQ(rows["dec.w"]["spec_from"], "rules[1] (pattern 'dec\\..*')");
  EXPECT_EQ(rows[kThen]["status"], "copied");  // both branches: the rule matches the name, not the key
  EXPECT_EQ(rows[kElse]["status"], "copied");
  EXPECT_EQ(rows["head.w"]["status"], "skipped");
  EXPECT_NE(run.err.find("warning: skipping 'head.w' [10, 128] (spec from global)"), std::string::npos) << run.err;
  EXPECT_EQ(run.json()["warnings"].size(), 1u);

  const RunResult strict = compress({"--preset", "w4", "--strict"}, "strict.onnx");
  EXPECT_EQ(strict.exit_code, 2) << describe(strict);
  EXPECT_NE(strict.err.find("tensor 'head.w' [10, 128]"), std::string::npos) << strict.err;
  EXPECT_FALSE(std::filesystem::exists(scratch / "strict.onnx"));
}

TEST_F(CliOnnx, TableInspectAndEvalDescribeTheModel) {
  const RunResult table =
      run_palettize({"compress", model_path().string(), (scratch / "out.onnx").string(), "--spec", R"({"n_bits":3})"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_NE(table.out.find("total: 5 palettized"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("5 palettized ("), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("1 copied unchanged, 0 skipped"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("wrote " + (scratch / "out.onnx").string()), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(kThen), std::string::npos) << table.out;

  const RunResult inspect = run_palettize({"inspect", (scratch / "out.onnx").string(), "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << describe(inspect);
  std::map<std::string, json> listed = rows_by_name(inspect.json());
  ASSERT_EQ(listed.size(), 6u);
  EXPECT_EQ(listed["dec.w"]["spec"]["n_bits"], 3);
  EXPECT_EQ(listed["dec.w"]["shape"], json::array({48, 40}));
  EXPECT_EQ(listed["dec.w"]["dtype"], "F32");
  EXPECT_TRUE(listed["enc.b"]["spec"].is_null());
  EXPECT_EQ(inspect.json()["total"]["palettized"], 5);
  EXPECT_EQ(inspect.json()["container_version"], "1");
  const RunResult inspect_table = run_palettize({"inspect", model_path().string()});
  ASSERT_EQ(inspect_table.exit_code, 0) << describe(inspect_table);
  EXPECT_NE(inspect_table.out.find("6 tensors, 0 palettized"), std::string::npos) << inspect_table.out;

  const RunResult compressed = compress({"--spec", R"({"n_bits":3})", "--force"});
  ASSERT_EQ(compressed.exit_code, 0) << describe(compressed);
  const RunResult eval = run_palettize({"eval", model_path().string(), (scratch / "out.onnx").string(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << describe(eval);
  std::map<std::string, json> measured = rows_by_name(eval.json());
  std::map<std::string, json> reported = rows_by_name(compressed.json());
  ASSERT_EQ(measured.size(), 6u);
  for (const auto& [name, row] : reported) {
    SCOPED_TRACE(name);
    EXPECT_EQ(measured[name]["bits_per_weight"], row["bits_per_weight"]);
    if (row["status"] == "palettized") EXPECT_EQ(measured[name]["sse"], row["sse"]);
    else EXPECT_EQ(measured[name]["sse"].get<double>(), 0.0);
  }
  EXPECT_EQ(eval.json()["total"]["sse"], compressed.json()["total"]["sse"]);
  const RunResult eval_table = run_palettize({"eval", model_path().string(), (scratch / "out.onnx").string()});
  ASSERT_EQ(eval_table.exit_code, 0) << describe(eval_table);
  EXPECT_NE(eval_table.out.find("files: "), std::string::npos) << eval_table.out;
}

TEST_F(CliOnnx, OutputDoesNotDependOnTheThreadCount) {
  ASSERT_EQ(compress({"--threads", "1", "--spec", R"({"n_bits":4,"cluster_dim":2})"}, "t1.onnx").exit_code, 0);
  ASSERT_EQ(compress({"--threads", "2", "--spec", R"({"n_bits":4,"cluster_dim":2})"}, "t2.onnx").exit_code, 0);
  EXPECT_EQ(read_text(scratch / "t1.onnx"), read_text(scratch / "t2.onnx"));
}

TEST_F(CliOnnx, ErrorsNameTheProblemAndWriteNothing) {
  auto expect_error = [&](const std::vector<std::string>& args, const std::string& message) {
    const RunResult run = run_palettize(args);
    EXPECT_EQ(run.exit_code, 2) << describe(run);
    EXPECT_NE(run.err.find(message), std::string::npos) << describe(run);
  };
  const std::string model = model_path().string();
  const std::string out = (scratch / "out.onnx").string();
  expect_error({"compress", model, model, "--force"}, "would overwrite the input");
  expect_error({"compress", model, (scratch / "out.safetensors").string()}, "does not convert between them");
  expect_error({"decompress", model, (scratch / "out.safetensors").string()}, "does not convert between them");
  expect_error({"eval", model, (scratch / "out.safetensors").string()}, "does not convert between them");
  expect_error({"decompress", model, out}, "not a palettized ONNX model");
  EXPECT_FALSE(std::filesystem::exists(scratch / "out.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(out));

  ASSERT_EQ(compress({}).exit_code, 0);
  expect_error({"compress", model, out}, "already exists (use --force to overwrite)");
  expect_error({"compress", out, (scratch / "again.onnx").string()}, "already a palettized ONNX model");
  expect_error({"decompress", out, out, "--force"}, "would overwrite the input");
  expect_error({"eval", out, model}, "ORIGINAL is a palettized ONNX model");
  expect_error({"compress", model, (scratch / "mixed.onnx").string(), "--target-bits", "3"},
               "is used in several graphs");
  write_text(scratch / "broken.onnx", "not a model");
  expect_error({"compress", (scratch / "broken.onnx").string(), (scratch / "b.onnx").string()}, "cannot parse ONNX");
  EXPECT_FALSE(std::filesystem::exists(scratch / "again.onnx"));
  EXPECT_FALSE(std::filesystem::exists(scratch / "mixed.onnx"));
}

TEST_F(CliOnnx, TargetBitsRecordsTheRecipeInMetadataProps) {
  write_text(model_path(), build_model(weights, false));
  const RunResult run = compress({"--target-bits", "3", "--candidates", "2,4"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_text(scratch / "out.onnx")));
  std::map<std::string, std::string> props;
  for (const auto& entry : proto.metadata_props()) props[entry.key()] = entry.value();
  ASSERT_TRUE(props.contains("palettize.recipe"));
  const json recipe = json::parse(props["palettize.recipe"]);
  EXPECT_FALSE(recipe.empty());
  EXPECT_TRUE(props.contains("palettize.onnx"));
  // The report's specs are the recipe's: the bits it chose, tensor by tensor.
  std::set<int> bits;
  const json report = run.json();
  for (const json& row : report["tensors"]) {
    if (row["status"] == "palettized") bits.insert(row["spec"]["n_bits"].get<int>());
  }
  EXPECT_EQ(bits, (std::set<int>{2, 4})) << run.out;

  ASSERT_EQ(decompress_out().exit_code, 0);
  ASSERT_TRUE(proto.ParseFromString(read_text(scratch / "dense.onnx")));
  for (const auto& entry : proto.metadata_props()) EXPECT_FALSE(entry.key().starts_with("palettize.")) << entry.key();
}

TEST_F(CliOnnx, SensitivitiesWeightTheClusteringByKey) {
  const std::vector<std::string> keys{"enc.w", "dec.w", "head.w", kThen, kElse};
  std::vector<NamedTensor> importances;
  const std::map<std::string, Tensor> originals = dense_tensors(model_path());
  uint32_t seed = 10;
  for (const std::string& key : keys) {
    importances.push_back({key, random_importances(DType::F32, originals.at(key).shape, seed++)});
  }
  write_safetensors(scratch / "imp.safetensors", importances);
  const RunResult run = compress({"--sensitivities", (scratch / "imp.safetensors").string()});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const OnnxModel compressed = OnnxModel::load(scratch / "out.onnx");
  for (const NamedTensor& weight : importances) {
    SCOPED_TRACE(weight.name);
    const std::vector<float> values = to_f32(weight.tensor.view());
    const PalettizedTensor expected = palettize(originals.at(weight.name).view(), default_weight_palettization_spec(),
                                                PalettizeOptions{}, values);
    EXPECT_TRUE(same_bytes(decode(compressed.palettized_tensor(weight.name)).data, decode(expected).data));
  }
  importances.pop_back();
  write_safetensors(scratch / "partial.safetensors", importances);
  const RunResult missing = compress({"--sensitivities", (scratch / "partial.safetensors").string()}, "p.onnx");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no sensitivity tensor '" + kElse + "'"), std::string::npos) << missing.err;
}

// onnxruntime-node (node_modules, installed by scripts/bootstrap) loads the compressed model, and its outputs
// (the weights) equal the decompressed model's bit for bit.
TEST_F(CliOnnx, OnnxRuntimeRunsTheCompressedModel) {
  const std::filesystem::path ort = std::filesystem::path(PALETTIZE_SOURCE_DIR) / "node_modules/onnxruntime-node";
  if (!std::filesystem::exists(ort)) GTEST_SKIP() << "onnxruntime-node not installed (scripts/bootstrap)";
  ASSERT_EQ(compress({"--preset", "w4"}).exit_code, 0);
  ASSERT_EQ(decompress_out().exit_code, 0);
  const test::CommandResult result = test::run_command(
      "node " + test::shell_quote(std::string(PALETTIZE_SOURCE_DIR) + "/tests/ort/same_outputs.js") + " " +
      test::shell_quote((scratch / "out.onnx").string()) + " " + test::shell_quote((scratch / "dense.onnx").string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const json report = json::parse(result.output);
  ASSERT_EQ(report["outputs"].size(), 6u) << report.dump();
  for (const auto& [name, output] : report["outputs"].items()) EXPECT_TRUE(output["equal"].get<bool>()) << name;
}

}  // namespace
}  // namespace palettize::testing
