// CUDA reductions with the same signatures as engine/cpu/reduce.h (tensor viewed as (outer, dim, inner)),
// plus *_device variants that leave a scalar result on the device instead of syncing to return it.
#pragma once
#include <cstdint>

namespace tg::cuda {

// out (outer, inner) = sum over d of in (outer, dim, inner). Accumulates in double.
void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner);
// out (outer, inner) = max over d, idx (device int64) = first position of the max (ties -> lowest index).
void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner);

// Host-returning forms (same as the CPU kernels): they synchronise to copy the result back.
double sum_all(const float* in, int64_t n);
double sum_squares(const float* in, int64_t n);
int64_t argmax_all(const float* in, int64_t n);

// Device-result forms: out is one float on the device; no host synchronisation. Deterministic
// (fixed grid, fixed reduction tree), double accumulation.
void sum_all_device(float* out, const float* in, int64_t n);
void sum_squares_device(float* out, const float* in, int64_t n);

}  // namespace tg::cuda
