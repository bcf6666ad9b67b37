// The LAMB family core: one step shared by Adam, AdamW, LAMB and LAMBC. Per parameter tensor:
// Adam moments -> direction u -> optional weight decay in u -> trust ratio r = ||w||/||u||
// (1 when either norm is 0) -> r clipped to [clip_min, clip_max] -> w -= lr r u.
// Adam(W) is this with r fixed to 1, LAMB with clip_max = +inf, LAMBC with clip_max = 1.
#pragma once
#include <array>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernel_params/optimizer.h"
#include "optim/optimizer.h"

namespace tg::optim {

enum class WeightDecayMode : int {
  kL2Gradient = 0,  // g += wd w before the moments (torch Adam)
  kL2Update = 1,    // u += wd w, inside ||u|| (LAMB, LAMBC, the authors' code)
  kDecoupled = 2,   // w *= 1 - lr wd, outside the ratio (AdamW, timm decoupled_decay)
};

struct LambFamilyOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-6;
  double weight_decay = 0.0;  // default for groups that leave it unset
  WeightDecayMode weight_decay_mode = WeightDecayMode::kL2Update;
  bool bias_correction = true;
  bool grad_averaging = true;  // m = b1 m + (1-b1) g; false: m = b1 m + g
  double max_grad_norm = 0.0;  // > 0: g /= max(||g||_global / max_grad_norm, 1); 0: off
  bool trust_ratio = true;     // false: r = 1 everywhere (Adam, AdamW)
  bool always_adapt = true;    // false: only groups with weight_decay != 0 are adapted (timm's gate)
  double clip_min = 0.0;       // r = clamp(r, clip_min, clip_max)
  double clip_max = std::numeric_limits<double>::infinity();
  // CPU: pass 1 writes the new moments of adapted tensors to scratch buffers that replace the state
  // after pass 2 (40 instead of 44 bytes per parameter, the same bits; +2 parameter-sized buffers
  // of memory). false recomputes them in pass 2 instead. A speed/memory knob: not part of state_dict.
  bool staged_moments = true;
  // CPU: > 0 runs the cache-blocked step (the default): pass 0 checks every gradient (the
  // no-modification rule needs all of them finite before any write); then, per group of
  // consecutive tensors whose w, g, m, v, u fit in this many bytes (a bigger tensor alone), pass 1
  // writes the new m, v in place and u to a group-sized scratch buffer, with the norms, and pass 2
  // applies w <- decay w - lr r u. Pass 2 no longer recomputes sqrt and division, and its w, u
  // are in the cache: ~4 + 24 + 4 bytes of DRAM traffic per parameter. The same bits as the
  // two-pass orders (staged_moments is then unused); 0 selects them. Not part of state_dict.
  int64_t cache_block_bytes = int64_t{16} << 20;
};

class LambFamily : public Optimizer {
 public:
  LambFamily(std::vector<ParamGroup> groups, const LambFamilyOptions& options, std::string name);
  std::string name() const override { return name_; }
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  const LambFamilyOptions& options() const { return o_; }

  // Reference kernels: each tensor's update runs through the plain loops of optim/reference.cpp
  // instead of the blocked, threaded, vectorised kernels (CPU only, not with a sharding reducer;
  // step() throws tg::Error naming the conflict). For study and debugging: results agree with the
  // fast path to float rounding (tests/optim/test_optim_reference.cpp). Not part of state_dict.
  // The process-wide reference mode (tg::set_kernel_mode, TG_KERNELS=reference, train --kernels)
  // turns them on too, for CPU parameters without a sharding reducer (there it leaves the fast path).
  void set_reference_kernels(bool enabled) { reference_kernels_ = enabled; }
  bool reference_kernels() const { return reference_kernels_; }

 protected:
  int64_t inspect(const std::vector<ActiveParam>& active) override;
  void apply(const std::vector<ActiveParam>& active) override;
  void visit_options(OptionVisitor& visitor) override;
  void validate_options() const override;

 private:
  bool adapted(const ActiveParam& a) const;
  // This step's update through optim/reference.cpp: set_reference_kernels(true), or the process-wide
  // reference mode where the reference loops can run (CPU, unsharded).
  bool use_reference() const;
  AdamCoeffs coeffs(const ActiveParam& a) const;
  int64_t first_non_finite_norm() const;  // over norms_[i].g_sq
  void reduce_norms(const std::vector<ActiveParam>& active);  // the sharding hook over norms_
  bool cache_blocked() const;             // this step runs the cache-blocked CPU schedule
  // r for one tensor from its norms (telemetry recorded), and its update's decay and lr r.
  void trust_step(const ActiveParam& a, const DirectionNorms& n, float& decay, float& step);
  void apply_cache_blocked(const std::vector<ActiveParam>& active);
  void apply_reference(const std::vector<ActiveParam>& active);  // optim/reference.cpp, tensor by tensor

  LambFamilyOptions o_;
  std::string name_;
  bool reference_kernels_ = false;
  float grad_scale_ = 1.f;              // this step's global-clip factor 1/s
  std::vector<DirectionNorms> norms_;   // per active parameter, from inspect()
  std::vector<char> staged_;            // per active parameter: pass 1 wrote its moments to scratch_
  std::vector<std::array<Tensor, 2>> scratch_;  // per parameter: next exp_avg, exp_avg_sq (CPU, staged)
  Tensor direction_;  // u of one cache block (CPU, cache-blocked), as large as the largest block
};

// Throws tg::Error naming the option when a value is out of range.
void validate(const LambFamilyOptions& o, const std::string& optimizer);

}  // namespace tg::optim
