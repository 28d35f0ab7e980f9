// palettize sensitivity: per-tensor, per-candidate output damage measured in onnxruntime-node on a tiny
// linear model, y = (x + a) + b. Palettizing only `a` changes y by exactly a_hat - a, so the measured
// damage is weight SSE / output signal: the ratio of two tensors' damages equals the ratio of their weight
// SSEs (the unknown signal cancels), and fewer bits give more damage because the optimal clustering SSE
// falls with every added cluster.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "cli_test_support.hpp"
#include "onnx_test_support.hpp"
#include "palettize/engine.hpp"
#include "palettize/safetensors.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

using testing::describe;
using testing::ort_installed;
using testing::run_palettize;
using testing::RunResult;

const std::filesystem::path kSource = PALETTIZE_SOURCE_DIR;
constexpr const char* kSpec = R"({"n_bits": 4, "granularity": {"type": "per_tensor"}})";
const Shape kShape{8, 256};


Tensor weight(uint32_t seed, float scale) {
  Tensor t = testing::random_tensor(DType::F32, kShape, seed);
  auto* values = reinterpret_cast<float*>(t.data.data());
  for (int64_t i = 0; i < t.numel(); ++i) values[i] *= scale;
  return t;
}

// A model of two-input nodes {op, input, weight, output} on x -> y (both kShape), with `weights` as
// initializers.
using BinaryNode = std::tuple<const char*, const char*, const char*, const char*>;
void write_binary_model(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& weights,
                        const std::vector<BinaryNode>& nodes) {
  onnx::ModelProto model;
  onnx::GraphProto* g = onnx_test::opset13_graph(model, "model");
  for (const auto& [name, tensor] : weights) *g->add_initializer() = onnx_test::tensor_proto(name, tensor.view());
  for (const auto& [op_type, in, w, out] : nodes) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op_type);
    n->add_input(in);
    n->add_input(w);
    n->add_output(out);
  }
  onnx_test::add_value_info(g->mutable_input(), "x", 1, kShape);
  onnx_test::add_value_info(g->mutable_output(), "y", 1, kShape);
  std::ofstream(path, std::ios::binary) << model.SerializeAsString();
}

void write_linear_model(const std::filesystem::path& path, const Tensor& a, const Tensor& b) {
  write_binary_model(path, {{"a", a}, {"b", b}}, {{"Add", "x", "a", "xa"}, {"Add", "xa", "b", "y"}});
}

double weight_sse(const Tensor& w, int n_bits) {
  PalettizationSpec spec = parse_spec_json(kSpec);
  spec.n_bits = n_bits;
  return compare(w.view(), decode(palettize(w.view(), spec)).view()).sse;
}

nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(testing::read_text(path)); }
void write_json(const std::filesystem::path& path, const nlohmann::json& json) { std::ofstream(path) << json.dump(); }

class Sensitivity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_);
    write_linear_model(model_, a_, b_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunResult measure(const std::string& candidates, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"sensitivity", model_.string(), table_.string(), "--spec", kSpec, "--input",
                                  "x=8,256", "--candidates", candidates, "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_palettize(args);
  }

  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("palettize-sensitivity-test-" + std::to_string(getpid()));
  std::filesystem::path model_ = dir_ / "linear.onnx";
  std::filesystem::path table_ = dir_ / "table.json";
  Tensor a_ = weight(1, 1.0f);
  Tensor b_ = weight(2, 0.25f);
};

TEST_F(Sensitivity, TableHasEveryTensorAndCandidateAndDamageFollowsWeightError) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  const RunResult r = measure("2,4,8");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json table = read_json(table_);
  ASSERT_EQ(table["tensors"].size(), 2u);
  EXPECT_TRUE(table["sensitivity"]["complete"].get<bool>());
  EXPECT_EQ(table["sensitivity"]["candidates"], nlohmann::json({"n2", "n4", "n8"}));
  for (const char* name : {"a", "b"}) {
    const nlohmann::json& damage = table["tensors"][name];
    ASSERT_EQ(damage.size(), 3u) << name;
    EXPECT_GT(damage["n2"].get<double>(), damage["n4"].get<double>()) << name;
    EXPECT_GT(damage["n4"].get<double>(), damage["n8"].get<double>()) << name;
    EXPECT_GT(damage["n8"].get<double>(), 0.0) << name;
    const double snr = table["sensitivity"]["output_snr_db"][name]["n4"].get<double>();
    EXPECT_NEAR(snr, -10 * std::log10(damage["n4"].get<double>()), 1e-9);
  }
  for (int bits : {2, 4, 8}) {
    const std::string label = "n" + std::to_string(bits);
    const double measured = table["tensors"]["a"][label].get<double>() / table["tensors"]["b"][label].get<double>();
    EXPECT_NEAR(measured / (weight_sse(a_, bits) / weight_sse(b_, bits)), 1.0, 1e-3) << label;
  }
  // b is 4x smaller, so at equal bits its error costs 16x less output SNR.
  EXPECT_GT(table["tensors"]["a"]["n4"].get<double>(), 10 * table["tensors"]["b"]["n4"].get<double>());

  const RunResult plan = run_palettize({"plan", model_.string(), "--spec", kSpec, "--candidates", "2,4,8",
                                        "--importance", table_.string(), "--target-bits", "7.1", "--json", "--quiet"});
  ASSERT_EQ(plan.exit_code, 0) << describe(plan);
  // The plan's objective is the sum of the table's damages of the chosen candidates.
  const nlohmann::json recipe = plan.json()["recipe"];
  ASSERT_EQ(recipe["tensors"].size(), 2u);
  double damage = 0;
  for (const nlohmann::json& tensor : recipe["tensors"]) {
    damage += table["tensors"][tensor["name"].get<std::string>()][tensor["choice"].get<std::string>()].get<double>();
  }
  EXPECT_NEAR(recipe["cost"].get<double>(), damage, 1e-12 + 1e-9 * damage) << recipe.dump();
}

// plan --curve with the table: the vertical axis is the predicted output SNR, and --curve-measure runs
// recipes in onnxruntime on the table's inputs. Here y = x + a + b, so a recipe's output noise is the sum
// of its tensors' errors: its measured SNR is the table's prediction up to the cross term of the two errors.
TEST_F(Sensitivity, CurveDrawsMeasuredOutputSnrBesideThePrediction) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  ASSERT_EQ(measure("2,4,8").exit_code, 0);
  const std::filesystem::path svg = dir_ / "curve.svg";
  const RunResult r = run_palettize({"plan", model_.string(), "--spec", kSpec, "--candidates", "2,4,8",
                                     "--importance", table_.string(), "--curve", svg.string(), "--curve-points", "5",
                                     "--curve-measure", "2", "--json", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const nlohmann::json curve = r.json()["curve"];
  EXPECT_EQ(curve["metric"], "output_snr");
  const nlohmann::json& measured = curve["measured"];
  ASSERT_EQ(measured.size(), 2u + 3u) << measured.dump();  // the lowest and highest sweep budgets, n2, n4, n8
  EXPECT_EQ(measured[0]["label"], "");
  EXPECT_EQ(measured[2]["label"], "n2");
  EXPECT_EQ(measured[4]["label"], "n8");
  for (std::size_t i = 0; i < curve["uniform"].size(); ++i) {
    const nlohmann::json& predicted = curve["uniform"][i];
    const nlohmann::json& point = measured[2 + i];
    EXPECT_EQ(point["bits_per_weight"], predicted["bits_per_weight"]);
    EXPECT_NEAR(point["output_snr_db"].get<double>(), predicted["predicted_output_snr_db"].get<double>(), 0.5)
        << point.dump() << " vs " << predicted.dump();
  }
  EXPECT_NEAR(measured[0]["bits_per_weight"].get<double>(), curve["sweep"][0]["bits_per_weight"].get<double>(), 1e-12);
  EXPECT_NEAR(measured[1]["bits_per_weight"].get<double>(), curve["sweep"][4]["bits_per_weight"].get<double>(), 1e-12);
  const std::string picture = testing::read_text(svg);
  EXPECT_NE(picture.find("output SNR (dB)"), std::string::npos);
  EXPECT_NE(picture.find("mixed precision, measured in onnxruntime"), std::string::npos);

  const RunResult without_table = run_palettize({"plan", model_.string(), "--spec", kSpec, "--curve",
                                                 svg.string(), "--force", "--curve-measure", "2"});
  EXPECT_EQ(without_table.exit_code, 2);
  EXPECT_NE(without_table.err.find("--curve-measure needs --curve and an --importance table"), std::string::npos)
      << without_table.err;
}

TEST_F(Sensitivity, EstimatesUnmeasuredCandidatesFromWeightError) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  ASSERT_EQ(measure("2,4,8").exit_code, 0);
  const nlohmann::json measured = read_json(table_);
  std::filesystem::remove(table_);
  const RunResult r = measure("2,4,8", {"--measure", "4"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("2 measured in this run"), std::string::npos) << r.out;
  const nlohmann::json estimated = read_json(table_);
  EXPECT_EQ(estimated["sensitivity"]["measured"], nlohmann::json({"n4"}));
  for (const char* name : {"a", "b"}) {
    EXPECT_EQ(estimated["sensitivity"]["estimated"][name], nlohmann::json({"n2", "n8"})) << name;
    EXPECT_EQ(estimated["tensors"][name]["n4"], measured["tensors"][name]["n4"]) << name;
    // Output noise is exactly the weight error here, so scaling by weight SSE recovers the measurement.
    for (const char* label : {"n2", "n8"}) {
      EXPECT_NEAR(estimated["tensors"][name][label].get<double>() / measured["tensors"][name][label].get<double>(),
                  1.0, 1e-3) << name << " " << label;
    }
  }
}

TEST_F(Sensitivity, ResumesAPartialTableMeasuringOnlyWhatIsMissing) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  ASSERT_EQ(measure("2,4").exit_code, 0);
  const nlohmann::json full = read_json(table_);
  nlohmann::json partial = full;
  partial["tensors"]["a"].erase("n4");
  partial["tensors"]["b"]["n2"] = 123.0;  // a marker: a resumed run keeps what is there
  partial["sensitivity"]["complete"] = false;
  write_json(table_, partial);

  const RunResult plan = run_palettize({"plan", model_.string(), "--spec", kSpec, "--candidates", "2,4",
                                        "--importance", table_.string(), "--target-bits", "3", "--quiet"});
  EXPECT_EQ(plan.exit_code, 2) << describe(plan);
  EXPECT_NE(plan.err.find("partial sensitivity table"), std::string::npos) << plan.err;

  const RunResult resumed = measure("2,4");
  ASSERT_EQ(resumed.exit_code, 0) << describe(resumed);
  EXPECT_NE(resumed.err.find("3 of 4 measurements already there"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.out.find("1 measured in this run"), std::string::npos) << resumed.out;
  const nlohmann::json table = read_json(table_);
  EXPECT_EQ(table["tensors"]["a"]["n4"], full["tensors"]["a"]["n4"]);  // deterministic measurement
  EXPECT_EQ(table["tensors"]["b"]["n2"].get<double>(), 123.0);
  EXPECT_TRUE(table["sensitivity"]["complete"].get<bool>());
}

TEST_F(Sensitivity, RefusesATableMeasuredForSomethingElse) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  ASSERT_EQ(measure("2,4").exit_code, 0);
  const std::string before = testing::read_text(table_);
  const RunResult candidates = measure("2,4,8");
  EXPECT_EQ(candidates.exit_code, 2);
  EXPECT_NE(candidates.err.find("different candidates"), std::string::npos) << candidates.err;
  const RunResult inputs = measure("2,4", {"--seed", "7"});
  EXPECT_EQ(inputs.exit_code, 2);
  EXPECT_NE(inputs.err.find("different seed"), std::string::npos) << inputs.err;
  write_linear_model(model_, weight(3, 1.0f), b_);
  const RunResult model = measure("2,4");
  EXPECT_EQ(model.exit_code, 2);
  EXPECT_NE(model.err.find("different fingerprint"), std::string::npos) << model.err;
  EXPECT_EQ(testing::read_text(table_), before);  // a refused table is left alone
}

// palettize search: every recipe it considers runs in onnxruntime. `a` costs the output 16x more than `b`
// at equal error, so at 8.2 bits per weight the best recipe gives `a` 8 bits (12 bits per weight with its
// 256-entry F32 LUT) and `b` 4 (4.25); the written recipe is a model config that compress applies within the
// budget.
TEST_F(Sensitivity, SearchFindsTheMeasuredBestRecipeAndWritesItAsAConfig) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  const std::filesystem::path recipe = dir_ / "recipe.json";
  const RunResult r = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "8.2", "--spec", kSpec,
                                     "--candidates", "2,4,8,4@g2", "--input", "x=8,256", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("found by search"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("steps taken: "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("descend: "), std::string::npos) << r.err;  // progress
  const nlohmann::json config = read_json(recipe);
  EXPECT_TRUE(config["global"].is_null()) << config.dump();
  ASSERT_EQ(config["rules"].size(), 2u) << config.dump();
  std::map<std::string, int> bits;
  for (const nlohmann::json& rule : config["rules"]) bits[rule["pattern"]] = rule["spec"]["n_bits"].get<int>();
  EXPECT_EQ(bits["a"], 8) << config.dump();
  EXPECT_EQ(bits["b"], 4) << config.dump();

  const std::filesystem::path out = dir_ / "out.onnx";
  const RunResult compress =
      run_palettize({"compress", model_.string(), out.string(), "--config", recipe.string(), "--json", "--quiet"});
  ASSERT_EQ(compress.exit_code, 0) << describe(compress);
  EXPECT_LE(compress.json()["total"]["bits_per_weight"].get<double>(), 8.2);

  // With exchanges: the descent's recipe is already the best here, so no exchange is taken.
  const RunResult exchanged =
      run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "8.2", "--spec", kSpec,
                     "--candidates", "2,4,8,4@g2", "--input", "x=8,256", "--threads", "1", "--exchange-tries", "3",
                     "--force"});
  ASSERT_EQ(exchanged.exit_code, 0) << describe(exchanged);
  EXPECT_NE(exchanged.out.find(", 0 exchange\n"), std::string::npos) << exchanged.out;
  EXPECT_EQ(read_json(recipe), config);

  const RunResult exists = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "8.2",
                                          "--spec", kSpec, "--input", "x=8,256", "--quiet"});
  EXPECT_EQ(exists.exit_code, 2);
  EXPECT_NE(exists.err.find("exists; give --force to overwrite it"), std::string::npos) << exists.err;
  const RunResult tight = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "1", "--spec",
                                         kSpec, "--candidates", "2,4", "--input", "x=8,256", "--quiet", "--force"});
  EXPECT_EQ(tight.exit_code, 2);
  EXPECT_NE(tight.err.find("--target-bits 1 is below what the smallest candidates take: 2.0"), std::string::npos)
      << tight.err;
}

// y = (x * m) * a + b on x = 1, with m (256 values, too small to plan) 10 on the first half of the columns
// and 0.1 on the rest: a's error reaches the output scaled by m, b's unscaled.
void write_scaled_model(const std::filesystem::path& path, const Tensor& a, const Tensor& b) {
  std::vector<float> m(256, 0.1f);
  std::fill(m.begin(), m.begin() + 128, 10.0f);
  write_binary_model(path, {{"m", make_tensor(DType::F32, {1, 256}, m)}, {"a", a}, {"b", b}},
                     {{"Mul", "x", "m", "xm"}, {"Mul", "xm", "a", "xa"}, {"Add", "xa", "b", "y"}});
}

std::vector<float> read_f32(const std::filesystem::path& file, const std::string& name) {
  const SafetensorsReader reader(file);
  const TensorView view = reader.view(name);
  std::vector<float> values(static_cast<std::size_t>(view.numel()));
  std::memcpy(values.data(), view.data.data(), view.data.size());
  return values;
}

// +sens candidates: a's sensitivities (m^2, what its error costs at the output) beat plain clustering and
// are swapped in; b's (random) do worse and are not. The recipe's sensitivities file holds a's and 1 for b.
TEST_F(Sensitivity, SearchSwapsInWeightedClusteringWhereItMeasuresBetter) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  // a's first half (which m scales by 10) is 20x narrower than the rest: plain clustering spends the LUT on
  // the wide half, m^2-weighted clustering on the narrow half that the output sees.
  Tensor a = a_;
  auto* values = reinterpret_cast<float*>(a.data.data());
  for (int64_t i = 0; i < a.numel(); ++i) values[i] *= (i % 256) < 128 ? 0.05f : 1.0f;
  write_scaled_model(model_, a, b_);
  std::vector<float> for_a(static_cast<std::size_t>(a_.numel())), for_b(for_a.size());
  for (std::size_t i = 0; i < for_a.size(); ++i) {
    for_a[i] = (i % 256) < 128 ? 100.0f : 0.01f;
    for_b[i] = i < 4 ? 1e4f : 1e-4f;  // a LUT for four of b's values: plainly worse
  }
  const std::filesystem::path given = dir_ / "given.safetensors";
  const std::vector<NamedTensor> tensors{{"a", make_tensor(DType::F32, kShape, for_a)},
                                         {"b", make_tensor(DType::F32, kShape, for_b)}};
  write_safetensors(given, tensors);
  // From both at plain 2 bits, within the budget: the swaps are all the search can do.
  const std::filesystem::path start = dir_ / "start.json";
  write_json(start, nlohmann::json::parse(R"({"global": {"n_bits": 2, "granularity": {"type": "per_tensor"}}})"));
  const std::filesystem::path recipe = dir_ / "recipe.json";
  const RunResult r = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "2.1", "--spec",
                                     kSpec, "--candidates", "2,2+sens,4", "--sensitivities", given.string(),
                                     "--start", start.string(), "--input", "x=8,256", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("steps taken: 0 down, 0 fill, 1 swap, "), std::string::npos) << r.out << r.err;
  const std::filesystem::path written = dir_ / "recipe.sensitivities.safetensors";
  EXPECT_NE(r.out.find("--sensitivities " + written.string() + ")"), std::string::npos) << r.out;
  EXPECT_EQ(read_f32(written, "a"), for_a);
  EXPECT_EQ(read_f32(written, "b"), std::vector<float>(for_b.size(), 1.0f));

  RunResult bad = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "2.1", "--spec", kSpec,
                                 "--candidates", "2,2+sens", "--input", "x=8,256", "--force"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("the +sens candidates need --sensitivities FILE"), std::string::npos) << bad.err;
  bad = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "2.1", "--spec", kSpec,
                       "--candidates", "2,4", "--sensitivities", given.string(), "--input", "x=8,256", "--force"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--sensitivities is read only by +sens candidates"), std::string::npos) << bad.err;
  bad = run_palettize({"search", model_.string(), (dir_ / "other.json").string(), "--target-bits", "2.1", "--spec",
                       kSpec, "--candidates", "2,2+sens", "--sensitivities", given.string(), "--input", "x=8,256"});
  EXPECT_EQ(bad.exit_code, 0) << describe(bad);  // other.sensitivities.safetensors did not exist
  bad = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "2.1", "--spec", kSpec,
                       "--candidates", "2,2+sens", "--sensitivities", (dir_ / "table.json").string(), "--input",
                       "x=8,256", "--force"});
  EXPECT_EQ(bad.exit_code, 2);  // not a file: CLI11 says so
}

// --start: a recipe within the budget is only filled (no descent); one outside the grid, or one that leaves
// a searched tensor dense, is an error before anything runs.
TEST_F(Sensitivity, SearchStartsFromAGivenRecipe) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  const std::filesystem::path recipe = dir_ / "recipe.json";
  const std::vector<std::string> search{"search", model_.string(), recipe.string(), "--target-bits", "8.2", "--spec",
                                        kSpec, "--candidates", "2,4,8,4@g2", "--input", "x=8,256", "--threads", "1",
                                        "--force"};
  const RunResult plain = run_palettize(search);
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  const nlohmann::json found = read_json(recipe);

  nlohmann::json low = found;  // every tensor at 2 bits (2.062 with the LUTs): far inside the budget
  for (nlohmann::json& rule : low["rules"]) rule["spec"]["n_bits"] = 2;
  const std::filesystem::path start = dir_ / "start.json";
  write_json(start, low);
  std::vector<std::string> from_low = search;
  from_low.insert(from_low.end(), {"--start", start.string()});
  const RunResult filled = run_palettize(from_low);
  ASSERT_EQ(filled.exit_code, 0) << describe(filled);
  EXPECT_NE(filled.out.find("steps taken: 0 down, "), std::string::npos) << filled.out;
  EXPECT_EQ(filled.out.find(", 0 fill, "), std::string::npos) << filled.out;
  EXPECT_NE(filled.err.find("start: 2.062 bits/weight"), std::string::npos) << filled.err;
  EXPECT_EQ(read_json(recipe), found);  // fill climbs to the descent's optimum on this model

  nlohmann::json six = found;
  six["rules"][0]["spec"]["n_bits"] = 6;
  write_json(start, six);
  RunResult r = run_palettize(from_low);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("the start recipe gives tensor 'a' {"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"n_bits\":6}, which is none of its candidates"), std::string::npos) << r.err;

  nlohmann::json partial = found;
  partial["rules"].erase(1);
  write_json(start, partial);
  r = run_palettize(from_low);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("the start recipe leaves tensor 'b' dense, which the search palettizes"), std::string::npos)
      << r.err;
  EXPECT_EQ(read_json(recipe), found);  // nothing written on error

  // A config that skips b (8 rows, groups of 16), as search config and as start: warned about once.
  const std::filesystem::path config = dir_ / "config.json";
  write_json(config, nlohmann::json::parse(R"({
      "global": {"n_bits": 2, "granularity": {"type": "per_grouped_channel", "group_size": 16}},
      "rules": [{"pattern": "a", "spec": {"n_bits": 2, "granularity": {"type": "per_tensor"}}}]})"));
  r = run_palettize({"search", model_.string(), recipe.string(), "--target-bits", "4.2", "--config",
                     config.string(), "--candidates", "2,4", "--start", config.string(), "--input", "x=8,256",
                     "--threads", "1", "--force"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::size_t first = r.err.find("skipping 'b'");
  EXPECT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("skipping 'b'", first + 1), std::string::npos) << r.err;
}

TEST_F(Sensitivity, ClearErrors) {
  std::ofstream(table_) << R"({"tensors": {}})";
  RunResult r = measure("2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not a table written by palettize sensitivity"), std::string::npos) << r.err;
  std::filesystem::remove(table_);

  r = run_palettize({"sensitivity", (dir_ / "model.safetensors").string(), table_.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs an .onnx model"), std::string::npos) << r.err;

  r = measure("2,5");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("candidate n_bits 5"), std::string::npos) << r.err;

  r = run_palettize({"sensitivity", model_.string(), table_.string(), "--spec", kSpec, "--input", "x=8,a"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'a' is not a dimension"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(table_));
}

TEST_F(Sensitivity, SaysWhatIsMissingToRunOnnxRuntime) {
  ::setenv("PALETTIZE_NODE", (dir_ / "no-node").c_str(), 1);
  RunResult r = measure("2");
  ::unsetenv("PALETTIZE_NODE");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not an executable file"), std::string::npos) << r.err;

  const char* path = std::getenv("PATH");
  const std::string saved_path = path == nullptr ? "" : path;
  ::setenv("PATH", dir_.c_str(), 1);
  r = measure("2");
  ::setenv("PATH", saved_path.c_str(), 1);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("node (Node.js) was not found on PATH"), std::string::npos) << r.err;

  // A worker script in a tree without node_modules: onnxruntime-node is missing there.
  const std::filesystem::path tree = dir_ / "tree" / "tools" / "ort";
  std::filesystem::create_directories(tree);
  std::filesystem::copy_file(kSource / "tools/ort/sensitivity_worker.js", tree / "sensitivity_worker.js");
  ::setenv("PALETTIZE_ORT_WORKER", (tree / "sensitivity_worker.js").c_str(), 1);
  r = measure("2");
  ::unsetenv("PALETTIZE_ORT_WORKER");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("onnxruntime-node is not installed"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(table_));
}

TEST_F(Sensitivity, NamesAMissingModelInput) {
  if (!ort_installed()) GTEST_SKIP() << "onnxruntime-node is not installed (scripts/bootstrap)";
  const RunResult r = run_palettize({"sensitivity", model_.string(), table_.string(), "--spec", kSpec});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("no shape given for the model input 'x'"), std::string::npos) << r.err;
  const RunResult wrong = measure("2", {"--input", "z=1"});
  EXPECT_EQ(wrong.exit_code, 2) << describe(wrong);
  EXPECT_NE(wrong.err.find("the model has no input 'z'"), std::string::npos) << wrong.err;
}

}  // namespace
}  // namespace palettize
