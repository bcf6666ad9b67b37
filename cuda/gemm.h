// CUDA SGEMM: our own tiled shared-memory kernel (no cuBLAS), row-major, with transpose flags.
// gemm() has the same signature as engine/cpu/matmul.h; the strided forms serve conv2d (im2col).
#pragma once
#include <cstdint>

namespace tg::cuda {

// C (M, N) = alpha * op(A) op(B) + beta * C. A is (M, K) or, when trans_a, stored as (K, M); B is
// (K, N) or, when trans_b, stored as (N, K). Row-major, contiguous. beta = 0 never reads C (NaN-safe).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C);

// Leading dimensions (row pitch, in elements) and a batch: C_i = alpha * op(A_i) op(B_i) + beta * C_i with
// X_i = X + i * stride_x (a stride of 0 shares one matrix across the batch).
void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                          float* C, int64_t ldc, int64_t stride_c, int64_t batch);

// One C for the whole batch: C = alpha * sum_i op(A_i) op(B_i) + beta * C, summed in registers in
// batch order (deterministic; no atomics). Used for conv2d's weight gradient over the images.
void gemm_batch_reduce(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t batch);

}  // namespace tg::cuda
