// Softmax family with the max-subtraction trick: softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m).
#include "engine/cpu/softmax.h"

#include <cmath>
#include <vector>

#include "engine/cpu/reference/softmax.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/kernel_params/cross_entropy_math.h"

namespace tg::cpu {

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (reference_kernels()) return reference::softmax_forward(y, x, outer, dim, inner, log);
#pragma omp parallel for schedule(static) if (outer * dim * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* px = x + o * dim * inner + i;
      float* py = y + o * dim * inner + i;
      float m = px[0];
      for (int64_t d = 1; d < dim; ++d) m = std::max(m, px[d * inner]);
      double s = 0.0;
      for (int64_t d = 0; d < dim; ++d) s += std::exp(static_cast<double>(px[d * inner] - m));
      if (log) {
        // log p_d = (x_d - m) - log s, in double: in float, m + log s rounds log s away when |m| is
        // large (x = (1e8, 1e8) gave log p = (0, 0) instead of -log 2).
        const double log_s = std::log(s);
        for (int64_t d = 0; d < dim; ++d)
          py[d * inner] = static_cast<float>(static_cast<double>(px[d * inner]) - m - log_s);
      } else {
        const double inv = 1.0 / s;
        for (int64_t d = 0; d < dim; ++d) py[d * inner] = static_cast<float>(std::exp(static_cast<double>(px[d * inner] - m)) * inv);
      }
    }
  }
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (reference_kernels()) return reference::softmax_backward(dx, dy, y, outer, dim, inner, log);
#pragma omp parallel for schedule(static) if (outer * dim * inner > (1 << 15))
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * dim * inner + i;
      double s = 0.0;
      if (log) {
        for (int64_t d = 0; d < dim; ++d) s += dy[base + d * inner];
        for (int64_t d = 0; d < dim; ++d)
          dx[base + d * inner] = dy[base + d * inner] - std::exp(y[base + d * inner]) * static_cast<float>(s);
      } else {
        for (int64_t d = 0; d < dim; ++d) s += static_cast<double>(dy[base + d * inner]) * y[base + d * inner];
        for (int64_t d = 0; d < dim; ++d)
          dx[base + d * inner] = y[base + d * inner] * (dy[base + d * inner] - static_cast<float>(s));
      }
    }
  }
}

double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing) {
  if (reference_kernels()) return reference::cross_entropy_forward(probs, logits, targets, N, C, label_smoothing);
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N * C > (1 << 14))
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits + n * C;
    float* p = probs + n * C;
    float m = z[0];
    for (int64_t c = 1; c < C; ++c) m = std::max(m, z[c]);
    double s = 0.0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(z[c] - m));
    const double lse = m + std::log(s);  // log sum_c exp z_c
    const double inv = 1.0 / s;
    double sum_logp = 0.0;  // sum_c log p_c, for the smoothing term
    for (int64_t c = 0; c < C; ++c) {
      p[c] = static_cast<float>(std::exp(static_cast<double>(z[c] - m)) * inv);
      if (label_smoothing > 0.f) sum_logp += z[c] - lse;
    }
    const int64_t t = static_cast<int64_t>(targets[n]);
    total += cross_entropy_terms(z[t] - lse, sum_logp, label_smoothing, C);
  }
  return total / static_cast<double>(N);
}

void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss) {
  if (reference_kernels())
    return reference::cross_entropy_backward(dlogits, probs, targets, N, C, label_smoothing, dloss);
  const float scale = dloss / static_cast<float>(N);
  const float off = label_smoothing / static_cast<float>(C);
#pragma omp parallel for schedule(static) if (N * C > (1 << 14))
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = static_cast<int64_t>(targets[n]);
    for (int64_t c = 0; c < C; ++c) {
      const float q = (c == t ? 1.f - label_smoothing : 0.f) + off;
      dlogits[n * C + c] = scale * (probs[n * C + c] - q);
    }
  }
}

}  // namespace tg::cpu
