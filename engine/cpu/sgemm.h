// Our packed single-precision GEMM (BLIS-style blocking around one register-tile micro-kernel),
// with strides and transposes, single-threaded per call: callers parallelise over independent
// products (conv2d runs one per image chunk on each thread), so results never depend on the
// thread count.
//
//   C (M, N) = alpha * op(A) op(B) + beta * C
//   op(A) is (M, K): A[i * lda + k], or A[k * lda + i] when trans_a
//   op(B) is (K, N): B[k * ldb + j], or B[j * ldb + k] when trans_b
//   C[i * ldc + j]; beta = 0 never reads C (NaN in C is overwritten, as in BLAS)
//
// Loops (Goto / BLIS): for each NC-wide panel of B and KC-deep slice of K, pack B into NR-wide
// slivers; for each MC-tall block of A, pack it into MR-tall slivers; the micro-kernel then
// computes one MR x NR tile of C from a sliver pair, its accumulators in registers.
// The micro-kernel per ISA level (runtime dispatch, isa.h): AVX-512 12 x 32 (24 zmm accumulators,
// edge tiles stored with masks), AVX2 + FMA 6 x 16 (12 ymm accumulators), generic a portable loop.
// tests/engine/test_sgemm.cpp compares it with a double-precision triple loop.
#pragma once
#include <cstdint>

namespace tg::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// A left operand packed once for many products (Winograd's 36 weight planes, reused by every chunk
// of tiles; an im2col conv's group weights, reused by every chunk of images):
//   float* p = (sgemm_packed_a_floats(M, K) floats, 64-byte aligned);
//   sgemm_pack_a(p, trans_a, M, K, A, lda);
//   sgemm_packed(p, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc)  ==  sgemm(trans_a, trans_b, M, N, K, ...)
// bit for bit (the same slivers reach the same micro-kernels), without packing A again per call.
// The layout is the running ISA level's (its sliver height and slice depth): pack and use in the
// same process.
int64_t sgemm_packed_a_floats(int64_t M, int64_t K);
void sgemm_pack_a(float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
void sgemm_packed(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace tg::cpu
