// Raw-pointer CPU kernel of SGD with momentum (PyTorch semantics) scaled by a LARS trust ratio.
#pragma once
#include <cstdint>

namespace tg::optim {

struct MomentumCoeffs {
  float lr = 0.1f;
  float weight_decay = 0.f;
  float ratio = 1.f;         // LARS local lr scale (1 for plain SGD)
  float momentum = 0.f;      // 0: no buffer
  float dampening = 0.f;
  bool nesterov = false;
  bool first = false;        // first update of this parameter: buf = d
};

// d = (g + wd w) ratio;  buf = first ? d : mu buf + (1 - dampening) d;
// d = nesterov ? d + mu buf : buf;  w -= lr d.   buf may be null when momentum == 0.
void momentum_update(float* w, const float* g, float* buf, int64_t n, const MomentumCoeffs& c, bool parallel);

}  // namespace tg::optim
