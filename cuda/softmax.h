// CUDA softmax, log-softmax (over one dim of (outer, dim, inner)) and fused softmax-cross-entropy,
// with the same signatures as engine/cpu/softmax.h, plus *_device forms that keep the loss and its
// upstream gradient on the device (no host synchronisation in a training step).
#pragma once
#include <cstdint>

namespace tg::cuda {

// y = softmax(x) or log_softmax(x) along `dim`.
void softmax_forward(float* y, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log);
// softmax:     dx = y * (dy - sum(dy * y))
// log_softmax: dx = dy - exp(y) * sum(dy)
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t dim, int64_t inner, bool log);

// loss = mean_n [ -sum_c q_nc log p_nc ],  p = softmax(logits), q = (1 - eps) onehot(t_n) + eps / C.
// Writes probs (N, C) for the backward; targets (N) hold class indices as float (validated by the op).
// Returns the loss on the host (synchronises).
double cross_entropy_forward(float* probs, const float* logits, const float* targets, int64_t N, int64_t C,
                             float label_smoothing);
// dlogits = dloss * (p - q) / N
void cross_entropy_backward(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                            float label_smoothing, float dloss);

// The same with the mean loss written to `loss` (one float on the device) and dloss read from the device.
void cross_entropy_forward_device(float* loss, float* probs, const float* logits, const float* targets, int64_t N,
                                  int64_t C, float label_smoothing);
void cross_entropy_backward_device(float* dlogits, const float* probs, const float* targets, int64_t N, int64_t C,
                                   float label_smoothing, const float* dloss);

}  // namespace tg::cuda
