// Reference GEMM: the triple loop of the matrix product (the fast one is Eigen's, engine/cpu/matmul.h;
// the same signature). matmul and linear, forward and backward, are all GEMMs.
#pragma once
#include <cstdint>

namespace tg::cpu::reference {

// C (M, N) = alpha * sum_k op(A)[m,k] op(B)[k,n] + beta * C, op(A) = A (M, K) or, when trans_a, the
// transpose of A stored as (K, M); op(B) likewise (K, N) or (N, K). Row-major. The sum is in double,
// k in order. beta = 0 ignores C's previous contents (even NaN).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C);

}  // namespace tg::cpu::reference
