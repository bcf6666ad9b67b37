// CUDA twin of cpu::momentum_update (engine/cpu/optimizer_kernels.h): SGD with momentum (PyTorch semantics) scaled by a LARS
// trust ratio, one element per thread. Same signature as the CPU kernel (`parallel` is ignored).
//   d = (g + wd w) r;  buf = first ? d : mu buf + (1 - dampening) d;  d = nesterov ? d + mu buf : buf;  w -= lr d
#pragma once
#include <cstdint>

#include "engine/kernel_params/optimizer.h"  // MomentumCoeffs, shared with the CPU kernel

namespace tg::cuda {

// w (n), g (n), buf (n) or nullptr when momentum == 0; all device pointers.
void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool parallel);

}  // namespace tg::cuda
