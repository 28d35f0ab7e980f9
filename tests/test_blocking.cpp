#include <gtest/gtest.h>

#include <set>

#include "blocking/blocking.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

PalettizationSpec grouped(int axis, int64_t group_size, int64_t cluster_dim = 1) {
  PalettizationSpec spec;
  spec.granularity = PerGroupedChannelGranularity{axis, group_size};
  spec.cluster_dim = cluster_dim;
  return spec;
}

PalettizationSpec per_tensor(int64_t cluster_dim = 1) {
  PalettizationSpec spec;
  spec.cluster_dim = cluster_dim;
  return spec;
}

// Every element belongs to exactly one item position of exactly one block.
void expect_partition(const Shape& shape, const PalettizationSpec& spec) {
  const BlockLayout layout(shape, spec);
  std::set<int64_t> seen;
  for (int64_t b = 0; b < layout.num_blocks(); ++b) {
    const BlockRect rect = layout.block(b);
    for (int64_t o = rect.o_begin; o < rect.o_end; ++o) {
      for (int64_t r = rect.r_begin; r < rect.r_end; ++r) {
        EXPECT_EQ(layout.block_of(o, r), b);
        for (int64_t j = 0; j < layout.cluster_dim(); ++j) EXPECT_TRUE(seen.insert(layout.element_index(o, r, j)).second);
      }
    }
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), shape_numel(shape));
}

TEST(Blocking, PerTensorIsOneBlock) {
  const BlockLayout layout({4, 6}, per_tensor());
  EXPECT_EQ(layout.num_blocks(), 1);
  EXPECT_EQ(layout.lut_shape(4), (Shape{1, 1, 16, 1}));
  EXPECT_EQ(layout.index_shape(), (Shape{4, 6}));
  expect_partition({4, 6}, per_tensor());
}

TEST(Blocking, GroupedAxis0CutsConsecutiveOutputChannels) {
  const BlockLayout layout({8, 5}, grouped(0, 2));
  EXPECT_EQ(layout.num_blocks(), 4);
  EXPECT_EQ(layout.lut_shape(2), (Shape{4, 1, 4, 1}));
  const BlockRect second = layout.block(1);
  EXPECT_EQ(second.o_begin, 2);
  EXPECT_EQ(second.o_end, 4);
  EXPECT_EQ(second.r_end - second.r_begin, 5);
  expect_partition({8, 5}, grouped(0, 2));
}

TEST(Blocking, GroupedAxis1CutsInputChannels) {
  const BlockLayout layout({3, 6}, grouped(1, 3));
  EXPECT_EQ(layout.num_blocks(), 2);
  EXPECT_EQ(layout.lut_shape(1), (Shape{1, 2, 2, 1}));
  EXPECT_EQ(layout.block_of(0, 2), 0);
  EXPECT_EQ(layout.block_of(2, 3), 1);
  expect_partition({3, 6}, grouped(1, 3));
}

TEST(Blocking, ConvShapesFollowTheReferenceReshape) {
  // (32,16,3,3): axis 0 groups output channels over [32, 144]; axis 1 groups input channels over [288, 16].
  const BlockLayout axis0({32, 16, 3, 3}, grouped(0, 8));
  EXPECT_EQ(axis0.num_blocks(), 4);
  EXPECT_EQ(axis0.lut_shape(4), (Shape{4, 1, 1, 1, 16, 1}));
  const BlockLayout axis1({32, 16, 3, 3}, grouped(1, 4));
  EXPECT_EQ(axis1.num_blocks(), 4);
  EXPECT_EQ(axis1.lut_shape(4), (Shape{1, 4, 1, 1, 16, 1}));
  // Input channel c of every output channel and spatial position lands in block c / 4.
  for (int64_t o = 0; o < 32; ++o)
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t s = 0; s < 9; ++s) EXPECT_EQ(axis1.block_of(o, c * 9 + s), c / 4);
  expect_partition({32, 16, 3, 3}, grouped(1, 4));
  expect_partition({8, 4, 3, 2, 2}, grouped(0, 2));
  expect_partition({8, 4, 3, 2, 2}, grouped(1, 2, 2));
}

TEST(Blocking, VectorsRunAlongOutputChannels) {
  const BlockLayout layout({6, 8}, per_tensor(2));
  EXPECT_EQ(layout.index_shape(), (Shape{3, 8}));
  EXPECT_EQ(layout.lut_shape(2), (Shape{1, 1, 4, 2}));
  // Item (1, 5) holds rows 2 and 3 of column 5.
  EXPECT_EQ(layout.element_index(1, 5, 0), 2 * 8 + 5);
  EXPECT_EQ(layout.element_index(1, 5, 1), 3 * 8 + 5);
  EXPECT_EQ(BlockLayout({12, 16}, grouped(0, 4, 2)).lut_shape(2), (Shape{3, 1, 4, 2}));
  EXPECT_EQ(BlockLayout({12, 16}, grouped(1, 4, 4)).lut_shape(2), (Shape{1, 4, 4, 4}));
  expect_partition({12, 16}, grouped(0, 4, 2));
  expect_partition({12, 16}, grouped(1, 4, 4));
  // Conv with input-channel groups and vectors: vectors still pair output channels at one spatial position.
  const BlockLayout conv({8, 2, 3, 3}, grouped(1, 1, 2));
  EXPECT_EQ(conv.element_index(3, 10, 1), (3 * 2 + 1) * 18 + 10);
}

TEST(Blocking, DivisibleGroupsAreAccepted) {
  EXPECT_EQ(BlockLayout({4, 7}, grouped(0, 2)).num_blocks(), 2);
  EXPECT_EQ(BlockLayout({4, 7}, grouped(0, 4)).num_blocks(), 1);
  EXPECT_EQ(BlockLayout({2, 6}, grouped(1, 3)).num_blocks(), 2);
  EXPECT_EQ(BlockLayout({2, 6}, grouped(1, 6)).num_blocks(), 1);
}

void expect_incompatible(const Shape& shape, const PalettizationSpec& spec, const std::string& fragment) {
  try {
    BlockLayout layout(shape, spec);
    FAIL() << "expected IncompatibleSpecError for " << shape_to_string(shape);
  } catch (const IncompatibleSpecError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Blocking, IncompatibleShapesAreRefusedWithTheShapeAxisAndGroup) {
  expect_incompatible({5, 8}, grouped(0, 3), "Tensor size 5 along axis 0 of shape [5, 8] is not divisible by group_size 3");
  expect_incompatible({3, 7}, grouped(1, 3), "Tensor size 7 along axis 1 of shape [3, 7] is not divisible by group_size 3");
  expect_incompatible({8}, grouped(1, 2), "Tensor shape [8] has insufficient dimensions for axis 1");
  expect_incompatible({3, 8}, per_tensor(2), "not divisible by cluster_dim 2");
  expect_incompatible({12, 8}, grouped(0, 3, 2), "group_size 3 along output channel axis");
  expect_incompatible({3, 12}, grouped(1, 3, 2), "Tensor dimension 3 along output channel axis");
  expect_incompatible({0, 4}, per_tensor(), "empty");
  expect_incompatible({}, per_tensor(), "scalar");
}

TEST(Blocking, UnsetAxisResolvesToZero) {
  PalettizationSpec spec;
  spec.granularity = PerGroupedChannelGranularity{std::nullopt, 2};
  EXPECT_EQ(BlockLayout({4, 6}, spec).lut_shape(1), (Shape{2, 1, 2, 1}));
}

}  // namespace
}  // namespace palettize
