// Force-included into the library sources of the fuzz build only (see fuzz/CMakeLists.txt).
//
// The library dispatches to AVX2/F16C code at run time with g++ idioms clang-14 rejects: lambdas inside
// __attribute__((target("avx2"))) functions, and __builtin_cpu_supports("f16c"), a feature name clang-14
// does not know. The fuzz build therefore compiles everything with -mavx2 -mfma -mf16c (it only ever runs
// on the machine that built it, which CMake checks has those features) and answers every run-time feature
// query with "yes", which is true for any machine this binary can run on.
#pragma once
#define __builtin_cpu_supports(feature) 1
