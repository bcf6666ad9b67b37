// Reference reductions over one dim of a tensor viewed as (outer, dim, inner), and over everything:
// plain loops, sums in double in index order. Same signatures as engine/cpu/reduce.h.
#pragma once
#include <cstdint>

namespace tg::cpu::reference {

// out[o, i] = sum_d in[o, d, i]    (element (o, d, i) at (o*dim + d)*inner + i)
void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner);
// out[o, i] = max_d in[o, d, i], idx[o, i] = the first d that reaches it.
void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner);
// sum_i in[i]
double sum_all(const float* in, int64_t n);
// sum_i in[i]^2
double sum_squares(const float* in, int64_t n);
// The first i with in[i] = max in.
int64_t argmax_all(const float* in, int64_t n);

}  // namespace tg::cpu::reference
