#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "error_message.hpp"
#include "palettize/error.hpp"
#include "palettize/tensor.hpp"

namespace palettize {
namespace {

using testing::error_message;

TEST(Shape, NumelMultipliesDimensions) {
  EXPECT_EQ(shape_numel(Shape{4, 8, 3, 3}), 288);
  EXPECT_EQ(shape_numel(Shape{7}), 7);
  EXPECT_EQ(shape_numel(Shape{}), 1);  // a scalar
  EXPECT_EQ(shape_numel(Shape{3, 0, 5}), 0);
  EXPECT_EQ(shape_numel(Shape{int64_t{1} << 62, 0, 8}), 0);  // empty, even though the others overflow
  EXPECT_EQ(shape_numel(Shape{int64_t{1} << 31, int64_t{1} << 31}), int64_t{1} << 62);
}

TEST(Shape, NegativeDimensionIsAnError) {
  const std::string message = error_message([] { shape_numel(Shape{2, -1, 3}); });
  EXPECT_NE(message.find("[2, -1, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("negative"), std::string::npos) << message;
  EXPECT_NE(message.find("axis 1"), std::string::npos) << message;
}

TEST(Shape, OverflowIsAnError) {
  const std::string message = error_message([] { shape_numel(Shape{int64_t{1} << 32, int64_t{1} << 32}); });
  EXPECT_NE(message.find("[4294967296, 4294967296]"), std::string::npos) << message;
  EXPECT_THROW(shape_numel(Shape{std::numeric_limits<int64_t>::max(), 2}), Error);
}

TEST(Shape, ToString) {
  EXPECT_EQ(shape_to_string(Shape{4, 8, 3, 3}), "[4, 8, 3, 3]");
  EXPECT_EQ(shape_to_string(Shape{5}), "[5]");
  EXPECT_EQ(shape_to_string(Shape{}), "[]");
}

TEST(TensorView, CheckSizeAcceptsMatchingBytes) {
  std::vector<std::byte> bytes(2 * 3 * 2);
  const TensorView view{DType::F16, Shape{2, 3}, bytes};
  EXPECT_NO_THROW(view.check_size());
  EXPECT_EQ(view.numel(), 6);
  const TensorView empty{DType::F32, Shape{0, 4}, {}};
  EXPECT_NO_THROW(empty.check_size());
}

TEST(TensorView, CheckSizeNamesShapeDtypeAndByteCounts) {
  std::vector<std::byte> bytes(10);
  const TensorView view{DType::F16, Shape{2, 3}, bytes};
  const std::string message = error_message([&] { view.check_size(); });
  EXPECT_NE(message.find("[2, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("F16"), std::string::npos) << message;
  EXPECT_NE(message.find("needs 12 bytes but has 10"), std::string::npos) << message;
}

TEST(TensorView, CheckSizeCatchesByteCountOverflow) {
  const TensorView view{DType::F64, Shape{int64_t{1} << 61, 2}, {}};
  EXPECT_THROW(view.check_size(), Error);
}

TEST(MakeTensor, RoundsToDtypeAndStoresLittleEndian) {
  const std::vector<float> values = {1.0f, -2.0f, 0.1f, 65520.0f};
  const Tensor tensor = make_tensor(DType::F16, Shape{2, 2}, values);
  EXPECT_EQ(tensor.dtype, DType::F16);
  EXPECT_EQ(tensor.shape, (Shape{2, 2}));
  const std::vector<std::byte> expected = {std::byte{0x00}, std::byte{0x3C}, std::byte{0x00}, std::byte{0xC0},
                                           std::byte{0x66}, std::byte{0x2E}, std::byte{0x00}, std::byte{0x7C}};
  EXPECT_EQ(tensor.data, expected);
  EXPECT_NO_THROW(tensor.view().check_size());
}

TEST(MakeTensor, RoundTripsThroughToF32) {
  const std::vector<float> values = {0.5f, -3.25f, 1.0e-3f, 7.0f, 1.0f / 3.0f, -0.0f};
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const std::vector<float> back = to_f32(make_tensor(dtype, Shape{3, 2}, values).view());
    ASSERT_EQ(back.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(back[i], round_to_dtype(dtype, values[i])) << dtype_name(dtype) << " element " << i;
    }
  }
}

TEST(MakeTensor, ValueCountMustMatchShape) {
  const std::vector<float> values(5);
  const std::string message = error_message([&] { make_tensor(DType::F32, Shape{2, 3}, values); });
  EXPECT_NE(message.find("[2, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("6"), std::string::npos) << message;
  EXPECT_NE(message.find("5"), std::string::npos) << message;
}

TEST(MakeTensor, NonPalettizableDtypeIsRejected) {
  const std::vector<float> values(2);
  const std::string message = error_message([&] { make_tensor(DType::I8, Shape{2}, values); });
  EXPECT_NE(message.find("I8"), std::string::npos) << message;
}

TEST(ToF32, ReadsUnalignedBf16Data) {
  // bf16 1.0 = 0x3F80, -0.5 = 0xBF00, stored little-endian one byte past an aligned start.
  const std::vector<std::byte> storage = {std::byte{0xAA}, std::byte{0x80}, std::byte{0x3F}, std::byte{0x00},
                                          std::byte{0xBF}};
  const TensorView view{DType::BF16, Shape{2}, std::span<const std::byte>(storage).subspan(1)};
  EXPECT_EQ(to_f32(view), (std::vector<float>{1.0f, -0.5f}));
}

TEST(ToF32, ReadsUnalignedF32Data) {
  std::vector<std::byte> storage(1 + 2 * sizeof(float));
  const float values[] = {3.5f, -1.25f};
  std::memcpy(storage.data() + 1, values, sizeof(values));
  const TensorView view{DType::F32, Shape{2}, std::span<const std::byte>(storage).subspan(1)};
  EXPECT_EQ(to_f32(view), (std::vector<float>{3.5f, -1.25f}));
}

TEST(ToF32, RejectsWrongSizeAndUnsupportedDtype) {
  const std::vector<std::byte> bytes(6);
  EXPECT_THROW(to_f32(TensorView{DType::F32, Shape{2}, bytes}), Error);
  const std::string message = error_message([&] { to_f32(TensorView{DType::U16, Shape{3}, bytes}); });
  EXPECT_NE(message.find("U16"), std::string::npos) << message;
  EXPECT_NE(message.find("[3]"), std::string::npos) << message;
}

TEST(ToF32, EmptyTensor) {
  EXPECT_TRUE(to_f32(TensorView{DType::F16, Shape{0, 3}, {}}).empty());
}

}  // namespace
}  // namespace palettize
