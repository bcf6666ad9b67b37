// One sample's label-smoothed cross-entropy, written once for the fast CPU kernel
// (engine/cpu/softmax.cpp) and the CUDA kernel (cuda/softmax.cu):
//   l = -(1 - eps) log p_t - (eps / C) sum_c log p_c,   log p_c = z_c - lse.
#pragma once
#include <cstdint>

#include "engine/kernel_params/host_device.h"

namespace tg {

// A term whose weight is 0 is left out rather than multiplied by 0: a logit of -inf (a masked
// class) makes its log p = -inf, and 0 * -inf would turn the loss into NaN where PyTorch's is finite
// (eps = 0) or +inf (the target's own logit at -inf).
TG_HOST_DEVICE double cross_entropy_terms(double logp_target, double sum_logp, float eps, int64_t C) {
  const double target_term = eps < 1.f ? -(1.0 - static_cast<double>(eps)) * logp_target : 0.0;
  const double smoothing_term = eps > 0.f ? -(static_cast<double>(eps) / static_cast<double>(C)) * sum_logp : 0.0;
  return target_term + smoothing_term;
}

}  // namespace tg
