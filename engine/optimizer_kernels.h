// The optimizers' update kernels, dispatched on the parameters' device, one whole tensor per call:
// the CPU kernels (engine/cpu/optimizer_kernels.h) or their CUDA twins of the same names and
// signatures (cuda/lamb.h, cuda/momentum.h, cuda/reduce.h). The CPU optimizers call the CPU
// kernels per chunk from their multi-tensor loops (optim/tensor_loops.h) instead; these per-tensor
// calls are the GPU path (each norm returns to the host).
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/kernel_params/optimizer.h"

namespace tg {

// sum(x^2) over n floats, in double (finite iff every element is).
double device_sum_squares(Device device, const float* x, int64_t n);

// Pass 1 of the LAMB family (read-only): sum w^2, sum u^2, sum g^2.
DirectionNorms device_adam_direction_norms(Device device, const float* w, const float* g, const float* m,
                                           const float* v, int64_t n, const AdamCoeffs& c);

// Pass 2 of the LAMB family: m, v <- new moments; w <- decay w - step u.
void device_adam_update(Device device, float* w, const float* g, float* m, float* v, int64_t n, const AdamCoeffs& c,
                        float decay, float step);

// SGD / LARS update: w, buf in place (buf null without momentum).
void device_momentum_update(Device device, float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c);

}  // namespace tg
