// <immintrin.h> for the sources compiled with AVX flags (kernels/isa_kernels.h, bf16/).
// GCC 12's AVX-512 intrinsics (_mm512_unpacklo_ps, ...) pass _mm512_undefined_ps() as the unused
// merge source, which -Wuninitialized reports at the header's lines once inlined: not our code.
// (Clang has no -Wmaybe-uninitialized: the pragmas are GCC's only.)
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
