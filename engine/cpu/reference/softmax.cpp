// Reference softmax family (softmax.h): each (outer, inner) slice along `dim` handled on its own.
#include "engine/cpu/reference/softmax.h"

#include <cmath>

namespace tg::cpu::reference {
namespace {

// Element d of slice (o, i).
int64_t at(int64_t o, int64_t d, int64_t i, int64_t dim, int64_t inner) { return (o * dim + d) * inner + i; }

}  // namespace

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double m = x[at(o, 0, i, dim, inner)];
      for (int64_t d = 1; d < dim; ++d) m = std::fmax(m, x[at(o, d, i, dim, inner)]);
      double sum_exp = 0.0;
      for (int64_t d = 0; d < dim; ++d) sum_exp += std::exp(x[at(o, d, i, dim, inner)] - m);
      for (int64_t d = 0; d < dim; ++d) {
        const double shifted = x[at(o, d, i, dim, inner)] - m;
        const double value = log ? shifted - std::log(sum_exp) : std::exp(shifted) / sum_exp;
        y[at(o, d, i, dim, inner)] = static_cast<float>(value);
      }
    }
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0.0;  // log: sum_e dy_e;  softmax: sum_e dy_e y_e
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t e = at(o, d, i, dim, inner);
        sum += log ? dy[e] : static_cast<double>(dy[e]) * y[e];
      }
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t e = at(o, d, i, dim, inner);
        dx[e] = static_cast<float>(log ? dy[e] - std::exp(static_cast<double>(y[e])) * sum : y[e] * (dy[e] - sum));
      }
    }
}

double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing) {
  softmax_forward(probs, logits, N, C, 1, /*log=*/false);
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = static_cast<int64_t>(targets[n]);
    double m = logits[n * C];
    for (int64_t c = 1; c < C; ++c) m = std::fmax(m, logits[n * C + c]);
    double sum_exp = 0.0;
    for (int64_t c = 0; c < C; ++c) sum_exp += std::exp(logits[n * C + c] - m);
    const double log_sum_exp = m + std::log(sum_exp);
    for (int64_t c = 0; c < C; ++c) {
      const double q = (c == t ? 1.0 - label_smoothing : 0.0) + static_cast<double>(label_smoothing) / C;
      if (q != 0.0) total -= q * (logits[n * C + c] - log_sum_exp);  // -q_nc log p_nc (0 * -inf left out)
    }
  }
  return total / static_cast<double>(N);
}

void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss) {
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = static_cast<int64_t>(targets[n]);
    for (int64_t c = 0; c < C; ++c) {
      const double q = (c == t ? 1.0 - label_smoothing : 0.0) + static_cast<double>(label_smoothing) / C;
      dlogits[n * C + c] = static_cast<float>(dloss * (probs[n * C + c] - q) / static_cast<double>(N));
    }
  }
}

}  // namespace tg::cpu::reference
