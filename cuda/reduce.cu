// CUDA reductions: sum/max over one dim of (outer, dim, inner), and whole-tensor sums. Every sum
// accumulates in double in a fixed order, so results are deterministic run to run.
#include "cuda/reduce.h"

#include <cuda_runtime.h>

#include "cuda/launch.h"
#include "cuda/scratch.h"
#include "engine/kernel_params/elementwise_math.h"

namespace tg::cuda {

namespace {

constexpr int kReduceGrid = 512;  // partial sums for whole-tensor reductions (fixed: deterministic)

// inner == 1: one warp per row of `dim` contiguous elements.
__global__ void sum_rows_kernel(float* out, const float* in, int64_t rows, int64_t dim) {
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
       r += warps_total) {
    const float* p = in + r * dim;
    double acc = 0.0;
    for (int64_t d = lane; d < dim; d += 32) acc += p[d];
    acc = warp_sum(acc);
    if (lane == 0) out[r] = static_cast<float>(acc);
  }
}

// inner > 1: one thread per (o, i), walking d; neighbouring threads read neighbouring addresses.
__global__ void sum_columns_kernel(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  TG_GRID_STRIDE_LOOP(t, outer * inner) {
    const int64_t o = t / inner, i = t % inner;
    const float* p = in + o * dim * inner + i;
    double acc = 0.0;
    for (int64_t d = 0; d < dim; ++d) acc += p[d * inner];
    out[t] = static_cast<float>(acc);
  }
}

// (value, index) pair with the CPU's rule (takes_max_over: greater wins, a NaN wins over a number),
// and between equals (or two NaNs) the lowest index: the result of the CPU's scan in index order.
__device__ __forceinline__ void max_combine(float& v, int64_t& i, float v2, int64_t i2) {
  const bool tie = v2 == v || (v2 != v2 && v != v);
  if (takes_max_over(v2, v) || (tie && i2 < i)) {
    v = v2;
    i = i2;
  }
}

__global__ void max_rows_kernel(float* out, int64_t* idx, const float* in, int64_t rows, int64_t dim) {
  const int64_t warps_total = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int lane = threadIdx.x & 31;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
       r += warps_total) {
    const float* p = in + r * dim;
    // Each lane scans its strided elements in increasing order, then lanes combine by (value, index).
    float best = p[0];
    int64_t best_i = 0;
    for (int64_t d = lane; d < dim; d += 32) max_combine(best, best_i, p[d], d);
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float v2 = __shfl_xor_sync(0xffffffffu, best, offset);
      const int64_t i2 = __shfl_xor_sync(0xffffffffu, best_i, offset);
      max_combine(best, best_i, v2, i2);
    }
    if (lane == 0) {
      out[r] = best;
      idx[r] = best_i;
    }
  }
}

__global__ void max_columns_kernel(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim,
                                   int64_t inner) {
  TG_GRID_STRIDE_LOOP(t, outer * inner) {
    const int64_t o = t / inner, i = t % inner;
    const float* p = in + o * dim * inner + i;
    int64_t best = 0;
    for (int64_t d = 1; d < dim; ++d)
      if (takes_max_over(p[d * inner], p[best * inner])) best = d;
    out[t] = p[best * inner];
    idx[t] = best;
  }
}

// Whole-tensor sum (of x or x^2): kReduceGrid blocks write partials, one block adds them in order.
template <bool Square>
__global__ void partial_sum_kernel(double* partial, const float* in, int64_t n) {
  __shared__ double shared[32];
  double acc = 0.0;
  TG_GRID_STRIDE_LOOP(i, n) {
    const double v = in[i];
    acc += Square ? v * v : v;
  }
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class T>
__global__ void final_sum_kernel(T* out, const double* partial, int count) {
  __shared__ double shared[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, shared);
  if (threadIdx.x == 0) *out = static_cast<T>(acc);
}

template <bool Square, class T>
void whole_sum(T* out, const float* in, int64_t n) {
  Scratch partial(kReduceGrid * sizeof(double));
  auto* p = partial.get<double>();
  partial_sum_kernel<Square><<<kReduceGrid, kBlock>>>(p, in, n);
  TG_CUDA_CHECK_LAUNCH();
  final_sum_kernel<T><<<1, kBlock>>>(out, p, kReduceGrid);
  TG_CUDA_CHECK_LAUNCH();
}

template <bool Square>
double whole_sum_host(const float* in, int64_t n) {
  if (n <= 0) return 0.0;
  Scratch result(sizeof(double));
  whole_sum<Square>(result.get<double>(), in, n);
  double host = 0.0;
  TG_CUDA_CHECK(cudaMemcpy(&host, result.get(), sizeof(double), cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace

void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  if (outer * inner == 0) return;
  if (inner == 1)
    sum_rows_kernel<<<grid_for(outer * 32), kBlock>>>(out, in, outer, dim);
  else
    sum_columns_kernel<<<grid_for(outer * inner), kBlock>>>(out, in, outer, dim, inner);
  TG_CUDA_CHECK_LAUNCH();
}

void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  if (outer * inner == 0 || dim == 0) return;
  if (inner == 1)
    max_rows_kernel<<<grid_for(outer * 32), kBlock>>>(out, idx, in, outer, dim);
  else
    max_columns_kernel<<<grid_for(outer * inner), kBlock>>>(out, idx, in, outer, dim, inner);
  TG_CUDA_CHECK_LAUNCH();
}

double sum_all(const float* in, int64_t n) { return whole_sum_host<false>(in, n); }
double sum_squares(const float* in, int64_t n) { return whole_sum_host<true>(in, n); }

void sum_all_device(float* out, const float* in, int64_t n) {
  if (n <= 0) {
    TG_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float)));
    return;
  }
  whole_sum<false>(out, in, n);
}
void sum_squares_device(float* out, const float* in, int64_t n) {
  if (n <= 0) {
    TG_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float)));
    return;
  }
  whole_sum<true>(out, in, n);
}

int64_t argmax_all(const float* in, int64_t n) {
  if (n <= 0) return 0;
  Scratch value(sizeof(float)), index(sizeof(int64_t));
  max_dim(value.get<float>(), index.get<int64_t>(), in, 1, n, 1);
  int64_t host = 0;
  TG_CUDA_CHECK(cudaMemcpy(&host, index.get(), sizeof(int64_t), cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace tg::cuda
