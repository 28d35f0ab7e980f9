// safetensors reader and writer: round trips, the exact byte layout, and every hostile header we refuse.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <sstream>

#include "io_test_helpers.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
namespace {

using ::testing::HasSubstr;
using testing::error_message;
using testing::raw_safetensors;
using testing::ScratchDir;

constexpr DType kAllDTypes[] = {DType::F64, DType::F32,  DType::F16, DType::BF16, DType::F8_E4M3,
                                DType::F8_E5M2, DType::I64, DType::I32, DType::I16, DType::I8,
                                DType::U64, DType::U32,  DType::U16, DType::U8,   DType::BOOL};

Tensor patterned(DType dtype, Shape shape, int seed) {
  Tensor tensor{dtype, shape, {}};
  tensor.data.resize(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype));
  for (std::size_t i = 0; i < tensor.data.size(); ++i) {
    tensor.data[i] = dtype == DType::BOOL ? std::byte((i + seed) % 2) : std::byte((i * 31 + seed) & 0xFF);
  }
  return tensor;
}

std::vector<std::byte> bytes_of(std::span<const std::byte> span) { return {span.begin(), span.end()}; }

TEST(SafetensorsRoundTrip, EveryDtypeEmptyAndScalarTensorsAndMetadata) {
  ScratchDir dir;
  std::vector<NamedTensor> tensors;
  int seed = 0;
  for (DType dtype : kAllDTypes) {
    tensors.push_back({std::string("t_") + std::string(dtype_name(dtype)), patterned(dtype, {2, 3}, seed++)});
  }
  tensors.push_back({"empty", patterned(DType::F16, {0, 4}, 0)});
  tensors.push_back({"scalar", patterned(DType::F32, {}, 7)});
  tensors.push_back({"rank5", patterned(DType::BF16, {1, 2, 1, 3, 2}, 3)});
  tensors.push_back({"unicode \xC3\xA9", patterned(DType::U8, {5}, 9)});
  const Metadata metadata{{"format", "pt"}, {"note", "h\xC3\xA9llo"}};
  write_safetensors(dir / "model.safetensors", tensors, metadata);

  SafetensorsReader reader(dir / "model.safetensors");
  EXPECT_EQ(reader.metadata(), metadata);
  ASSERT_EQ(reader.tensors().size(), tensors.size());
  for (const auto& named : tensors) {
    const TensorView view = reader.view(named.name);
    EXPECT_EQ(view.dtype, named.tensor.dtype) << named.name;
    EXPECT_EQ(view.shape, named.tensor.shape) << named.name;
    EXPECT_EQ(bytes_of(view.data), named.tensor.data) << named.name;
    reader.release(named.name);
    EXPECT_EQ(bytes_of(reader.view(named.name).data), named.tensor.data) << "after release: " << named.name;
  }
}

TEST(SafetensorsRoundTrip, TensorsAreListedInDataOrder) {
  ScratchDir dir;
  std::vector<NamedTensor> tensors{{"z", patterned(DType::F32, {2}, 1)},
                                   {"a", patterned(DType::F32, {3}, 2)},
                                   {"m", patterned(DType::F32, {1}, 3)}};
  write_safetensors(dir / "x.safetensors", tensors);
  SafetensorsReader reader(dir / "x.safetensors");
  std::vector<std::string> names;
  for (const auto& info : reader.tensors()) names.push_back(info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"z", "a", "m"}));
  EXPECT_EQ(reader.info("a").begin, 8u);
  EXPECT_EQ(reader.info("a").end, 20u);
}

TEST(SafetensorsWriter, ExactBytesWithSpacePaddingToEight) {
  const std::vector<TensorDecl> decls{{"w", DType::F16, {2}}};
  const std::vector<std::byte> header = safetensors_header(decls, {{"k", "v"}});
  const std::string json = R"({"__metadata__":{"k":"v"},"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  const std::size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(header.size(), 8 + padded);
  uint64_t length = 0;
  std::memcpy(&length, header.data(), 8);
  EXPECT_EQ(length, padded);
  const std::string text(reinterpret_cast<const char*>(header.data()) + 8, padded);
  EXPECT_EQ(text, json + std::string(padded - json.size(), ' '));
}

TEST(SafetensorsWriter, NoMetadataKeyWhenMetadataIsEmpty) {
  const std::vector<std::byte> header = safetensors_header({}, {});
  const std::string text(reinterpret_cast<const char*>(header.data()) + 8, header.size() - 8);
  EXPECT_EQ(text, "{}      ");
}

TEST(SafetensorsWriter, RefusesBadDeclarations) {
  EXPECT_THAT(error_message([] { safetensors_header(std::vector<TensorDecl>{{"a", DType::F32, {1}}, {"a", DType::F32, {1}}}, {}); }),
              HasSubstr("'a' is declared twice"));
  EXPECT_THAT(error_message([] { safetensors_header(std::vector<TensorDecl>{{"", DType::F32, {1}}}, {}); }),
              HasSubstr("empty name"));
  EXPECT_THAT(error_message([] { safetensors_header(std::vector<TensorDecl>{{"__metadata__", DType::F32, {1}}}, {}); }),
              HasSubstr("__metadata__"));
  EXPECT_THAT(error_message([] { safetensors_header(std::vector<TensorDecl>{{"bad \xFF", DType::F32, {1}}}, {}); }),
              HasSubstr("UTF-8"));
}

TEST(SafetensorsWriter, StreamsInDeclaredOrderOnly) {
  ScratchDir dir;
  {
    OutputFile out(dir / "a.safetensors", false);
    SafetensorsWriter writer(out, {{"x", DType::F32, {2}}, {"y", DType::U8, {3}}}, {});
    std::vector<std::byte> eight(8), three(3), two(2);
    EXPECT_THAT(error_message([&] { writer.write_tensor("y", three); }), HasSubstr("out of order; expected 'x'"));
    EXPECT_THAT(error_message([&] { writer.write_tensor("x", two); }), HasSubstr("has 2 bytes but was declared"));
    writer.write_tensor("x", eight);
    EXPECT_EQ(writer.next().name, "y");
    EXPECT_THAT(error_message([&] { writer.finish(); }), HasSubstr("'y' was declared but not written"));
    writer.write_tensor("y", three);
    EXPECT_FALSE(writer.has_next());
    writer.finish();
    out.commit();
  }
  SafetensorsReader reader(dir / "a.safetensors");
  EXPECT_EQ(reader.tensors().size(), 2u);
}

TEST(SafetensorsWriter, TensorsInPiecesGiveTheSameFileAndCheckTheirSize) {
  ScratchDir dir;
  const Tensor x = patterned(DType::F32, {3}, 1), y = patterned(DType::U8, {5}, 2);
  const std::vector<TensorDecl> decls = {{"x", DType::F32, {3}}, {"y", DType::U8, {5}}};
  {
    OutputFile out(dir / "whole.safetensors", false);
    SafetensorsWriter writer(out, decls, {});
    writer.write_tensor("x", x.data);
    writer.write_tensor("y", y.data);
    writer.finish();
    out.commit();
  }
  {
    OutputFile out(dir / "pieces.safetensors", false);
    SafetensorsWriter writer(out, decls, {});
    const std::span<const std::byte> xs(x.data);
    EXPECT_THAT(error_message([&] { writer.append(xs.first(4)); }), HasSubstr("appended outside a tensor"));
    EXPECT_THAT(error_message([&] { writer.end_tensor(); }), HasSubstr("not begun"));
    EXPECT_THAT(error_message([&] { writer.begin_tensor("y"); }), HasSubstr("out of order; expected 'x'"));
    writer.begin_tensor("x");
    EXPECT_THAT(error_message([&] { writer.begin_tensor("x"); }), HasSubstr("begun before 'x' was ended"));
    EXPECT_THAT(error_message([&] { writer.write_tensor("x", x.data); }), HasSubstr("written before 'x' was ended"));
    writer.append(xs.first(5));
    writer.append(xs.subspan(5, 0));
    EXPECT_THAT(error_message([&] { writer.end_tensor(); }), HasSubstr("'x' has 5 bytes but was declared"));
    EXPECT_THAT(error_message([&] { writer.append(xs); }), HasSubstr("more than its declared 12 bytes"));
    EXPECT_THAT(error_message([&] { writer.finish(); }), HasSubstr("'x' was declared but not completed"));
    writer.append(xs.subspan(5));
    writer.end_tensor();
    writer.begin_tensor("y");
    for (const std::byte b : y.data) writer.append(std::span<const std::byte>(&b, 1));
    writer.end_tensor();
    EXPECT_FALSE(writer.has_next());
    writer.finish();
    out.commit();
  }
  EXPECT_EQ(testing::read_bytes(dir / "pieces.safetensors"), testing::read_bytes(dir / "whole.safetensors"));
}

// ---- hostile files ----

class HostileFile : public ::testing::Test {
 protected:
  // Writes `bytes`, opens them, and returns the error message (which must name the file).
  std::string open_error(const std::vector<std::byte>& bytes) {
    const auto path = dir_ / "hostile.safetensors";
    testing::write_bytes(path, bytes);
    std::string message = error_message([&] { SafetensorsReader reader(path); });
    EXPECT_THAT(message, HasSubstr(path.string()));
    return message;
  }
  std::string open_error(const std::string& header, std::size_t data_size) {
    return open_error(raw_safetensors(header, data_size));
  }
  ScratchDir dir_;
};

TEST_F(HostileFile, TooShortForTheLength) {
  for (std::size_t size = 0; size < 8; ++size) {
    EXPECT_THAT(open_error(std::vector<std::byte>(size)), HasSubstr("too short")) << size;
  }
}

TEST_F(HostileFile, HeaderLengthLargerThanFile) {
  EXPECT_THAT(open_error(raw_safetensors("{}", 0, 100)), HasSubstr("header length 100 is larger than the file"));
}

TEST_F(HostileFile, AbsurdHeaderLength) {
  EXPECT_THAT(open_error(raw_safetensors("{}", 0, uint64_t(1) << 62)), HasSubstr("exceeds the limit"));
  EXPECT_THAT(open_error(raw_safetensors("{}", 0, UINT64_MAX - 1)), HasSubstr("exceeds the limit"));
}

TEST_F(HostileFile, TruncatedAtEveryByte) {
  const std::vector<TensorDecl> decls{{"a", DType::F32, {3}}, {"b", DType::I8, {5}}};
  std::vector<std::byte> bytes = safetensors_header(decls, {{"k", "v"}});
  bytes.resize(bytes.size() + 17, std::byte{1});
  const auto path = dir_ / "full.safetensors";
  testing::write_bytes(path, bytes);
  ASSERT_NO_THROW(SafetensorsReader{path});
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    std::vector<std::byte> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_FALSE(open_error(prefix).empty()) << "truncated to " << size << " bytes";
  }
}

TEST_F(HostileFile, NotUtf8) {
  EXPECT_THAT(open_error("{\"__metadata__\":{\"k\":\"\xFF\xFE\"}}", 0), HasSubstr("invalid JSON"));
  EXPECT_THAT(open_error("{\"\xC3\x28\":{}}", 0), HasSubstr("invalid JSON"));
}

TEST_F(HostileFile, NotJsonOrNotAnObject) {
  EXPECT_THAT(open_error("{\"a\":", 0), HasSubstr("invalid JSON"));
  EXPECT_THAT(open_error("[1,2]", 0), HasSubstr("must be a JSON object, got array"));
  EXPECT_THAT(open_error("\"text\"  ", 0), HasSubstr("must be a JSON object, got string"));
  EXPECT_THAT(open_error("{} x", 0), HasSubstr("invalid JSON"));
  EXPECT_THAT(open_error(std::string("{}\0\0", 4), 0), HasSubstr("invalid JSON"));
}

TEST_F(HostileFile, HeaderLengthTooSmall) {
  EXPECT_THAT(open_error(raw_safetensors("{", 0)), HasSubstr("too small"));
}

TEST_F(HostileFile, OverlappingOffsets) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6),
              HasSubstr("tensor 'b': data_offsets [2, 6] overlap tensor 'a'"));
  // An empty tensor inside another one overlaps it too.
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})", 4),
              HasSubstr("overlap"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4),
              HasSubstr("overlap"));
}

TEST_F(HostileFile, OutOfBoundsOffsets) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 3),
              HasSubstr("tensor 'a': data_offsets [0, 4] lie outside the data section of 3 bytes"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}})", 3),
              HasSubstr("outside the data section"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}})", 4),
              HasSubstr("begin > end"));
}

TEST_F(HostileFile, GapsAndUncoveredBytes) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})", 5),
              HasSubstr("tensor 'b': data_offsets [3, 5] leave a gap of 1 bytes"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3), HasSubstr("gap"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 6),
              HasSubstr("4 trailing bytes belong to no tensor"));
  EXPECT_THAT(open_error("{}", 1), HasSubstr("trailing bytes"));
}

TEST_F(HostileFile, ShapeProductOverflow) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}})", 0),
              HasSubstr("tensor 'a'"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
              HasSubstr("overflows 64 bits"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0),
              HasSubstr("too large"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0),
              HasSubstr("non-negative"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}})", 0),
              HasSubstr("non-negative integers"));
}

TEST_F(HostileFile, RankLimit) {
  std::string shape = "[1";
  for (std::size_t i = 1; i < kMaxSafetensorsRank + 1; ++i) shape += ",1";
  shape += "]";
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,1]}})", 1),
              HasSubstr("longer than 16"));
}

TEST_F(HostileFile, UnknownDtype) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
              HasSubstr("tensor 'a': unknown dtype 'F128'"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":3,"shape":[1],"data_offsets":[0,1]}})", 1),
              HasSubstr("\"dtype\" must be a string"));
}

TEST_F(HostileFile, SizeMismatchWithDtype) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
              HasSubstr("tensor 'a': data_offsets [0, 4] hold 4 bytes but shape [2] of F32 needs 8"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8), HasSubstr("needs 6"));
}

TEST_F(HostileFile, DuplicateNames) {
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                         R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
              HasSubstr("duplicate JSON key \"a\""));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
              HasSubstr("duplicate JSON key \"dtype\""));
  EXPECT_THAT(open_error(R"({"__metadata__":{"k":"1","k":"2"}})", 0), HasSubstr("duplicate JSON key \"k\""));
}

TEST_F(HostileFile, MalformedEntries) {
  EXPECT_THAT(open_error(R"({"a":[1]})", 0), HasSubstr("tensor 'a': entry must be a JSON object"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[1]}})", 1), HasSubstr("missing \"data_offsets\""));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
              HasSubstr("unexpected key \"x\""));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
              HasSubstr("\"data_offsets\" must be [begin, end]"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", 1),
              HasSubstr("\"shape\" must be an array"));
  EXPECT_THAT(open_error(R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1), HasSubstr("empty name"));
  EXPECT_THAT(open_error(R"({"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})", 1),
              HasSubstr("nested deeper"));
}

TEST_F(HostileFile, MalformedMetadata) {
  EXPECT_THAT(open_error(R"({"__metadata__":{"k":1}})", 0), HasSubstr("value of key \"k\" must be a string"));
  EXPECT_THAT(open_error(R"({"__metadata__":"x"})", 0), HasSubstr("\"__metadata__\" must be a JSON object"));
}

TEST_F(HostileFile, NotARegularFile) {
  EXPECT_THAT(error_message([&] { SafetensorsReader reader(dir_.path()); }), HasSubstr("not a regular file"));
  EXPECT_THAT(error_message([&] { SafetensorsReader reader(dir_ / "missing.safetensors"); }),
              HasSubstr("cannot open"));
}

// Arbitrary corruption of a valid file either still parses to a consistent layout or raises palettize::Error;
// nothing else (no other exception, no out-of-bounds access under the sanitizer build).
RC_GTEST_PROP(SafetensorsFuzz, CorruptedFilesParseOrFailCleanly, ()) {
  const std::vector<TensorDecl> decls{{"a", DType::F32, {3}}, {"bb", DType::I8, {2, 2}}, {"e", DType::U8, {0}}};
  std::vector<std::byte> bytes = safetensors_header(decls, {{"k", "v"}});
  bytes.resize(bytes.size() + 16, std::byte{7});
  const auto flips = *rc::gen::container<std::vector<std::pair<std::size_t, uint8_t>>>(
      rc::gen::pair(rc::gen::inRange<std::size_t>(0, bytes.size()), rc::gen::arbitrary<uint8_t>()));
  for (const auto& [position, value] : flips) bytes[position] = std::byte{value};
  const std::size_t keep = *rc::gen::inRange<std::size_t>(0, bytes.size() + 1);
  bytes.resize(keep);
  try {
    const SafetensorsLayout layout = parse_safetensors(bytes, "fuzz");
    uint64_t covered = 0;
    for (const auto& info : layout.tensors) {
      RC_ASSERT(info.begin == covered);
      covered = info.end;
    }
    RC_ASSERT(layout.data_offset + covered == bytes.size());
  } catch (const Error&) {
  }
}

TEST(SafetensorsReader, UnknownTensorNameIsAnError) {
  ScratchDir dir;
  write_safetensors(dir / "a.safetensors", std::vector<NamedTensor>{{"x", patterned(DType::U8, {1}, 0)}});
  SafetensorsReader reader(dir / "a.safetensors");
  EXPECT_THAT(error_message([&] { reader.view("y"); }), HasSubstr("no tensor named 'y'"));
  EXPECT_FALSE(reader.contains("y"));
}

// Resident bytes of the mapping of `path` in this process, from /proc/self/smaps.
uint64_t mapped_rss_kib(const std::filesystem::path& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  uint64_t total = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') != std::string::npos &&
        line.find(':') > line.find(' ')) {
      in_mapping = line.size() >= path.string().size() && line.ends_with(path.string());
    } else if (in_mapping && line.rfind("Rss:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      uint64_t kib = 0;
      fields >> kib;
      total += kib;
    }
  }
  return total;
}

TEST(SafetensorsReader, ReleaseDropsResidentPages) {
  ScratchDir dir;
  const auto path = dir / "big.safetensors";
  write_safetensors(path, std::vector<NamedTensor>{{"big", patterned(DType::U8, {8 << 20}, 0)}});
  SafetensorsReader reader(path);
  const TensorView view = reader.view("big");
  uint64_t sum = 0;
  for (std::size_t i = 1; i < view.data.size(); i += 4096) sum += std::to_integer<uint64_t>(view.data[i]);
  EXPECT_GT(sum, 0u);
  EXPECT_GE(mapped_rss_kib(path), 7u << 10);
  reader.release("big");
  EXPECT_LE(mapped_rss_kib(path), 64u);
}

}  // namespace
}  // namespace palettize
