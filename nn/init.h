// Parameter initialisation matching PyTorch's defaults, drawn from an explicit tg::Generator
// (same seed -> same weights; the values differ from PyTorch's RNG, the distributions do not).
#pragma once
#include <cstdint>

#include "engine/random.h"
#include "engine/tensor.h"

namespace tg::nn {

// Fills a CPU or CUDA tensor with U[lo, hi), drawn on the host in row-major order.
void uniform_(Tensor t, float lo, float hi, Generator& gen);

// PyTorch's Conv2d/Linear reset_parameters(): kaiming_uniform_(w, a=sqrt(5)), i.e.
//   gain = sqrt(2 / (1 + a^2)) = sqrt(1/3),  bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
//   w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),  and the bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
// fan_in = in_channels/groups * kernel_h * kernel_w for conv, in_features for linear.
float default_init_bound(int64_t fan_in);
void init_default_weight_and_bias(Tensor weight, Tensor bias, int64_t fan_in, Generator& gen);

}  // namespace tg::nn
