// LAMB (You et al., 2019) as timm / apex FusedLAMB (NVLAMB) compute it: the LAMB family core
// with the trust ratio on, unclipped unless clip_min / clip_max say otherwise.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "optim/lamb_core.h"

namespace tg::optim {

// Defaults are timm's Lamb defaults.
struct LambOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-6;
  double weight_decay = 0.01;
  bool decoupled_decay = false;  // false: u += wd w (inside ||u||); true: w *= 1 - lr wd
  bool bias_correction = true;
  bool grad_averaging = true;
  double max_grad_norm = 1.0;    // global gradient-norm clipping; 0 turns it off
  bool always_adapt = false;     // false: tensors in groups with weight_decay == 0 are not adapted
  double clip_min = 0.0;         // trust-ratio clipping r = clamp(r, clip_min, clip_max) (LAMBC)
  double clip_max = std::numeric_limits<double>::infinity();
  bool staged_moments = true;    // CPU speed/memory knobs, same results (see LambFamilyOptions)
  int64_t cache_block_bytes = int64_t{16} << 20;
};

LambFamilyOptions family_options(const LambOptions& o);

class Lamb : public LambFamily {
 public:
  explicit Lamb(std::vector<ParamGroup> groups, const LambOptions& options = {});
  explicit Lamb(const NamedTensors& params, const LambOptions& options = {});
};

}  // namespace tg::optim
