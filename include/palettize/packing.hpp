#pragma once
// Index packing: n_bits-wide indices as one little-endian bitstream, least significant bit first. Index i
// occupies stream bits [i*n, i*n+n); stream bit b is bit (b mod 8) of byte b/8 (Core ML sub-byte order).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace palettize {

std::size_t packed_size_bytes(std::size_t count, int n_bits);
// Throws Error when an index does not fit in n_bits or n_bits is not in 1..8.
std::vector<uint8_t> pack_indices(std::span<const uint8_t> indices, int n_bits);
// The same stream into `out`, which must hold exactly packed_size_bytes(indices.size(), n_bits) bytes
// (large inputs are packed on several threads; the bytes do not depend on how many).
void pack_indices_into(std::span<const uint8_t> indices, int n_bits, std::span<uint8_t> out);
// Throws Error when `packed` holds fewer than count*n_bits bits.
std::vector<uint8_t> unpack_indices(std::span<const uint8_t> packed, int n_bits, std::size_t count);
// The same into `indices` (indices.size() of them).
void unpack_indices_into(std::span<const uint8_t> packed, int n_bits, std::span<uint8_t> indices);

}  // namespace palettize
