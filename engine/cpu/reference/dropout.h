// Reference dropout kernel. The op (engine/nn_ops.cpp) draws the mask on the host, in element order,
// so that one generator state gives the same mask on every device and in both kernel modes:
//   mask[i] = 1/(1 - p) with probability 1 - p, else 0          (inverted dropout)
// and the forward and the backward are both this product with it.
#pragma once
#include <cstdint>

namespace tg::cpu::reference {

// y[i] = x[i] * mask[i]   (forward: y = x * mask;  backward: dx = dout * mask)
void dropout_apply(float* y, const float* x, const float* mask, int64_t n);

}  // namespace tg::cpu::reference
