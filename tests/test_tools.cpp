// The library form of the CLI's operations (palettize/tools.hpp): warnings and progress reach the callbacks
// (and nothing else: the tools never print), option conflicts the CLI parser used to catch are Errors.
#include <gtest/gtest.h>

#include "cli_test_support.hpp"
#include "palettize/tools.hpp"

namespace palettize::testing {
namespace {

using tools::ProgressUpdate;

void write_checkpoint(const std::filesystem::path& path) {
  write_safetensors(path, std::vector<NamedTensor>{{"a.w", random_tensor(DType::F32, {32, 64}, 1)},
                                                   {"odd.w", random_tensor(DType::F16, {10, 128}, 2)},
                                                   {"bias", random_tensor(DType::F32, {32}, 3)}});
}

// Options compressing write_checkpoint's file in `scratch` (written here) to out.safetensors beside it.
tools::CompressOptions checkpoint_options(const ScratchDir& scratch) {
  write_checkpoint(scratch / "in.safetensors");
  tools::CompressOptions options;
  options.input = scratch / "in.safetensors";
  options.output = scratch / "out.safetensors";
  return options;
}

TEST(Tools, WarningsAndProgressGoToTheCallbacks) {
  ScratchDir scratch;
  tools::CompressOptions options = checkpoint_options(scratch);
  options.preset = "w4";
  std::vector<std::string> warnings;
  std::vector<ProgressUpdate> updates;
  std::vector<std::string> names;
  tools::Callbacks callbacks;
  callbacks.warning = [&](const std::string& message) { warnings.push_back(message); };
  callbacks.progress = [&](const ProgressUpdate& update) {
    updates.push_back(update);
    names.emplace_back(update.tensor);
  };
  const tools::CompressResult result = tools::run_compress(options, callbacks);
  EXPECT_EQ(warnings, result.warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("skipping 'odd.w'"), std::string::npos) << warnings[0];
  ASSERT_EQ(updates.size(), 6u);  // start and finish for each of the 3 tensors, in stream order
  uint64_t bytes = 0;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const ProgressUpdate& update = updates[i];
    EXPECT_EQ(update.event, i % 2 ? ProgressUpdate::Event::finish : ProgressUpdate::Event::start);
    EXPECT_EQ(update.total_tensors, 3u);
    EXPECT_EQ(update.done_tensors, (i + 1) / 2);
    EXPECT_EQ(names[i], result.plans[i / 2].name);
    if (i % 2) bytes += result.plans[i / 2].byte_size;
    EXPECT_EQ(update.done_bytes, bytes);
  }
  EXPECT_EQ(updates.back().done_bytes, updates.back().total_bytes);
  const nlohmann::json report = tools::compress_result_json(options, result);
  EXPECT_EQ(report["total"]["skipped"], 1);
  EXPECT_EQ(tools::compress_totals(result).palettized, 1u);
}

TEST(Tools, ConflictingOptionsAreErrors) {
  ScratchDir scratch;
  tools::CompressOptions options = checkpoint_options(scratch);
  options.preset = "w4";
  options.spec_json = R"({"n_bits":2})";
  EXPECT_THROW(
      {
        try {
          tools::run_compress(options);
        } catch (const Error& error) {
          EXPECT_NE(std::string(error.what()).find("exclude each other"), std::string::npos) << error.what();
          throw;
        }
      },
      Error);
  options.spec_json.reset();
  options.target_bits = 3;
  options.sensitivities = scratch / "in.safetensors";
  EXPECT_THROW(tools::run_compress(options), Error);
  EXPECT_FALSE(std::filesystem::exists(scratch / "out.safetensors"));
}

TEST(Tools, EvalOfTheOutputMatchesTheCompressReport) {
  ScratchDir scratch;
  tools::CompressOptions options = checkpoint_options(scratch);
  const tools::CompressResult compressed = tools::run_compress(options);
  const tools::EvalResult evaluated = tools::run_eval(options.input, options.output);
  ASSERT_EQ(evaluated.rows.size(), 3u);
  for (std::size_t i = 0; i < compressed.plans.size(); ++i) {
    SCOPED_TRACE(compressed.plans[i].name);
    EXPECT_EQ(evaluated.rows[i].name, compressed.plans[i].name);
    if (compressed.plans[i].entry) {
      EXPECT_EQ(evaluated.rows[i].metrics.sse, compressed.tensors[i].metrics->sse);
    }
  }
  tools::run_decompress(options.output, scratch / "dense.safetensors", false);
  EXPECT_TRUE(std::filesystem::exists(scratch / "dense.safetensors"));
  EXPECT_THROW(tools::run_decompress(options.output, scratch / "dense.safetensors", false), Error);
}

}  // namespace
}  // namespace palettize::testing
