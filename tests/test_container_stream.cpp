// write_palettized: a palettized entry's parts written straight to a checkpoint, the packed indices in
// pieces, must give the very file that writing encode_palettized's parts gives, and name a bad index by its
// position among all the indices.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "io_test_helpers.hpp"
#include "palettize/container.hpp"
#include "palettize/engine.hpp"

namespace palettize {
namespace {

using ::testing::HasSubstr;
using testing::error_message;
using testing::ScratchDir;

PalettizedTensor palettized_f16(const Shape& shape, const PalettizationSpec& spec) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) v = normal(rng);
  const Tensor w = make_tensor(DType::F16, shape, values);
  return palettize(w.view(), spec);
}

// The entry's parts and a pass-through tensor after them, through CheckpointWriter with write_palettized.
void write_streamed(const std::filesystem::path& path, const ContainerEntry& entry, const PalettizedTensor& p,
                    const Tensor& bias) {
  std::vector<TensorDecl> decls = container_parts(entry);
  decls.push_back({"bias", bias.dtype, bias.shape});
  CheckpointWriter writer(path, {ShardPlan{"ignored", decls, container_metadata({}, {&entry, 1})}}, false);
  write_palettized(writer, entry, p);
  writer.write_tensor("bias", bias.data);
  writer.commit();
}

TEST(ContainerStream, SameFileAsTheWholeParts) {
  // 2,100 x 2,100 = 4.41 M indices: two pieces of 2^22 and a short one, at widths that straddle bytes or not.
  const Tensor bias = make_tensor(DType::F32, {3}, std::vector<float>{1, 2, 3});
  for (const int n_bits : {3, 4}) {
    for (const bool extra_parts : {false, true}) {
      PalettizationSpec spec;
      spec.n_bits = n_bits;
      spec.granularity = PerGroupedChannelGranularity{0, 300};
      if (extra_parts) {  // parts after the indices: LUT scales, zero points, channel scales
        spec.lut_qspec = QuantizationSpec{QuantDtype::uint8, QScheme::asymmetric};
        spec.enable_per_channel_scale = true;
      }
      const ContainerEntry entry = make_container_entry("w", DType::F16, {2100, 2100}, spec);
      const PalettizedTensor p = palettized_f16(entry.shape, spec);
      ScratchDir dir;
      std::vector<NamedTensor> tensors = encode_palettized(entry, p);
      tensors.push_back({"bias", bias});
      write_safetensors(dir / "whole.safetensors", tensors, container_metadata({}, {&entry, 1}));
      write_streamed(dir / "streamed.safetensors", entry, p, bias);
      EXPECT_EQ(testing::read_bytes(dir / "streamed.safetensors"), testing::read_bytes(dir / "whole.safetensors"))
          << "n_bits " << n_bits << (extra_parts ? " with LUT and channel scales" : "");
    }
  }
}

TEST(ContainerStream, IndexTooWideInALaterPieceIsNamedAmongAllIndices) {
  PalettizationSpec spec;
  spec.n_bits = 2;
  const ContainerEntry entry = make_container_entry("w", DType::F16, {2100, 2100}, spec);
  PalettizedTensor p = palettized_f16(entry.shape, spec);
  p.indices[4400000] = 7;  // in the second piece of 2^22
  ScratchDir dir;
  const std::string message =
      error_message([&] { write_streamed(dir / "bad.safetensors", entry, p, make_tensor(DType::F32, {1}, std::vector<float>{0})); });
  EXPECT_THAT(message, HasSubstr("tensor 'w'"));
  EXPECT_THAT(message, HasSubstr("index 7 at position 4400000"));
  EXPECT_TRUE(dir.files().empty()) << "no output, not even a temporary file";
}

}  // namespace
}  // namespace palettize
