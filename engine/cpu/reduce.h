// CPU reductions over one dim of a tensor viewed as (outer, dim, inner), and over everything.
#pragma once
#include <cstdint>

namespace tg::cpu {

// out (outer, inner) = sum over d of in (outer, dim, inner). Accumulates in double.
void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner);
// out (outer, inner) = max over d, idx = first position of the max (ties -> lowest index).
void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner);
// Sum of all elements, in double.
double sum_all(const float* in, int64_t n);
// Sum of squares of all elements, in double (the L2 norm squared the optimizers use).
double sum_squares(const float* in, int64_t n);
// Index of the first maximum of all elements.
int64_t argmax_all(const float* in, int64_t n);

}  // namespace tg::cpu
