// The whole-process bandwidth floor: reads IN completely and writes BYTES bytes to OUT, nothing else.
// A palettizer that reads the same input and writes an output of that size cannot be faster than this
// process; bench/run_bench.py times it exactly as it times the CLI.
//
//   palettize_bandwidth_floor IN OUT BYTES
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

[[noreturn]] void die(const char* what, const char* path) {
  std::fprintf(stderr, "palettize_bandwidth_floor: %s %s: %s\n", what, path, std::strerror(errno));
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: palettize_bandwidth_floor IN OUT BYTES\n");
    return 2;
  }
  const std::size_t out_bytes = std::strtoull(argv[3], nullptr, 10);
  const int in = open(argv[1], O_RDONLY);
  if (in < 0) die("cannot open", argv[1]);
  std::vector<unsigned char> buffer(std::size_t{1} << 20);
  std::vector<unsigned char> output;
  output.reserve(out_bytes);
  uint64_t checksum = 0;  // touch every byte, as any reader must
  for (;;) {
    const ssize_t got = read(in, buffer.data(), buffer.size());
    if (got < 0) die("cannot read", argv[1]);
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) checksum += buffer[static_cast<std::size_t>(i)];
    const std::size_t take = std::min(out_bytes - output.size(), static_cast<std::size_t>(got));
    output.insert(output.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(take));
  }
  close(in);
  output.resize(out_bytes, static_cast<unsigned char>(checksum));
  const int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) die("cannot create", argv[2]);
  for (std::size_t done = 0; done < out_bytes;) {
    const ssize_t put = write(out, output.data() + done, out_bytes - done);
    if (put < 0) die("cannot write", argv[2]);
    done += static_cast<std::size_t>(put);
  }
  if (close(out) != 0) die("cannot close", argv[2]);
  return 0;
}
