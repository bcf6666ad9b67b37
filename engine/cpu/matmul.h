// CPU GEMM through Eigen with row-major maps: C = alpha * op(A) op(B) + beta * C.
#pragma once
#include <cstdint>

namespace tg::cpu {

// A is (M, K) or, when trans_a, stored as (K, M); B is (K, N) or, when trans_b, stored as (N, K).
// C is (M, N). All row-major and contiguous. beta = 0 ignores C's previous contents (even NaN).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C);

}  // namespace tg::cpu
