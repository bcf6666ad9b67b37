// CPU reductions, accumulated in double so large sums stay exact to float precision.
#include "engine/cpu/reduce.h"

#include "engine/cpu/reference/reduce.h"
#include "engine/kernel_params/elementwise_math.h"
#include "engine/cpu/kernel_mode.h"

namespace tg::cpu {

void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  if (reference_kernels()) return reference::sum_dim(out, in, outer, dim, inner);
#pragma omp parallel for schedule(static) if (outer * dim * inner > (1 << 16))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0.0;
      const float* p = in + o * dim * inner + i;
      for (int64_t d = 0; d < dim; ++d) acc += p[d * inner];
      out[o * inner + i] = static_cast<float>(acc);
    }
  }
}

void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  if (reference_kernels()) return reference::max_dim(out, idx, in, outer, dim, inner);
#pragma omp parallel for schedule(static) if (outer * dim * inner > (1 << 16))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* p = in + o * dim * inner + i;
      int64_t best = 0;
      for (int64_t d = 1; d < dim; ++d)
        if (takes_max_over(p[d * inner], p[best * inner])) best = d;
      out[o * inner + i] = p[best * inner];
      idx[o * inner + i] = best;
    }
  }
}

double sum_all(const float* in, int64_t n) {
  if (reference_kernels()) return reference::sum_all(in, n);  // TG_KERNELS=reference (engine/cpu/kernel_mode.h)
  double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) acc += in[i];
  return acc;
}

double sum_squares(const float* in, int64_t n) {
  if (reference_kernels()) return reference::sum_squares(in, n);  // TG_KERNELS=reference (engine/cpu/kernel_mode.h)
  double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(in[i]) * in[i];
  return acc;
}

int64_t argmax_all(const float* in, int64_t n) {
  if (reference_kernels()) return reference::argmax_all(in, n);  // TG_KERNELS=reference (engine/cpu/kernel_mode.h)
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (takes_max_over(in[i], in[best])) best = i;
  return best;
}

}  // namespace tg::cpu
