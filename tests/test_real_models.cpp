// Real trained models (scripts/fetch-models) palettized through the ONNX path and run in onnxruntime-node
// (tests/ort/compare.js). Every run of tests/ort/real_models.json: palettize with the run's model config
// (same eligibility and rules as the CLI), check the file size against the palettized sizes, decompress
// and measure the weight SNR, then compare original and palettized outputs on seeded inputs and assert the
// run's thresholds. A fetch failure is a test failure. Measured values are printed as
// "REAL_MODEL_RESULT {json}" lines.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/model_config.hpp"
#include "palettize/onnx_model.hpp"
#include "run_command.hpp"

namespace palettize {
namespace {

const std::filesystem::path kSource = PALETTIZE_SOURCE_DIR;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

const nlohmann::json& suite() {
  static const nlohmann::json json = read_json(kSource / "tests/ort/real_models.json");
  return json;
}

// Model name -> path, fetched once per process; an empty map after a failed fetch (the message is kept).
struct Fetched {
  nlohmann::json paths;
  std::string error;
};
const Fetched& fetched_models() {
  static Fetched fetched = [] {
    Fetched f;
    const test::CommandResult r =
        test::run_command(test::shell_quote((kSource / "scripts/fetch-models").string()) + " --json --quiet");
    if (r.exit_code != 0) f.error = "scripts/fetch-models failed with exit code " + std::to_string(r.exit_code);
    else f.paths = nlohmann::json::parse(r.output);
    return f;
  }();
  return fetched;
}

struct PalettizeSummary {
  int palettized = 0;
  int skipped = 0;
  double expected_bytes = 0;  // original file - dense bytes of palettized tensors + their palettized size
  double seconds = 0;
  std::map<std::string, Tensor> originals;  // dense copies of what was palettized, for the weight SNR
};

PalettizeSummary palettize_model(OnnxModel& model, const ModelConfig& config, std::uintmax_t file_size) {
  PalettizeSummary s;
  s.expected_bytes = static_cast<double>(file_size);
  const auto start = std::chrono::steady_clock::now();
  std::vector<OnnxTensor> tensors = model.palettizable_tensors();  // copy: replacing edits the list
  for (const OnnxTensor& t : tensors) {
    const SpecDecision decision = resolve_tensor_spec(config, t.name, t.view.dtype, t.view.shape);
    if (!decision.spec) continue;
    PalettizedTensor p;
    try {
      p = palettize(t.view, *decision.spec);
    } catch (const IncompatibleSpecError&) {
      ++s.skipped;  // as the CLI does without --strict
      continue;
    }
    s.originals[t.key] = Tensor{t.view.dtype, t.view.shape, {t.view.data.begin(), t.view.data.end()}};
    s.expected_bytes += palettized_size_bits(p) / 8.0 - static_cast<double>(t.view.data.size());
    model.replace_with_palettized(t.key, p);
    ++s.palettized;
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

double weight_snr_db(const std::filesystem::path& palettized_path, const PalettizeSummary& s) {
  OnnxModel restored = OnnxModel::load(palettized_path);
  restored.decompress();
  double signal = 0, noise = 0;
  for (const auto& [key, original] : s.originals) {
    const OnnxTensor* t = restored.find(key);
    if (t == nullptr) throw Error("decompressed model lacks " + key);
    const ErrorMetrics m = compare(original.view(), t->view);
    signal += m.signal;
    noise += m.sse;
  }
  return 10 * std::log10(signal / noise);
}

class RealModel : public ::testing::TestWithParam<int> {};

TEST_P(RealModel, RunsInOnnxRuntimeWithinThresholds) {
  const nlohmann::json& run = suite()["runs"][static_cast<std::size_t>(GetParam())];
  const std::string model_name = run["model"];
  const nlohmann::json& model_json = suite()["models"][model_name];
  const Fetched& fetched = fetched_models();
  ASSERT_TRUE(fetched.error.empty()) << fetched.error << " (see its message above; models are needed for this test)";
  const std::filesystem::path original_path = fetched.paths.at(model_name).get<std::string>();

  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "palettize_real_models";
  std::filesystem::create_directories(dir);
  const std::string stem = model_name + "_" + run["name"].get<std::string>();
  const std::filesystem::path out_path = dir / (stem + ".onnx");
  const std::filesystem::path inputs_path = dir / (stem + ".inputs.json");
  std::filesystem::remove(out_path);

  OnnxModel model = OnnxModel::load(original_path);
  const ModelConfig config = model_config_from_json(run["config"], "real_models.json run " + stem);
  const PalettizeSummary summary = palettize_model(model, config, std::filesystem::file_size(original_path));
  ASSERT_GT(summary.palettized, 0);
  model.save(out_path);

  const double original_size = static_cast<double>(std::filesystem::file_size(original_path));
  const double size = static_cast<double>(std::filesystem::file_size(out_path));
  // Decode subgraphs, part names and metadata cost a little on top of the palettized payload.
  EXPECT_LT(size, summary.expected_bytes + 1024.0 * summary.palettized + 4096) << "expected about "
                                                                                << summary.expected_bytes;
  const double weight_snr = weight_snr_db(out_path, summary);

  std::ofstream(inputs_path) << model_json["inputs"].dump();
  std::string command = "node " + test::shell_quote((kSource / "tests/ort/compare.js").string()) + " " +
                        test::shell_quote(original_path.string()) + " " + test::shell_quote(out_path.string()) + " " +
                        test::shell_quote(inputs_path.string()) + " --sets " + std::to_string(model_json.value("sets", 1));
  if (model_json.contains("ctc"))
    command += " --ctc " + test::shell_quote(fetched.paths.at(model_json["ctc"].get<std::string>()).get<std::string>());
  const test::CommandResult compared = test::run_command(command);
  ASSERT_EQ(compared.exit_code, 0) << "tests/ort/compare.js failed (node and onnxruntime-node installed? "
                                      "run: npm ci --ignore-scripts)\n"
                                   << compared.output;
  const nlohmann::json report = nlohmann::json::parse(compared.output);

  nlohmann::json result{{"model", model_name},
                        {"run", run["name"]},
                        {"palettized_tensors", summary.palettized},
                        {"skipped_tensors", summary.skipped},
                        {"original_bytes", original_size},
                        {"palettized_bytes", size},
                        {"payload_bytes", summary.expected_bytes},
                        {"size_ratio", size / original_size},
                        {"weight_snr_db", weight_snr},
                        {"palettize_seconds", summary.seconds},
                        {"ort", report}};
  std::cout << "REAL_MODEL_RESULT " << result.dump() << std::endl;

  const nlohmann::json expect = run.value("expect", nlohmann::json::object());
  if (expect.contains("max_size_ratio")) {
    EXPECT_LE(size / original_size, expect["max_size_ratio"].get<double>());
  }
  if (expect.contains("min_weight_snr_db")) {
    EXPECT_GE(weight_snr, expect["min_weight_snr_db"].get<double>());
  }
  // Bind each threshold table to a local: iterating items() of a temporary would dangle.
  const nlohmann::json min_snr = expect.value("min_snr_db", nlohmann::json::object());
  for (const auto& [output, minimum] : min_snr.items()) {
    const nlohmann::json& snr = report["outputs"].at(output)["snr_db"];
    if (!snr.is_string()) {  // "inf": identical outputs
      EXPECT_GE(snr.get<double>(), minimum.get<double>()) << "output " << output;
    }
  }
  const nlohmann::json min_iou = expect.value("min_iou", nlohmann::json::object());
  for (const auto& [output, minimum] : min_iou.items())
    EXPECT_GE(report["outputs"].at(output)["iou_at_half"].get<double>(), minimum.get<double>()) << "output " << output;
  const nlohmann::json min_argmax = expect.value("min_argmax_agreement", nlohmann::json::object());
  for (const auto& [output, minimum] : min_argmax.items())
    EXPECT_GE(report["outputs"].at(output)["argmax_agreement"].get<double>(), minimum.get<double>())
        << "output " << output;
  if (expect.value("text_equal", false)) {
    EXPECT_EQ(report["decoded"]["palettized"], report["decoded"]["original"]);
  }
  if (!HasFailure()) std::filesystem::remove(out_path);
  std::filesystem::remove(inputs_path);
}

std::string run_name(const ::testing::TestParamInfo<int>& info) {
  const nlohmann::json& run = suite()["runs"][static_cast<std::size_t>(info.param)];
  return run["model"].get<std::string>() + "_" + run["name"].get<std::string>();
}

INSTANTIATE_TEST_SUITE_P(Runs, RealModel, ::testing::Range(0, static_cast<int>(suite()["runs"].size())), run_name);

}  // namespace
}  // namespace palettize
