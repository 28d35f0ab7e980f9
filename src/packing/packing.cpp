#include "palettize/packing.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "palettize/error.hpp"

namespace palettize {

namespace {

void check_n_bits(int n_bits) {
  check(n_bits >= 1 && n_bits <= 8, "index width n_bits must be in 1..8, got ", n_bits);
}

unsigned excess_bits_of(std::span<const uint8_t> indices, int n_bits) {
  // One branch-free pass for the common case; the slow search only runs to name the culprit.
  unsigned excess_bits = 0;
  for (const uint8_t index : indices) excess_bits |= static_cast<unsigned>(index) >> n_bits;
  return excess_bits;
}

[[noreturn]] void name_index_that_does_not_fit(std::span<const uint8_t> indices, int n_bits) {
  const unsigned largest = (1u << n_bits) - 1;
  for (std::size_t i = 0; i < indices.size(); ++i) {
    check(indices[i] <= largest, "index ", static_cast<unsigned>(indices[i]), " at position ", i,
          " does not fit in ", n_bits, " bits (largest allowed is ", largest, ")");
  }
  fail("an index does not fit in ", n_bits, " bits");
}

// Widths that divide 8 keep whole indices inside one byte, so each byte is built independently.
template <int N>
void pack_byte_aligned(std::span<const uint8_t> indices, uint8_t* out) {
  constexpr std::size_t kPerByte = 8 / N;
  const std::size_t full_bytes = indices.size() / kPerByte;
  for (std::size_t b = 0; b < full_bytes; ++b) {
    const uint8_t* group = indices.data() + b * kPerByte;
    unsigned byte = 0;
    for (std::size_t k = 0; k < kPerByte; ++k) byte |= static_cast<unsigned>(group[k]) << (k * N);
    out[b] = static_cast<uint8_t>(byte);
  }
  const std::size_t tail = indices.size() - full_bytes * kPerByte;
  if (tail == 0) return;
  unsigned byte = 0;
  const uint8_t* last_group = indices.data() + full_bytes * kPerByte;
  for (std::size_t k = 0; k < tail; ++k) byte |= static_cast<unsigned>(last_group[k]) << (k * N);
  out[full_bytes] = static_cast<uint8_t>(byte);
}

template <int N>
void unpack_byte_aligned(const uint8_t* packed, std::span<uint8_t> indices) {
  constexpr std::size_t kPerByte = 8 / N;
  constexpr unsigned kMask = (1u << N) - 1;
  const std::size_t full_bytes = indices.size() / kPerByte;
  for (std::size_t b = 0; b < full_bytes; ++b) {
    const unsigned byte = packed[b];
    uint8_t* group = indices.data() + b * kPerByte;
    for (std::size_t k = 0; k < kPerByte; ++k) group[k] = static_cast<uint8_t>((byte >> (k * N)) & kMask);
  }
  const std::size_t tail = indices.size() - full_bytes * kPerByte;
  for (std::size_t k = 0; k < tail; ++k) {
    indices[full_bytes * kPerByte + k] = static_cast<uint8_t>((packed[full_bytes] >> (k * N)) & kMask);
  }
}

// Widths 3, 5, 6, 7 straddle bytes: collect bits in a 64-bit accumulator and emit 32 at a time, which is
// exactly the little-endian, LSB-first stream order.
void pack_straddling(std::span<const uint8_t> indices, int n_bits, uint8_t* out) {
  uint64_t accumulator = 0;
  int pending_bits = 0;
  std::size_t position = 0;
  for (const uint8_t index : indices) {
    accumulator |= static_cast<uint64_t>(index) << pending_bits;
    pending_bits += n_bits;
    if (pending_bits >= 32) {
      const auto word = static_cast<uint32_t>(accumulator);
      std::memcpy(out + position, &word, sizeof(word));
      position += sizeof(word);
      accumulator >>= 32;
      pending_bits -= 32;
    }
  }
  for (; pending_bits > 0; pending_bits -= 8) {
    out[position++] = static_cast<uint8_t>(accumulator);
    accumulator >>= 8;
  }
}

void unpack_straddling(std::span<const uint8_t> packed, int n_bits, std::span<uint8_t> indices) {
  const uint64_t mask = (uint64_t{1} << n_bits) - 1;
  uint64_t accumulator = 0;
  int available_bits = 0;
  std::size_t position = 0;
  for (uint8_t& index : indices) {
    if (available_bits < n_bits) {
      if (position + sizeof(uint32_t) <= packed.size()) {
        uint32_t word;
        std::memcpy(&word, packed.data() + position, sizeof(word));
        accumulator |= static_cast<uint64_t>(word) << available_bits;
        position += sizeof(word);
        available_bits += 32;
      } else {
        accumulator |= static_cast<uint64_t>(packed[position++]) << available_bits;
        available_bits += 8;
      }
    }
    index = static_cast<uint8_t>(accumulator & mask);
    accumulator >>= n_bits;
    available_bits -= n_bits;
  }
}

void unpack_chunk(std::span<const uint8_t> packed, int n_bits, std::span<uint8_t> indices) {
  switch (n_bits) {
    case 1: unpack_byte_aligned<1>(packed.data(), indices); break;
    case 2: unpack_byte_aligned<2>(packed.data(), indices); break;
    case 4: unpack_byte_aligned<4>(packed.data(), indices); break;
    case 8: unpack_byte_aligned<8>(packed.data(), indices); break;
    default: unpack_straddling(packed, n_bits, indices); break;
  }
}

// The bytes `count` indices need; an Error when `packed` holds fewer.
std::size_t check_packed_size(std::span<const uint8_t> packed, int n_bits, std::size_t count) {
  const std::size_t needed = packed_size_bytes(count, n_bits);
  check(packed.size() >= needed, "packed indices too short: ", count, " indices of ", n_bits, " bits need ", needed,
        " bytes, but only ", packed.size(), " are available");
  return needed;
}

// Indices per chunk of the parallel pack: a multiple of 8, large enough to amortise a task.
constexpr std::size_t kPackChunk = std::size_t{1} << 18;

void pack_chunk(std::span<const uint8_t> indices, int n_bits, uint8_t* out) {
  switch (n_bits) {
    case 1: pack_byte_aligned<1>(indices, out); break;
    case 2: pack_byte_aligned<2>(indices, out); break;
    case 4: pack_byte_aligned<4>(indices, out); break;
    case 8: pack_byte_aligned<8>(indices, out); break;
    default: pack_straddling(indices, n_bits, out); break;
  }
}

}  // namespace

std::size_t packed_size_bytes(std::size_t count, int n_bits) {
  check_n_bits(n_bits);
  // Eight indices fill exactly n_bits bytes; splitting the count this way cannot overflow.
  const auto width = static_cast<std::size_t>(n_bits);
  return count / 8 * width + (count % 8 * width + 7) / 8;
}

void pack_indices_into(std::span<const uint8_t> indices, int n_bits, std::span<uint8_t> out) {
  check_n_bits(n_bits);
  check(out.size() == packed_size_bytes(indices.size(), n_bits), "packed indices need ",
        packed_size_bytes(indices.size(), n_bits), " bytes, the buffer has ", out.size());
  // Eight indices fill exactly n_bits bytes, so chunks of a multiple of 8 indices pack independently (into
  // disjoint whole bytes) and the threads' split cannot change a bit of the stream.
  const std::size_t chunks = (indices.size() + kPackChunk - 1) / kPackChunk;
  const auto width = static_cast<std::size_t>(n_bits);
  std::atomic<unsigned> excess_bits = 0;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end(); ++c) {
      const std::span<const uint8_t> chunk = indices.subspan(c * kPackChunk, std::min(kPackChunk, indices.size() - c * kPackChunk));
      excess_bits.fetch_or(excess_bits_of(chunk, n_bits), std::memory_order_relaxed);
      pack_chunk(chunk, n_bits, out.data() + c * (kPackChunk / 8) * width);
    }
  });
  if (excess_bits.load() != 0) name_index_that_does_not_fit(indices, n_bits);
}

std::vector<uint8_t> pack_indices(std::span<const uint8_t> indices, int n_bits) {
  std::vector<uint8_t> packed(packed_size_bytes(indices.size(), n_bits));
  pack_indices_into(indices, n_bits, packed);
  return packed;
}

void unpack_indices_into(std::span<const uint8_t> packed, int n_bits, std::span<uint8_t> indices) {
  const std::size_t needed = check_packed_size(packed, n_bits, indices.size());
  // Chunks of kPackChunk indices start on whole bytes (see pack_indices_into).
  const std::size_t chunks = (indices.size() + kPackChunk - 1) / kPackChunk;
  const auto width = static_cast<std::size_t>(n_bits);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end(); ++c) {
      const std::span<uint8_t> chunk =
          indices.subspan(c * kPackChunk, std::min(kPackChunk, indices.size() - c * kPackChunk));
      const std::size_t first_byte = c * (kPackChunk / 8) * width;
      unpack_chunk(packed.subspan(first_byte, std::min(packed.size(), needed) - first_byte), n_bits, chunk);
    }
  });
}

std::vector<uint8_t> unpack_indices(std::span<const uint8_t> packed, int n_bits, std::size_t count) {
  check_packed_size(packed, n_bits, count);  // before allocating: `count` may be absurd
  std::vector<uint8_t> indices(count);
  unpack_indices_into(packed, n_bits, indices);
  return indices;
}

}  // namespace palettize
