// private: include only from src/ and tests/
#pragma once
// What the CPU running this process supports, asked once: the SIMD paths compiled with target attributes
// (AVX2, F16C) run only where these say so, and give the same bits as the scalar paths.

namespace palettize {

inline bool cpu_has_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

inline bool cpu_has_avx2_f16c() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

}  // namespace palettize
