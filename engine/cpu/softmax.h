// CPU softmax, log-softmax over one dim (viewed as (outer, dim, inner)), and the fused
// softmax-cross-entropy over (N, C) logits.
#pragma once
#include <cstdint>

namespace tg::cpu {

void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log);
// softmax:     dx = y * (dy - sum(dy * y))
// log_softmax: dx = dy - softmax(x) * sum(dy) = dy - exp(y) * sum(dy)
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log);

// loss = mean_n [ -sum_c q_nc log p_nc ],  p = softmax(logits), q = (1 - eps) onehot(t_n) + eps / C.
// Writes probs (N, C) for the backward. targets hold class indices as float (already validated).
double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing);
// dlogits = dloss * (p - q) / N
void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss);

}  // namespace tg::cpu
