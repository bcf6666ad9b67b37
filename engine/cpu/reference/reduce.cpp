// Reference reductions (reduce.h): one loop per output, single-threaded.
#include "engine/cpu/reference/reduce.h"

#include "engine/kernel_params/elementwise_math.h"

namespace tg::cpu::reference {

void sum_dim(float* out, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0.0;
      for (int64_t d = 0; d < dim; ++d) sum += in[(o * dim + d) * inner + i];
      out[o * inner + i] = static_cast<float>(sum);
    }
}

void max_dim(float* out, int64_t* idx, const float* in, int64_t outer, int64_t dim, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t d = 1; d < dim; ++d)
        if (takes_max_over(in[(o * dim + d) * inner + i], in[(o * dim + best) * inner + i])) best = d;
      out[o * inner + i] = in[(o * dim + best) * inner + i];
      idx[o * inner + i] = best;
    }
}

double sum_all(const float* in, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += in[i];
  return sum;
}

double sum_squares(const float* in, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i]) * in[i];
  return sum;
}

int64_t argmax_all(const float* in, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (takes_max_over(in[i], in[best])) best = i;
  return best;
}

}  // namespace tg::cpu::reference
