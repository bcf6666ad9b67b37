// <Eigen/Core> for trustgrad's sources: include this, not <Eigen/Core>.
// GCC 12 warns -Wmaybe-uninitialized (-O3) or -Wuninitialized (-O2 with the sanitizers) inside its
// own AVX-512 intrinsics once Eigen's GEMM packing (ptranspose in gemm_pack_lhs/rhs) inlines them:
// _mm512_undefined_ps() is `__m512 __Y = __Y;` on purpose. That is 133 warnings from one product in
// engine/cpu/matmul.cpp on an AVX-512 host, all in system headers, which -isystem does not silence
// for warnings raised after inlining. The pragmas cover the code Eigen brings in only; our own code
// keeps both warnings.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
