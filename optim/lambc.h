// LAMBC (Fong, Chen & Chen 2020, "Improving Layer-wise Adaptive Rate Methods using Trust Ratio
// Clipping"): LAMB whose trust ratio is clipped, r = clamp(r, clip_min, clip_max), clip_max = 1.
// Two presets: `paper` (the authors' code) and `timm` (timm's Lamb(trust_clip=True)).
// Reading the update: docs/optimizers.md, "Reading LAMBC"; the plain-loop statement is optim/reference.h.
#pragma once
#include <string>
#include <vector>

#include "optim/lamb.h"

namespace tg::optim {

enum class LambcPreset {
  kPaper,  // jeffrey-fong/LAMBC lambc.py: no bias correction, every tensor adapted, no gradient
           // clipping, u += wd w inside ||u||, r = min(r, 1), eps 1e-6
  kTimm,   // timm Lamb(trust_clip=True): bias correction, global grad-norm clip 1.0, adaptation
           // only for groups with weight decay (1-D tensors in a no-decay group), r = min(r, 1)
};

LambcPreset parse_lambc_preset(const std::string& name);  // "paper" | "timm"; throws otherwise
const char* preset_name(LambcPreset preset);

// The preset's options with the given lr and weight decay (the paper's runs: lr 0.01, wd 0).
LambOptions lambc_options(LambcPreset preset, double lr, double weight_decay = 0.0);

// The preset's parameter groups: paper -> one group, every tensor decayed and adapted (the
// authors pass model.parameters()); timm -> default_param_groups(params, wd, adapt_1d = false).
std::vector<ParamGroup> lambc_param_groups(LambcPreset preset, const NamedTensors& params, double weight_decay);

// Lambc, Lamb, Adam and AdamW are the LambFamily step (lamb_core.h) with their own options and
// name; they add no behaviour, so each derives from LambFamily directly.
class Lambc : public LambFamily {
 public:
  // Explicit options (clip_max defaults to 1 through lambc_options; any LambOptions is accepted).
  Lambc(std::vector<ParamGroup> groups, const LambOptions& options);
  // The preset's groups and options in one call.
  Lambc(const NamedTensors& params, LambcPreset preset, double lr, double weight_decay = 0.0);
};

}  // namespace tg::optim
