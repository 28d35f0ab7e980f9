#include "bench_workload.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "palettize/error.hpp"
#include "palettize/safetensors.hpp"

namespace palettize::bench {

Tensor load_workload(const std::filesystem::path& path) {
  const SafetensorsReader reader(path);
  const TensorView view = reader.view("weight");
  check(view.shape.size() == 2, path.string(), ": workload tensor 'weight' must be 2-D, got ",
        shape_to_string(view.shape));
  Tensor tensor{view.dtype, view.shape, {}};
  tensor.data.assign(view.data.begin(), view.data.end());
  return tensor;
}

Tensor generate_workload(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::student_t_distribution<float> student(5.0f);
  std::vector<float> values(static_cast<std::size_t>(rows * cols));
  for (float& value : values) value = 0.02f * student(engine);
  return make_tensor(DType::F16, {rows, cols}, values);
}

namespace {

PalettizationSpec make_spec(int n_bits, int64_t group_size) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  if (group_size > 0) spec.granularity = PerGroupedChannelGranularity{0, group_size};
  return spec;
}

struct Granularity {
  const char* name;
  int64_t group_size;  // 0 = one LUT per tensor
};
constexpr Granularity kGranularities[] = {{"tensor", 0}, {"g32", 32}, {"g16", 16}, {"g8", 8}, {"row", 1}};

}  // namespace

std::vector<BenchConfig> spec_matrix() {
  std::vector<BenchConfig> configs;
  for (const int n_bits : {2, 4, 6, 8}) {
    for (const Granularity& g : kGranularities) {
      configs.push_back({"n" + std::to_string(n_bits) + "/" + g.name, make_spec(n_bits, g.group_size)});
    }
  }
  for (const int64_t cluster_dim : {2, 4}) {
    for (const Granularity& g : {kGranularities[0], kGranularities[2]}) {
      BenchConfig config{std::string("n4/") + g.name + "/cd" + std::to_string(cluster_dim), make_spec(4, g.group_size)};
      config.spec.cluster_dim = cluster_dim;
      configs.push_back(config);
    }
  }
  for (const Granularity& g : {kGranularities[0], kGranularities[2], kGranularities[4]}) {
    for (const int variant : {0, 1, 2}) {
      BenchConfig config{std::string("n4/") + g.name, make_spec(4, g.group_size)};
      const bool scale = variant != 1;
      const bool int8_lut = variant != 0;
      config.spec.enable_per_channel_scale = scale;
      if (int8_lut) config.spec.lut_qspec = QuantizationSpec{};  // int8, symmetric, per-tensor
      config.name += scale && int8_lut ? "/scale+int8lut" : scale ? "/scale" : "/int8lut";
      configs.push_back(config);
    }
  }
  return configs;
}

int64_t subset_rows(const PalettizationSpec& spec, int64_t rows, int64_t baseline_rows) {
  if (!spec.is_grouped()) return rows;
  const int64_t block = std::get<PerGroupedChannelGranularity>(spec.granularity).group_size;
  const int64_t unit = std::lcm(block, spec.cluster_dim);
  return std::min(rows, (std::max<int64_t>(baseline_rows, 1) + unit - 1) / unit * unit);
}

SquaredError squared_error(const TensorView& original, const TensorView& reconstructed, int64_t subset_rows) {
  check(original.shape == reconstructed.shape && original.shape.size() == 2, "squared_error: shapes ",
        shape_to_string(original.shape), " and ", shape_to_string(reconstructed.shape), " differ or are not 2-D");
  const int64_t cols = original.shape[1];
  const std::size_t subset_end = static_cast<std::size_t>(subset_rows * cols);
  SquaredError error;
  const std::size_t count = static_cast<std::size_t>(original.numel());
  for (std::size_t i = 0; i < count; ++i) {
    const double diff = static_cast<double>(load_as_f32(original.dtype, original.data.data(), i)) -
                        load_as_f32(reconstructed.dtype, reconstructed.data.data(), i);
    error.total += diff * diff;
    if (i + 1 == subset_end) error.subset = error.total;
  }
  if (subset_end >= count) error.subset = error.total;
  return error;
}

}  // namespace palettize::bench
