#include <gtest/gtest.h>
#include <tbb/task_arena.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "error_message.hpp"
#include "palettize/error.hpp"
#include "palettize/packing.hpp"

namespace palettize {
namespace {

using testing::error_message;

using Bytes = std::vector<uint8_t>;

// The stream definition taken literally, one bit at a time: bit j of index i is stream bit i*n+j, and
// stream bit b is bit b%8 of byte b/8.
Bytes reference_pack(const Bytes& indices, int n_bits) {
  Bytes packed((indices.size() * n_bits + 7) / 8, 0);
  for (std::size_t i = 0; i < indices.size(); ++i) {
    for (int j = 0; j < n_bits; ++j) {
      const std::size_t b = i * n_bits + j;
      if ((indices[i] >> j) & 1) packed[b / 8] |= static_cast<uint8_t>(1u << (b % 8));
    }
  }
  return packed;
}

Bytes random_indices(std::size_t count, int n_bits, std::mt19937& rng) {
  std::uniform_int_distribution<int> index(0, (1 << n_bits) - 1);
  Bytes indices(count);
  for (uint8_t& value : indices) value = static_cast<uint8_t>(index(rng));
  return indices;
}

TEST(Packing, PackedSize) {
  EXPECT_EQ(packed_size_bytes(0, 3), 0u);
  EXPECT_EQ(packed_size_bytes(1, 1), 1u);
  EXPECT_EQ(packed_size_bytes(8, 1), 1u);
  EXPECT_EQ(packed_size_bytes(9, 1), 2u);
  EXPECT_EQ(packed_size_bytes(8, 3), 3u);
  EXPECT_EQ(packed_size_bytes(3, 3), 2u);  // 9 bits
  EXPECT_EQ(packed_size_bytes(5, 6), 4u);  // 30 bits
  EXPECT_EQ(packed_size_bytes(7, 8), 7u);
  EXPECT_EQ(packed_size_bytes(SIZE_MAX, 8), SIZE_MAX);  // no overflow in the computation
}

// Worked by hand from the stream definition.
TEST(Packing, GoldenBytesForEveryWidth) {
  // n=1: bits 0..7 = 1,0,1,1,0,0,0,1 -> 0b10001101; the ninth index starts byte 1.
  EXPECT_EQ(pack_indices(Bytes{1, 0, 1, 1, 0, 0, 0, 1, 1}, 1), (Bytes{0x8D, 0x01}));
  // n=2: 1 | 2<<2 | 3<<4 | 0<<6 = 0b00111001.
  EXPECT_EQ(pack_indices(Bytes{1, 2, 3, 0, 3}, 2), (Bytes{0x39, 0x03}));
  // n=3: byte 0 = idx0 (001, bits 0-2) + idx1 (010, bits 3-5) + low two bits of idx2=011 -> 11010001 = 0xD1.
  //      byte 1 = idx2's top bit 0, idx3=100 at bits 1-3, idx4=101 at bits 4-6, idx5=110's low bit 0
  //             -> 01011000 = 0x58.
  //      byte 2 = idx5's top bits 11, idx6=111 at bits 2-4, idx7=000 -> 00011111 = 0x1F.
  EXPECT_EQ(pack_indices(Bytes{1, 2, 3, 4, 5, 6, 7, 0}, 3), (Bytes{0xD1, 0x58, 0x1F}));
  // n=4: low nibble first.
  EXPECT_EQ(pack_indices(Bytes{1, 2, 3, 4, 5}, 4), (Bytes{0x21, 0x43, 0x05}));
  // n=5: 31 | 1<<5 | 2<<10 = 0x083F over 15 bits.
  EXPECT_EQ(pack_indices(Bytes{31, 1, 2}, 5), (Bytes{0x3F, 0x08}));
  // n=6: 1 | 2<<6 | 3<<12 | 63<<18 = 0xFC3081.
  EXPECT_EQ(pack_indices(Bytes{1, 2, 3, 63}, 6), (Bytes{0x81, 0x30, 0xFC}));
  // n=7: 127 | 0<<7 | 1<<14 = 0x00407F over 21 bits.
  EXPECT_EQ(pack_indices(Bytes{127, 0, 1}, 7), (Bytes{0x7F, 0x40, 0x00}));
  // n=8: one index per byte.
  EXPECT_EQ(pack_indices(Bytes{0, 255, 7}, 8), (Bytes{0x00, 0xFF, 0x07}));
}

TEST(Packing, GoldenBytesUnpack) {
  EXPECT_EQ(unpack_indices(Bytes{0xD1, 0x58, 0x1F}, 3, 8), (Bytes{1, 2, 3, 4, 5, 6, 7, 0}));
  EXPECT_EQ(unpack_indices(Bytes{0x81, 0x30, 0xFC}, 6, 4), (Bytes{1, 2, 3, 63}));
  EXPECT_EQ(unpack_indices(Bytes{0x8D, 0x01}, 1, 9), (Bytes{1, 0, 1, 1, 0, 0, 0, 1, 1}));
}

TEST(Packing, EveryWidthAndLengthMatchesBitByBitReference) {
  std::mt19937 rng(12345);
  for (int n_bits = 1; n_bits <= 8; ++n_bits) {
    for (std::size_t count = 0; count <= 100; ++count) {
      const Bytes indices = random_indices(count, n_bits, rng);
      const Bytes packed = pack_indices(indices, n_bits);
      ASSERT_EQ(packed, reference_pack(indices, n_bits)) << "n_bits " << n_bits << " count " << count;
      ASSERT_EQ(packed.size(), packed_size_bytes(count, n_bits));
      ASSERT_EQ(unpack_indices(packed, n_bits, count), indices) << "n_bits " << n_bits << " count " << count;
    }
  }
}

TEST(Packing, LongStreamsForEveryWidth) {
  std::mt19937 rng(777);
  for (int n_bits = 1; n_bits <= 8; ++n_bits) {
    const Bytes indices = random_indices(100003, n_bits, rng);
    const Bytes packed = pack_indices(indices, n_bits);
    ASSERT_EQ(packed, reference_pack(indices, n_bits)) << "n_bits " << n_bits;
    ASSERT_EQ(unpack_indices(packed, n_bits, indices.size()), indices) << "n_bits " << n_bits;
  }
}

// Long streams are packed and unpacked in chunks on several threads: across chunk boundaries, with a tail that is not a
// whole byte, the stream is still the bit-by-bit one, whatever the thread count.
TEST(Packing, StreamsOfSeveralParallelChunksMatchTheReference) {
  std::mt19937 rng(4242);
  for (int n_bits = 1; n_bits <= 8; ++n_bits) {
    const Bytes indices = random_indices(3 * (std::size_t{1} << 18) + 13, n_bits, rng);
    const Bytes expected = reference_pack(indices, n_bits);
    for (const int threads : {1, 2, 3}) {
      tbb::task_arena arena(threads);
      Bytes packed(expected.size(), 0xAB);
      arena.execute([&] { pack_indices_into(indices, n_bits, packed); });
      ASSERT_EQ(packed, expected) << "n_bits " << n_bits << ", threads " << threads;
      Bytes unpacked(indices.size(), 0xAB);
      arena.execute([&] { unpack_indices_into(expected, n_bits, unpacked); });
      ASSERT_EQ(unpacked, indices) << "n_bits " << n_bits << ", threads " << threads;
    }
  }
}

TEST(Packing, IndexTooWideInALaterChunkIsNamedAtItsPosition) {
  Bytes indices(3 * (std::size_t{1} << 18), 1);
  indices[(std::size_t{1} << 19) + 7] = 4;
  indices.back() = 9;
  const std::string message = error_message([&] { pack_indices(indices, 2); });
  EXPECT_NE(message.find("index 4 at position 524295"), std::string::npos) << message;
}

TEST(Packing, PackIntoABufferOfTheWrongSizeIsAnError) {
  Bytes exact(2);
  pack_indices_into(Bytes{1, 2, 3}, 4, exact);
  EXPECT_EQ(exact, (Bytes{0x21, 0x03}));
  for (const std::size_t size : {1, 3}) {
    Bytes out(size);
    const std::string message = error_message([&] { pack_indices_into(Bytes{1, 2, 3}, 4, out); });
    EXPECT_NE(message.find("need 2 bytes, the buffer has " + std::to_string(size)), std::string::npos) << message;
  }
}

TEST(Packing, UnpackIgnoresBytesPastTheStream) {
  Bytes packed = pack_indices(Bytes{5, 6, 7}, 3);
  packed.insert(packed.end(), {0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  EXPECT_EQ(unpack_indices(packed, 3, 3), (Bytes{5, 6, 7}));
  EXPECT_EQ(unpack_indices(packed, 3, 0), Bytes{});
}

TEST(Packing, IndexTooWideIsAnError) {
  const std::string message = error_message([] { pack_indices(Bytes{1, 7, 8, 0}, 3); });
  EXPECT_NE(message.find("index 8 at position 2"), std::string::npos) << message;
  EXPECT_NE(message.find("3 bits"), std::string::npos) << message;
  EXPECT_THROW(pack_indices(Bytes{2}, 1), Error);
  EXPECT_THROW(pack_indices(Bytes{0, 64}, 6), Error);
  EXPECT_NO_THROW(pack_indices(Bytes{255}, 8));
}

TEST(Packing, BadWidthIsAnError) {
  for (const int n_bits : {0, -1, 9, 16}) {
    const std::string message = error_message([&] { pack_indices(Bytes{0}, n_bits); });
    EXPECT_NE(message.find(std::to_string(n_bits)), std::string::npos) << message;
    EXPECT_THROW(unpack_indices(Bytes{0}, n_bits, 1), Error);
    EXPECT_THROW(packed_size_bytes(1, n_bits), Error);
  }
}

TEST(Packing, ShortInputIsAnError) {
  const std::string message = error_message([] { unpack_indices(Bytes{0, 0}, 3, 8); });
  EXPECT_NE(message.find("need 3 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("only 2"), std::string::npos) << message;
  EXPECT_THROW(unpack_indices(Bytes{}, 1, 1), Error);
  EXPECT_THROW(unpack_indices(Bytes(99), 8, 100), Error);
}

// The size is checked before the result is allocated: an absurd count from a hostile file is an Error, not
// an attempt to allocate it (a fuzz finding of session 10, when the check had moved after the allocation).
TEST(Packing, AbsurdCountIsAnErrorBeforeAnyAllocation) {
  const std::string message = error_message([] { unpack_indices(Bytes(16), 4, SIZE_MAX / 2); });
  EXPECT_NE(message.find("packed indices too short"), std::string::npos) << message;
}

RC_GTEST_PROP(PackingProperty, RoundTripAndMatchesReference, ()) {
  const int n_bits = *rc::gen::inRange(1, 9);
  const auto values = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 1 << n_bits));
  const Bytes indices(values.begin(), values.end());
  const Bytes packed = pack_indices(indices, n_bits);
  RC_ASSERT(packed == reference_pack(indices, n_bits));
  RC_ASSERT(unpack_indices(packed, n_bits, indices.size()) == indices);
}

}  // namespace
}  // namespace palettize
