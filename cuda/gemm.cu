// Tiled SGEMM. Each block computes a BM x BN tile of C, stepping through K in BK-wide slabs staged in
// shared memory (A slab stored k-major as As[k][m], B slab as Bs[k][n]); each thread accumulates a
// TM x TN micro-tile in registers:  acc[i][j] += As[k][ty*TM + i] * Bs[k][tx*TN + j].
// Transposes change only how a slab is read from global memory (the coalesced direction).
#include "cuda/gemm.h"

#include "cuda/launch.h"
#include "cuda/scratch.h"

namespace tg::cuda {

namespace {

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    sgemm_kernel(int M, int N, int K, float alpha, const float* __restrict__ A, int64_t lda, int64_t stride_a,
                 const float* __restrict__ B, int64_t ldb, int64_t stride_b, float beta, float* __restrict__ C,
                 int64_t ldc, int64_t stride_c, int reduce_count, int reduce_total) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  constexpr int kPad = 4;  // breaks bank conflicts on the k-fastest stores; keeps rows 16-byte aligned
  __shared__ __align__(16) float As[BK][BM + kPad];
  __shared__ __align__(16) float Bs[BK][BN + kPad];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  // blockIdx.z picks a group of reduce_count consecutive batch entries (its own C); the block sums
  // op(A_i) op(B_i) over the group in order. Batched: groups of 1. Reduce: groups of many.
  const int64_t z = blockIdx.z;
  const int first = static_cast<int>(z) * reduce_count;
  const int count = min(reduce_count, reduce_total - first);
  A += first * stride_a;
  B += first * stride_b;
  C += z * stride_c;

  float acc[TM][TN] = {};
  float a_frag[TM], b_frag[TN];

  for (int r = 0; r < count; ++r) {
    const float* Ab = A + r * stride_a;
    const float* Bb = B + r * stride_b;
    for (int k0 = 0; k0 < K; k0 += BK) {
      // A slab: BM x BK elements of op(A).
#pragma unroll
      for (int l = tid; l < BM * BK; l += kThreads) {
        int m, k;
        if (TA) { m = l % BM; k = l / BM; }  // stored (K, M): m is contiguous
        else    { k = l % BK; m = l / BK; }  // stored (M, K): k is contiguous
        const int gm = m0 + m, gk = k0 + k;
        float v = 0.f;
        if (gm < M && gk < K) v = TA ? Ab[static_cast<int64_t>(gk) * lda + gm] : Ab[static_cast<int64_t>(gm) * lda + gk];
        As[k][m] = v;
      }
      // B slab: BK x BN elements of op(B).
#pragma unroll
      for (int l = tid; l < BK * BN; l += kThreads) {
        int n, k;
        if (TB) { k = l % BK; n = l / BK; }  // stored (N, K): k is contiguous
        else    { n = l % BN; k = l / BN; }  // stored (K, N): n is contiguous
        const int gn = n0 + n, gk = k0 + k;
        float v = 0.f;
        if (gn < N && gk < K) v = TB ? Bb[static_cast<int64_t>(gn) * ldb + gk] : Bb[static_cast<int64_t>(gk) * ldb + gn];
        Bs[k][n] = v;
      }
      __syncthreads();
#pragma unroll
      for (int k = 0; k < BK; ++k) {
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&As[k][ty * TM + i]);
          a_frag[i] = v.x; a_frag[i + 1] = v.y; a_frag[i + 2] = v.z; a_frag[i + 3] = v.w;
        }
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
          const float4 v = *reinterpret_cast<const float4*>(&Bs[k][tx * TN + j]);
          b_frag[j] = v.x; b_frag[j + 1] = v.y; b_frag[j + 2] = v.z; b_frag[j + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a_frag[i], b_frag[j], acc[i][j]);
      }
      __syncthreads();
    }
  }

  // Epilogue: C = alpha * acc + beta * C (C untouched by reads when beta == 0).
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int gm = m0 + ty * TM + i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int gn = n0 + tx * TN + j;
      if (gn >= N) continue;
      float* c = C + static_cast<int64_t>(gm) * ldc + gn;
      *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

// C = alpha * sum_z partial[z] + beta * C, z in order (C not read when beta == 0).
__global__ void sum_partials_kernel(float* C, int64_t ldc, const float* partial, int64_t splits, int64_t M, int64_t N,
                                    float alpha, float beta) {
  TG_GRID_STRIDE_LOOP(i, M * N) {
    float acc = 0.f;
    for (int64_t z = 0; z < splits; ++z) acc += partial[z * M * N + i];
    float* c = C + (i / N) * ldc + i % N;
    *c = beta == 0.f ? alpha * acc : alpha * acc + beta * *c;
  }
}

int sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    TG_CUDA_CHECK(cudaGetDevice(&device));
    TG_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    return sms;
  }();
  return count;
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
void launch_tile(int M, int N, int K, float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B,
                 int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t grid_z,
                 int reduce_count, int reduce_total) {
  const dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM, static_cast<unsigned>(grid_z));
  sgemm_kernel<BM, BN, BK, TM, TN, TA, TB><<<grid, (BM / TM) * (BN / TN)>>>(
      M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, reduce_count, reduce_total);
  TG_CUDA_CHECK_LAUNCH();
}

template <bool TA, bool TB>
void launch_sized(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t stride_a,
                  const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                  int64_t grid_z, int64_t reduce_count, int64_t reduce_total) {
  // Big tiles (128 x 128, 8 x 8 per thread) when they still fill the GPU; 64 x 64 tiles otherwise.
  const int64_t big_tiles = ((M + 127) / 128) * ((N + 127) / 128) * grid_z;
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  const int rc = static_cast<int>(reduce_count), rt = static_cast<int>(reduce_total);
  if (big_tiles >= sm_count())
    launch_tile<128, 128, 8, 8, 8, TA, TB>(m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                                           grid_z, rc, rt);
  else
    launch_tile<64, 64, 8, 4, 4, TA, TB>(m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                                         grid_z, rc, rt);
}

void launch(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
            int64_t stride_c, int64_t grid_z, int64_t reduce_count, int64_t reduce_total) {
  TG_CHECK(M < (int64_t(1) << 31) && N < (int64_t(1) << 31) && K < (int64_t(1) << 31) && grid_z <= 65535,
           "cuda::gemm: sizes out of range (M=" << M << ", N=" << N << ", K=" << K << ", batch=" << grid_z << ")");
  if (ta && tb) launch_sized<true, true>(M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, grid_z, reduce_count, reduce_total);
  else if (ta) launch_sized<true, false>(M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, grid_z, reduce_count, reduce_total);
  else if (tb) launch_sized<false, true>(M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, grid_z, reduce_count, reduce_total);
  else launch_sized<false, false>(M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, grid_z, reduce_count, reduce_total);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
          float beta, float* C) {
  gemm_strided_batched(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, 0, B, trans_b ? K : N, 0, beta, C, N, 0,
                       1);
}

void gemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                          int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                          float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  for (int64_t b0 = 0; b0 < batch; b0 += 65535) {  // gridDim.z is at most 65535
    const int64_t count = std::min<int64_t>(65535, batch - b0);
    launch(trans_a, trans_b, M, N, K, alpha, A + b0 * stride_a, lda, stride_a, B + b0 * stride_b, ldb, stride_b, beta,
           C + b0 * stride_c, ldc, stride_c, count, 1, K == 0 ? 0 : count);
  }
}

void gemm_batch_reduce(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t batch) {
  if (M == 0 || N == 0) return;
  TG_CHECK(batch < (int64_t(1) << 31), "cuda::gemm_batch_reduce: batch " << batch << " out of range");
  // Few output tiles (a conv's weight gradient is small): split the batch into `splits` groups, one
  // block row per group, each writing a partial C into a workspace; then add the partials in group
  // order. Deterministic: the split depends only on the sizes and the device's SM count.
  const int64_t tiles = ((M + 63) / 64) * ((N + 63) / 64);
  int64_t per = batch, splits = 1;
  if (K > 0 && batch > 1 && tiles < 2 * sm_count()) {
    splits = std::min<int64_t>(batch, std::min<int64_t>(65535, (2 * sm_count() + tiles - 1) / tiles));
    per = (batch + splits - 1) / splits;
    splits = (batch + per - 1) / per;
  }
  if (splits == 1) {
    launch(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, 0, 1, K == 0 ? 0 : batch,
           K == 0 ? 0 : batch);
    return;
  }
  Scratch partial(static_cast<size_t>(splits * M * N) * sizeof(float));  // (splits, M, N)
  launch(trans_a, trans_b, M, N, K, 1.f, A, lda, stride_a, B, ldb, stride_b, 0.f, partial.get<float>(), N, M * N,
         splits, per, batch);
  sum_partials_kernel<<<grid_for(M * N), kBlock>>>(C, ldc, partial.get<float>(), splits, M, N, alpha, beta);
  TG_CUDA_CHECK_LAUNCH();
}

}  // namespace tg::cuda
