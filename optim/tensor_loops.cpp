// Deterministic per-tensor reductions used by every optimizer's read-only pass.
#include "optim/tensor_loops.h"

#include "engine/error.h"

namespace tg::optim {

namespace {
int64_t g_parallel_min_numel = 32768;
}

int64_t parallel_min_numel() { return g_parallel_min_numel; }

void set_parallel_min_numel(int64_t n) {
  TG_CHECK(n >= 1, "set_parallel_min_numel: n must be >= 1, got " << n);
  g_parallel_min_numel = n;
}

double sum_squares(const float* x, int64_t n, bool parallel) {
  return chunked_sum<1>(n, parallel, [x](int64_t b, int64_t e) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * x[i];
    return std::array<double, 1>{s};
  })[0];
}

}  // namespace tg::optim
