// The palettize tool end to end (build/palettize as a subprocess): compress -> decompress -> eval round trips
// for every spec feature and dtype, single-file and sharded; config precedence, presets, skipping, --strict.
// Failures and hostile inputs are in test_cli_errors.cpp.
#include <gtest/gtest.h>

#include <set>

#include "cli_test_support.hpp"
#include "palettize/container.hpp"
#include "palettize/engine.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::testing {
namespace {

using nlohmann::json;

struct SpecCase {
  std::string label;
  Shape shape;
  std::string spec_json;
};

// Every n_bits, both granularities and axes, conv shapes, vectors, per-channel scale and every LUT dtype.
std::vector<SpecCase> spec_cases() {
  std::vector<SpecCase> cases;
  for (int n_bits : {1, 2, 3, 4, 6, 8}) {
    cases.push_back({"n" + std::to_string(n_bits) + "_pt", {16, 40}, R"({"n_bits":)" + std::to_string(n_bits) + "}"});
  }
  const std::string group0 = R"("granularity":{"type":"per_grouped_channel","axis":0,"group_size":4})";
  const std::string group1 = R"("granularity":{"type":"per_grouped_channel","axis":1,"group_size":8})";
  auto lut = [](const char* dtype, const char* scheme) {
    return std::string(R"("lut_qspec":{"dtype":")") + dtype + R"(","qscheme":")" + scheme + R"("})";
  };
  cases.insert(cases.end(), {
      {"g0", {16, 24}, "{\"n_bits\":3," + group0 + "}"},
      {"g0_unset_axis", {16, 24}, R"({"granularity":{"type":"per_grouped_channel","group_size":8}})"},
      {"g1", {12, 32}, "{\"n_bits\":4," + group1 + "}"},
      {"conv_g0", {8, 4, 3, 3}, "{\"n_bits\":4," + group0 + "}"},
      {"conv_g1", {8, 4, 3, 3}, R"({"n_bits":2,"granularity":{"type":"per_grouped_channel","axis":1,"group_size":2}})"},
      {"rank3_pt", {6, 5, 7}, R"({"n_bits":3})"},
      {"cd2_pt", {16, 24}, R"({"n_bits":4,"cluster_dim":2})"},
      {"cd4_g0", {16, 12}, R"({"n_bits":3,"cluster_dim":4,"granularity":{"type":"per_grouped_channel","axis":0,"group_size":8}})"},
      {"cd2_g1", {8, 16}, "{\"n_bits\":2,\"cluster_dim\":2," + group1 + "}"},
      {"cd2_conv", {8, 2, 3, 3}, R"({"n_bits":2,"cluster_dim":2})"},
      {"pcs", {16, 24}, R"({"n_bits":4,"enable_per_channel_scale":true})"},
      {"pcs_g1", {12, 32}, "{\"n_bits\":3,\"enable_per_channel_scale\":true," + group1 + "}"},
      {"lut_int8", {16, 24}, "{\"n_bits\":4," + lut("int8", "symmetric") + "," + group0 + "}"},
      {"lut_int8_clip", {16, 24}, "{\"n_bits\":3," + lut("int8", "symmetric_with_clipping") + "}"},
      {"lut_uint8_asym", {16, 24}, "{\"n_bits\":4," + lut("uint8", "asymmetric") + "," + group0 + "}"},
      {"lut_uint8_sym", {16, 24}, "{\"n_bits\":2," + lut("uint8", "symmetric") + "}"},
      {"lut_e4m3", {16, 24}, "{\"n_bits\":4," + lut("float8_e4m3fn", "symmetric") + "," + group1 + "}"},
      {"lut_e5m2", {16, 24}, "{\"n_bits\":6," + lut("float8_e5m2", "symmetric") + "}"},
      {"lut_int8_pcs_cd2", {16, 24}, "{\"n_bits\":3,\"cluster_dim\":2,\"enable_per_channel_scale\":true," +
                                         lut("int8", "asymmetric") + "}"},
  });
  return cases;
}

struct Fixture {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> spec_of;  // tensor name -> spec JSON
};

// One tensor per (dtype, case), plus tensors that must pass through untouched.
Fixture round_trip_fixture() {
  Fixture fixture;
  uint32_t seed = 1;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (const SpecCase& spec_case : spec_cases()) {
      const std::string name = std::string(dtype_name(dtype)) + "_" + spec_case.label;
      fixture.tensors.push_back({name, random_tensor(dtype, spec_case.shape, seed++)});
      fixture.spec_of[name] = spec_case.spec_json;
    }
  }
  fixture.tensors.push_back({"ids", int64_tensor({4, 3})});
  fixture.tensors.push_back({"bias", random_tensor(DType::F32, {40}, 99)});
  return fixture;
}

// A config with one rule per tensor (exact names have no regex metacharacters here).
std::string config_for(const Fixture& fixture) {
  std::string yaml = "global: null\nmin_elements: 0\nrules:\n";
  for (const auto& [name, spec] : fixture.spec_of) yaml += "  - pattern: '" + name + "'\n    spec: " + spec + "\n";
  return yaml;
}

// What the engine itself gives for the tensor (same default options as the CLI).
PalettizedTensor engine_result(const NamedTensor& tensor, const std::string& spec_json,
                               std::span<const float> importances = {}) {
  return palettize(tensor.tensor.view(), parse_spec_json(spec_json), PalettizeOptions{}, importances);
}

// The container holds exactly the engine's parts, and decompress gives exactly the engine's decode.
void expect_matches_engine(const Fixture& fixture, const Checkpoint& compressed, const Checkpoint& dense) {
  for (const NamedTensor& tensor : fixture.tensors) {
    SCOPED_TRACE(tensor.name);
    const TensorView decompressed = dense.view(tensor.name);
    ASSERT_EQ(decompressed.dtype, tensor.tensor.dtype);
    ASSERT_EQ(decompressed.shape, tensor.tensor.shape);
    const auto spec = fixture.spec_of.find(tensor.name);
    if (spec == fixture.spec_of.end()) {
      EXPECT_TRUE(same_bytes(decompressed.data, tensor.tensor.data)) << "pass-through tensor changed";
      continue;
    }
    const PalettizedTensor expected = engine_result(tensor, spec->second);
    EXPECT_TRUE(same_bytes(decompressed.data, decode(expected).data)) << "decode differs from the engine's";
    const ContainerEntry entry = make_container_entry(tensor.name, tensor.tensor.dtype, tensor.tensor.shape,
                                                      parse_spec_json(spec->second));
    for (const NamedTensor& part : encode_palettized(entry, expected)) {
      EXPECT_TRUE(same_bytes(compressed.view(part.name).data, part.tensor.data)) << part.name << " differs";
    }
  }
}

void expect_eval_matches(const Fixture& fixture, const json& eval) {
  std::set<std::string> keys;
  for (const auto& [key, value] : eval.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"tensors", "total"}));
  std::set<std::string> total_keys;
  for (const auto& [key, value] : eval["total"].items()) total_keys.insert(key);
  EXPECT_EQ(total_keys, (std::set<std::string>{"sse", "snr_db", "bits_per_weight", "compression_ratio"}));
  std::map<std::string, json> rows;
  for (const json& row : eval["tensors"]) {
    std::set<std::string> row_keys;
    for (const auto& [key, value] : row.items()) row_keys.insert(key);
    EXPECT_EQ(row_keys, (std::set<std::string>{"name", "sse", "mse", "snr_db", "max_abs_err", "bits_per_weight"}));
    rows[row["name"].get<std::string>()] = row;
  }
  double total_sse = 0;
  for (const NamedTensor& tensor : fixture.tensors) {
    if (!is_palettizable(tensor.tensor.dtype)) {
      EXPECT_FALSE(rows.contains(tensor.name)) << "only floating tensors are evaluated";
      continue;
    }
    ASSERT_TRUE(rows.contains(tensor.name)) << tensor.name;
    const json& row = rows[tensor.name];
    const auto spec = fixture.spec_of.find(tensor.name);
    if (spec == fixture.spec_of.end()) {
      EXPECT_EQ(row["sse"].get<double>(), 0.0);
      EXPECT_TRUE(row["snr_db"].is_null()) << "exact reconstruction has infinite SNR";
      EXPECT_EQ(row["bits_per_weight"].get<double>(), 8.0 * static_cast<double>(dtype_size(tensor.tensor.dtype)));
      continue;
    }
    const ErrorMetrics expected = compare(tensor.tensor.view(), decode(engine_result(tensor, spec->second)).view());
    EXPECT_DOUBLE_EQ(row["sse"].get<double>(), expected.sse) << tensor.name;
    EXPECT_DOUBLE_EQ(row["max_abs_err"].get<double>(), expected.max_abs_err) << tensor.name;
    EXPECT_LT(row["bits_per_weight"].get<double>(), 8.0 * static_cast<double>(dtype_size(tensor.tensor.dtype)));
    total_sse += expected.sse;
  }
  EXPECT_NEAR(eval["total"]["sse"].get<double>(), total_sse, 1e-12 * total_sse);
  EXPECT_GT(eval["total"]["compression_ratio"].get<double>(), 1.0);
}

TEST(Cli, RoundTripEverySpecFeatureAndDtypeMatchesTheEngineBitForBit) {
  ScratchDir dir;
  const Fixture fixture = round_trip_fixture();
  write_safetensors(dir / "model.safetensors", fixture.tensors, {{"format", "pt"}});
  std::ofstream(dir / "config.yaml") << config_for(fixture);
  const auto input_bytes = read_bytes(dir / "model.safetensors");

  const RunResult compress = run_palettize({"compress", (dir / "model.safetensors").string(),
                                            (dir / "small.safetensors").string(), "--config",
                                            (dir / "config.yaml").string(), "--json"});
  ASSERT_EQ(compress.exit_code, 0) << describe(compress);
  EXPECT_EQ(compress.err, "") << "no warnings expected";
  const json report = compress.json();
  EXPECT_EQ(report["total"]["palettized"].get<std::size_t>(), fixture.spec_of.size());
  EXPECT_EQ(report["total"]["copied"].get<int>(), 2);

  const RunResult decompress = run_palettize({"decompress", (dir / "small.safetensors").string(),
                                              (dir / "dense.safetensors").string()});
  ASSERT_EQ(decompress.exit_code, 0) << describe(decompress);
  const Checkpoint compressed(dir / "small.safetensors");
  const Checkpoint dense(dir / "dense.safetensors");
  EXPECT_EQ(dense.tensors().size(), fixture.tensors.size());
  EXPECT_EQ(dense.shard(0).metadata(), (Metadata{{"format", "pt"}})) << "user metadata kept, container keys gone";
  EXPECT_EQ(compressed.shard(0).metadata().at("format"), "pt");
  expect_matches_engine(fixture, compressed, dense);

  const RunResult eval = run_palettize({"eval", (dir / "model.safetensors").string(),
                                        (dir / "small.safetensors").string(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << describe(eval);
  expect_eval_matches(fixture, eval.json());
  EXPECT_TRUE(same_bytes(read_bytes(dir / "model.safetensors"), input_bytes)) << "the input was modified";
}

TEST(Cli, ShardedCheckpointsRoundTripShardByShard) {
  ScratchDir dir;
  const Fixture all = round_trip_fixture();
  Fixture fixture;
  std::vector<std::vector<NamedTensor>> shards(3);
  for (std::size_t i = 0; i < all.tensors.size(); i += 5) {  // a sample keeps the test quick
    fixture.tensors.push_back(all.tensors[i]);
    if (all.spec_of.contains(all.tensors[i].name)) fixture.spec_of[all.tensors[i].name] = all.spec_of.at(all.tensors[i].name);
    shards[fixture.tensors.size() % 3].push_back(all.tensors[i]);
  }
  shards[2].push_back({"step_ids", int64_tensor({2, 2})});
  fixture.tensors.push_back(shards[2].back());
  write_sharded(dir / "model.safetensors.index.json", shards);
  std::ofstream(dir / "config.yaml") << config_for(fixture);

  const RunResult compress = run_palettize({"compress", (dir / "model.safetensors.index.json").string(),
                                            (dir / "small.safetensors.index.json").string(), "--config",
                                            (dir / "config.yaml").string()});
  ASSERT_EQ(compress.exit_code, 0) << describe(compress);
  const Checkpoint compressed(dir / "small.safetensors.index.json");
  EXPECT_TRUE(compressed.is_sharded());
  EXPECT_EQ(compressed.shard_files(), (std::vector<std::string>{"small-00001-of-00003.safetensors",
                                                                "small-00002-of-00003.safetensors",
                                                                "small-00003-of-00003.safetensors"}));
  const Checkpoint input(dir / "model.safetensors.index.json");
  for (const CheckpointEntry& tensor : input.tensors()) {
    const std::string stored = fixture.spec_of.contains(tensor.name) ? tensor.name + ".lut" : tensor.name;
    EXPECT_EQ(compressed.entry(stored).shard, tensor.shard) << tensor.name << " moved to another shard";
  }

  const RunResult decompress = run_palettize({"decompress", (dir / "small.safetensors.index.json").string(),
                                              (dir / "dense.safetensors.index.json").string()});
  ASSERT_EQ(decompress.exit_code, 0) << describe(decompress);
  const Checkpoint dense(dir / "dense.safetensors.index.json");
  for (const CheckpointEntry& tensor : input.tensors()) EXPECT_EQ(dense.entry(tensor.name).shard, tensor.shard);
  expect_matches_engine(fixture, compressed, dense);

  const RunResult eval = run_palettize({"eval", (dir / "model.safetensors.index.json").string(),
                                        (dir / "small.safetensors.index.json").string(), "--json"});
  ASSERT_EQ(eval.exit_code, 0) << describe(eval);
  expect_eval_matches(fixture, eval.json());

  const RunResult single_out = run_palettize({"compress", (dir / "model.safetensors.index.json").string(),
                                              (dir / "one.safetensors").string()});
  EXPECT_EQ(single_out.exit_code, 2) << describe(single_out);
  EXPECT_NE(single_out.err.find("is sharded, so the output must be an index too"), std::string::npos);
}

// A small "model": two layers, a bias, an embedding whose 30 rows do not split into groups of 16, a tiny tensor.
std::vector<NamedTensor> layered_model() {
  return {{"layers.0.weight", random_tensor(DType::F16, {32, 64}, 1)},
          {"layers.0.bias", random_tensor(DType::F16, {32}, 2)},
          {"layers.1.weight", random_tensor(DType::F16, {32, 64}, 3)},
          {"embed", random_tensor(DType::BF16, {30, 40}, 4)},
          {"small", random_tensor(DType::F32, {8, 8}, 5)}};
}

// Tensor name -> its spec JSON in the container (null when stored dense), read with `inspect --json`.
std::map<std::string, json> inspected_specs(const std::filesystem::path& file) {
  const RunResult inspect = run_palettize({"inspect", file.string(), "--json"});
  EXPECT_EQ(inspect.exit_code, 0) << describe(inspect);
  std::map<std::string, json> specs;
  const json report = inspect.json();
  for (const json& row : report["tensors"]) specs[row["name"].get<std::string>()] = row["spec"];
  return specs;
}

json resolved(const std::string& preset) { return spec_to_json(preset_spec(preset).with_resolved_axis()); }

TEST(Cli, PresetAppliesToEligibleTensorsAndSkipsMisfitsWithAWarning) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--preset", "w4"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_NE(run.err.find("palettize: warning: skipping 'embed' [30, 40] (spec from global): "), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("group_size"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("layers.0.weight"), std::string::npos) << "summary table lists palettized tensors";
  EXPECT_NE(run.out.find("2 palettized"), std::string::npos) << run.out;
  const auto specs = inspected_specs(dir / "o.safetensors");
  EXPECT_EQ(specs.at("layers.0.weight"), resolved("w4"));
  EXPECT_EQ(specs.at("layers.1.weight"), resolved("w4"));
  EXPECT_TRUE(specs.at("layers.0.bias").is_null()) << "rank 1 is not eligible";
  EXPECT_TRUE(specs.at("embed").is_null()) << "skipped: 30 rows are not a multiple of 16";
  EXPECT_TRUE(specs.at("small").is_null()) << "64 elements < min_elements 1024";
}

TEST(Cli, StrictTurnsASkippedTensorIntoAnErrorAndWritesNothing) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--preset", "w4", "--strict"});
  EXPECT_EQ(run.exit_code, 2) << describe(run);
  EXPECT_NE(run.err.find("palettize: error: tensor 'embed' [30, 40]"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("--strict"), std::string::npos) << run.err;
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"m.safetensors"}));
}

TEST(Cli, WithoutAConfigTheDefaultSpecApplies) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_EQ(run.out, "") << "--quiet prints no table";
  const auto specs = inspected_specs(dir / "o.safetensors");
  const json default_spec = spec_to_json(default_weight_palettization_spec());
  EXPECT_EQ(specs.at("layers.0.weight"), default_spec);
  EXPECT_EQ(specs.at("embed"), default_spec) << "per-tensor fits any shape";
  EXPECT_TRUE(specs.at("small").is_null());
}

TEST(Cli, ConfigRulesOverrideGlobalAndTheLastMatchWins) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  std::ofstream(dir / "c.yaml") << "global: w8\n"
                                   "min_elements: 64\n"
                                   "rules:\n"
                                   "  - pattern: 'layers\\..*'\n"
                                   "    spec: {n_bits: 2}\n"
                                   "  - pattern: 'layers\\.1\\..*'\n"
                                   "    spec: w6\n"
                                   "  - pattern: 'embed'\n"
                                   "    spec: null\n";
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--config", (dir / "c.yaml").string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const auto specs = inspected_specs(dir / "o.safetensors");
  EXPECT_EQ(specs.at("layers.0.weight"), spec_to_json(parse_spec_json(R"({"n_bits":2})")));
  EXPECT_EQ(specs.at("layers.1.weight"), resolved("w6"));
  EXPECT_TRUE(specs.at("embed").is_null()) << "a null rule leaves the tensor dense";
  EXPECT_EQ(specs.at("small"), resolved("w8")) << "min_elements 64 makes the 8x8 tensor eligible";
  std::map<std::string, json> rows;
  const json report = run.json();
  for (const json& row : report["tensors"]) rows[row["name"].get<std::string>()] = row;
  EXPECT_EQ(rows.at("layers.1.weight")["spec_from"], "rules[1] (pattern 'layers\\.1\\..*')");
  EXPECT_EQ(rows.at("embed")["status"], "copied");
  EXPECT_EQ(rows.at("embed")["reason"], "disabled by rules[2] (pattern 'embed')");
}

TEST(Cli, SpecOptionIsAGlobalSpec) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--spec", R"({"n_bits":3,"cluster_dim":2})", "--quiet"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  EXPECT_EQ(inspected_specs(dir / "o.safetensors").at("layers.1.weight"),
            spec_to_json(parse_spec_json(R"({"n_bits":3,"cluster_dim":2})")));
}

TEST(Cli, SensitivitiesWeightTheClusteringExactlyAsInTheEngine) {
  ScratchDir dir;
  const std::vector<NamedTensor> model = layered_model();
  write_safetensors(dir / "m.safetensors", model);
  std::vector<NamedTensor> importances;
  for (const NamedTensor& tensor : model) {  // F16 importances: converted to float32 by the tool
    importances.push_back({tensor.name, random_importances(DType::F16, tensor.tensor.shape, 7)});
  }
  write_safetensors(dir / "s.safetensors", importances);
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                       "--spec", R"({"n_bits":2})", "--sensitivities", (dir / "s.safetensors").string()});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const Checkpoint compressed(dir / "o.safetensors");
  const std::vector<float> weights = to_f32(importances[0].tensor.view());
  const PalettizedTensor expected = engine_result(model[0], R"({"n_bits":2})", weights);
  const ContainerEntry entry = make_container_entry(model[0].name, DType::F16, {32, 64}, parse_spec_json(R"({"n_bits":2})"));
  for (const NamedTensor& part : encode_palettized(entry, expected)) {
    EXPECT_TRUE(same_bytes(compressed.view(part.name).data, part.tensor.data)) << part.name;
  }
  const PalettizedTensor unweighted = engine_result(model[0], R"({"n_bits":2})");
  EXPECT_FALSE(same_bytes(decode(unweighted).data, decode(expected).data)) << "the importances must matter here";
}

TEST(Cli, OutputIsByteIdenticalForAnyThreadCount) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  std::ofstream(dir / "c.yaml") << "global: {n_bits: 3, cluster_dim: 2}\n"
                                   "rules:\n  - {pattern: 'layers\\.1\\..*', spec: w6}\n";
  for (const char* threads : {"1", "2", "0"}) {
    const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(),
                                         (dir / (std::string("t") + threads + ".safetensors")).string(), "--config",
                                         (dir / "c.yaml").string(), "--threads", threads, "--seed", "5", "--quiet"});
    ASSERT_EQ(run.exit_code, 0) << describe(run);
  }
  EXPECT_EQ(read_bytes(dir / "t1.safetensors"), read_bytes(dir / "t2.safetensors"));
  EXPECT_EQ(read_bytes(dir / "t1.safetensors"), read_bytes(dir / "t0.safetensors"));
}

TEST(Cli, InspectListsPlainAndPalettizedTensors) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", layered_model());
  const RunResult plain = run_palettize({"inspect", (dir / "m.safetensors").string()});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_NE(plain.out.find("5 tensors, 0 palettized"), std::string::npos) << plain.out;
  ASSERT_EQ(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                           "--preset", "w8", "--quiet"}).exit_code, 0);
  const RunResult table = run_palettize({"inspect", (dir / "o.safetensors").string()});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_NE(table.out.find("n8 pt"), std::string::npos) << table.out;
  const json inspect = run_palettize({"inspect", (dir / "o.safetensors").string(), "--json"}).json();
  EXPECT_EQ(inspect["container_version"], "1");
  EXPECT_EQ(inspect["total"]["palettized"], 3);
  for (const json& row : inspect["tensors"]) {
    if (row["name"] == "layers.0.weight") {
      EXPECT_EQ(row["stored_as"], (json{"layers.0.weight.lut", "layers.0.weight.indices"}));
      EXPECT_EQ(row["bytes"], 32 * 64 + 256 * 2);  // 8-bit indices + a 256-entry F16 LUT
      EXPECT_DOUBLE_EQ(row["bits_per_weight"].get<double>(), 8.0 * (32 * 64 + 512) / (32 * 64));
    }
  }
}

TEST(Cli, SpecCheckPrintsTheNormalizedSpec) {
  const RunResult ok = run_palettize({"spec", "check", R"({"n_bits":6})"});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_EQ(json::parse(ok.out), spec_to_json(parse_spec_json(R"({"n_bits":6})")));
  EXPECT_EQ(ok.out, spec_to_json_string(parse_spec_json(R"({"n_bits":6})")) + "\n");
  const RunResult bad = run_palettize({"spec", "check", R"({"n_bits":5})"});
  EXPECT_EQ(bad.exit_code, 2) << describe(bad);
  EXPECT_NE(bad.err.find("n_bits must be one of {1, 2, 3, 4, 6, 8}, got 5"), std::string::npos) << bad.err;
}

TEST(Cli, VersionAndHelpForEveryCommand) {
  const RunResult version = run_palettize({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("palettize ") + PALETTIZE_VERSION + "\n");
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--help"}, {"compress", "--help"}, {"decompress", "--help"}, {"inspect", "--help"}, {"eval", "--help"},
           {"spec", "--help"}, {"spec", "check", "--help"}}) {
    const RunResult help = run_palettize(args);
    EXPECT_EQ(help.exit_code, 0) << describe(help);
    EXPECT_NE(help.out.find("Usage"), std::string::npos) << describe(help);
  }
}

}  // namespace
}  // namespace palettize::testing
