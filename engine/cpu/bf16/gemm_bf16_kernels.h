// The hardware kernels of gemm_bf16 (gemm_bf16.h), defined in gemm_bf16_kernels.cpp (built with
// -mavx512bf16 -mamx-tile -mamx-bf16 only where TG_WITH_BF16_KERNELS); gemm_bf16.cpp calls them
// where tg::cpu_bf16_gemm() (isa.h) says the CPU runs them.
//   pack_a_tiles  op(A) (M, K) into bf16 tiles: pack_a_floats(M, K) floats at dst, 64-byte aligned
//   gemm_amx, gemm_avx512_bf16   C (M, N) = alpha * packed op(A) x bf16(op(B)) + beta * C
#pragma once
#include <cstdint>

namespace tg::cpu::bf16 {

int64_t pack_a_floats(int64_t M, int64_t K);
void pack_a_tiles(float* dst, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
void gemm_amx(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
              int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_avx512_bf16(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace tg::cpu::bf16
