// Reference softmax, log-softmax over one dim of a tensor viewed as (outer, dim, inner), and the fused
// softmax-cross-entropy over (N, C) logits: the formulas written out per slice, sums in double.
// Same signatures as engine/cpu/softmax.h.
#pragma once
#include <cstdint>

namespace tg::cpu::reference {

// Per slice x_d = x[o, d, i] (m = max_d x_d, subtracted so exp never overflows):
//   softmax:      y_d = exp(x_d - m) / sum_e exp(x_e - m)
//   log_softmax:  y_d = x_d - m - log sum_e exp(x_e - m)
void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log);
//   softmax:      dx_d = y_d * (dy_d - sum_e dy_e y_e)
//   log_softmax:  dx_d = dy_d - exp(y_d) * sum_e dy_e
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log);

// loss = 1/N sum_n [ -sum_c q_nc log p_nc ],  p_n = softmax(logits_n),
// q_nc = (1 - eps) [c == t_n] + eps / C (eps = label_smoothing). Writes p (N, C) to probs.
double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing);
// dlogits_nc = dloss * (p_nc - q_nc) / N
void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss);

}  // namespace tg::cpu::reference
