// Reference GEMM (matmul.h): for each output element, one dot product over k.
#include "engine/cpu/reference/matmul.h"

namespace tg::cpu::reference {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double dot = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * M + m] : A[m * K + k];  // op(A)[m,k]
        const float b = trans_b ? B[n * K + k] : B[k * N + n];  // op(B)[k,n]
        dot += static_cast<double>(a) * b;
      }
      const double old = beta == 0.f ? 0.0 : static_cast<double>(beta) * C[m * N + n];
      C[m * N + n] = static_cast<float>(alpha * dot + old);
    }
}

}  // namespace tg::cpu::reference
