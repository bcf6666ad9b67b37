// The LAMB family's two element loops (see adam_kernels.h): norms pass and update pass.
#include "optim/adam_kernels.h"

#include <array>

#include "optim/tensor_loops.h"

namespace tg::optim {

DirectionNorms adam_direction_norms(const float* w, const float* g, const float* m, const float* v, int64_t n,
                                    const AdamCoeffs& c, bool parallel) {
  const auto sums = chunked_sum<3>(n, parallel, [&](int64_t b, int64_t e) {
    double ww = 0.0, uu = 0.0, gg = 0.0;
#pragma omp simd reduction(+ : ww, uu, gg)
    for (int64_t i = b; i < e; ++i) {
      float mi = m[i], vi = v[i];
      const float u = adam_direction(w[i], g[i], mi, vi, c);
      ww += static_cast<double>(w[i]) * w[i];
      uu += static_cast<double>(u) * u;
      gg += static_cast<double>(g[i]) * g[i];
    }
    return std::array<double, 3>{ww, uu, gg};
  });
  return DirectionNorms{sums[0], sums[1], sums[2]};
}

void adam_update(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c, float decay,
                 float step, bool parallel) {
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    const float u = adam_direction(w[i], g[i], m[i], v[i], c);
    w[i] = decay * w[i] - step * u;  // w = (1 - lr wd) w - lr r u
  }
}

}  // namespace tg::optim
