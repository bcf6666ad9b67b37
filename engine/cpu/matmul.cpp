// Eigen GEMM on row-major maps. Eigen parallelises large products itself (OpenMP), using the
// thread count set by tg::set_num_threads.
#include "engine/cpu/matmul.h"

#include "engine/cpu/reference/matmul.h"
#include "engine/cpu/eigen_core.h"
#include "engine/cpu/kernel_mode.h"

namespace tg::cpu {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMat = Eigen::Map<RowMat>;
using ConstMapMat = Eigen::Map<const RowMat>;

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C) {
  if (reference_kernels()) return reference::gemm(trans_a, trans_b, M, N, K, alpha, A, B, beta, C);
  MapMat c(C, M, N);
  if (beta == 0.f) c.setZero();
  else if (beta != 1.f) c *= beta;
  if (M == 0 || N == 0 || K == 0) return;
  ConstMapMat a(A, trans_a ? K : M, trans_a ? M : K);
  ConstMapMat b(B, trans_b ? N : K, trans_b ? K : N);
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace tg::cpu
