// The LAMB family step (Adam, AdamW, LAMB, LAMBC share it). For each parameter tensor w with
// gradient g, at its step t:
//
//   g <- g / s,   s = max(||G||_2 / max_grad_norm, 1), G = all gradients      (only if max_grad_norm > 0)
//   g <- g + wd w                                                              (Adam's L2 mode)
//   m = b1 m + (1-b1) g            v = b2 v + (1-b2) g^2                       ((1-b1) -> 1 without grad averaging)
//   u = m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)   (no hats without bias correction)
//   u <- u + wd w                                                              (LAMB's L2-in-update mode)
//   w <- (1 - lr wd) w                                                         (decoupled mode)
//   r = ||w|| / ||u||,  r = 1 if ||w|| = 0 or ||u|| = 0                        (adapted tensors; else r = 1)
//   r <- clamp(r, clip_min, clip_max)                                          (LAMBC: clip_max = 1)
//   r <- min(r, 2^127 / lr)                                                    (lr r a finite float)
//   w <- w - lr r u
//
// Norms are per parameter tensor. In the two-pass order (cache_block_bytes = 0; always on the GPU
// and when a sharding reducer is set) pass 1 (every tensor before any write to w or the state)
// computes ||w||^2, ||u||^2 and ||g||^2 -- the last doubles as the NaN/Inf check -- and, for
// adapted tensors on the CPU (staged_moments, the default), writes the new m, v to scratch
// buffers; pass 2 computes u from them and writes w, then the scratch buffers become the state
// (without staging, pass 2 recomputes m, v from g and writes m, v, w). A refused step never
// reaches pass 2, so no state changes. With global gradient clipping one more read of g comes first.
//
// The CPU default is cache-blocked (cache_block_bytes): one read of every gradient first (the
// NaN/Inf check; with global clipping, that pass), then for each group of consecutive tensors whose
// w, g, m, v, u fit in cache_block_bytes (16 MiB by default, meant to stay in cache): pass 1 writes
// the new m, v in place (the check is behind us, so the step can no longer be refused) and u to a
// group-sized scratch buffer, with ||w||^2 and ||u||^2; then pass 2, w <- decay w - lr r u, from u.
#include "optim/lamb_core.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/kernel_mode.h"
#include "engine/cpu/optimizer_kernels.h"
#include "engine/error.h"
#include "engine/kernel_params/optimizer_math.h"
#include "engine/optimizer_kernels.h"
#include "optim/option_checks.h"
#include "optim/reference.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

void validate(const LambFamilyOptions& o, const std::string& opt) {
  check_moment_options(opt, o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
  // NaN fails every comparison below, so each check also refuses NaN.
  TG_CHECK(std::isfinite(o.max_grad_norm) && o.max_grad_norm >= 0.0,
           opt << ": max_grad_norm must be finite and >= 0 (0 = off), got " << o.max_grad_norm);
  TG_CHECK(o.cache_block_bytes >= 0, opt << ": cache_block_bytes must be >= 0 (0 = off), got " << o.cache_block_bytes);
  // clip_max may be +inf (LAMB's unclipped ratio); clip_min is a finite lower bound.
  TG_CHECK(std::isfinite(o.clip_min) && o.clip_min >= 0.0 && o.clip_min <= o.clip_max,
           opt << ": need 0 <= clip_min <= clip_max with clip_min finite, got [" << o.clip_min << ", " << o.clip_max << "]");
}

LambFamily::LambFamily(std::vector<ParamGroup> groups, const LambFamilyOptions& options, std::string name)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), o_(options), name_(std::move(name)) {
  validate(o_, name_);
}

bool LambFamily::adapted(const ActiveParam& a) const {
  return o_.trust_ratio && a.adapt && (o_.always_adapt || a.weight_decay != 0.0);
}

AdamCoeffs LambFamily::coeffs(const ActiveParam& a) const {
  const ParamEntry& e = entry(a);
  const double t = static_cast<double>(e.step + 1);
  AdamCoeffs c;
  c.beta1 = static_cast<float>(o_.beta1);
  c.beta3 = static_cast<float>(o_.grad_averaging ? 1.0 - o_.beta1 : 1.0);
  c.beta2 = static_cast<float>(o_.beta2);
  c.one_minus_beta2 = static_cast<float>(1.0 - o_.beta2);
  if (o_.bias_correction) {
    c.inv_bc1 = static_cast<float>(1.0 / (1.0 - std::pow(o_.beta1, t)));
    c.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(o_.beta2, t)));
  }
  c.eps = static_cast<float>(o_.eps);
  c.grad_scale = grad_scale_;
  c.l2_grad = o_.weight_decay_mode == WeightDecayMode::kL2Gradient ? static_cast<float>(a.weight_decay) : 0.f;
  c.l2_update = o_.weight_decay_mode == WeightDecayMode::kL2Update ? static_cast<float>(a.weight_decay) : 0.f;
  return c;
}

int64_t LambFamily::first_non_finite_norm() const {
  std::vector<double> g_sq(norms_.size());
  for (size_t i = 0; i < norms_.size(); ++i) g_sq[i] = norms_[i].g_sq;
  return first_non_finite(g_sq);
}

bool LambFamily::use_reference() const {
  return reference_kernels_ || (tg::reference_kernels() && device().is_cpu() && !has_partial_sum_reducer());
}

int64_t LambFamily::inspect(const std::vector<ActiveParam>& active) {
  if (reference_kernels_) {
    TG_CHECK(device().is_cpu(), name_ << ": reference kernels run on the CPU only; the parameters are on "
                                      << device().str() << " (set_reference_kernels(false) there)");
    TG_CHECK(!has_partial_sum_reducer(), name_ << ": reference kernels cannot run a sharded optimizer (their "
                                                  "norms are per slice); set_reference_kernels(false) there");
  }
  grad_scale_ = 1.f;
  staged_.assign(active.size(), 0);  // set below for the adapted tensors of a CPU step
  norms_.assign(active.size(), DirectionNorms{});
  if (o_.max_grad_norm > 0.0) {
    // Global clipping needs ||G|| before any u: one read of every gradient (also the NaN check).
    if (const int64_t bad = Optimizer::inspect(active); bad >= 0) return bad;
    const double total = global_grad_sq();  // ||G||^2 over all tensors (all ranks' when sharded)
    const double scale = std::max(std::sqrt(total) / o_.max_grad_norm, 1.0);  // s = max(||G|| / max, 1)
    grad_scale_ = static_cast<float>(1.0 / scale);
  }
  bool any_adapted = false;
  for (const auto& a : active) any_adapted = any_adapted || adapted(a);
  // The gradient check only; norms come in apply(). Sharded: always the norms pass below, so the
  // partial sums are reduced the same number of times on every rank.
  if (!has_partial_sum_reducer() && (!any_adapted || cache_blocked() || use_reference())) {
    if (o_.max_grad_norm > 0.0) return -1;  // the global-norm pass checked them
    const int64_t bad = Optimizer::inspect(active);
    for (size_t i = 0; i < active.size(); ++i) norms_[i].g_sq = grad_sq_[i];
    return bad;
  }

  std::vector<AdamCoeffs> c(active.size());
  for (size_t i = 0; i < active.size(); ++i) c[i] = coeffs(active[i]);
  if (device().is_cuda()) {  // one norms launch per tensor, each returning its three sums
    for (size_t i = 0; i < active.size(); ++i) {
      const ActiveParam& a = active[i];
      if (!adapted(a)) {
        norms_[i].g_sq = o_.max_grad_norm > 0.0 ? 0.0 : device_sum_squares(device(), a.g, a.numel);
        continue;
      }
      const ParamEntry& p = entry(a);
      norms_[i] = device_adam_direction_norms(device(), a.w, a.g, p.state[0].data(), p.state[1].data(), a.numel, c[i]);
    }
    reduce_norms(active);
    return first_non_finite_norm();
  }
  // Staged moments: scratch buffers for every adapted tensor, allocated once and reused.
  if (o_.staged_moments) {
    scratch_.resize(params().size());
    for (size_t i = 0; i < active.size(); ++i) {
      if (!adapted(active[i])) continue;
      std::array<Tensor, 2>& sc = scratch_[active[i].index];
      const Shape& shape = entry(active[i]).tensor.shape();
      for (Tensor& t : sc) {
        if (!t.defined()) t = Tensor::empty(shape);
      }
      staged_[i] = 1;
    }
  }
  const auto sums = per_tensor_sums<3>(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    if (!adapted(a)) {  // only the NaN/Inf check, unless the global-norm pass already did it
      return std::array<double, 3>{0.0, 0.0, o_.max_grad_norm > 0.0 ? 0.0 : cpu::chunk_sum_squares(a.g + b, e - b)};
    }
    const ParamEntry& p = entry(a);
    const float* m = p.state[0].data() + b;
    const float* v = p.state[1].data() + b;
    const DirectionNorms n =
        staged_[i] ? cpu::adam_direction_norms_staged(a.w + b, a.g + b, m, v, scratch_[a.index][0].data() + b,
                                                      scratch_[a.index][1].data() + b, e - b, c[i])
                   : cpu::adam_direction_norms(a.w + b, a.g + b, m, v, e - b, c[i], /*parallel=*/false);
    return std::array<double, 3>{n.w_sq, n.u_sq, n.g_sq};
  });
  for (size_t i = 0; i < active.size(); ++i) norms_[i] = DirectionNorms{sums[i][0], sums[i][1], sums[i][2]};
  reduce_norms(active);
  return first_non_finite_norm();
}

void LambFamily::reduce_norms(const std::vector<ActiveParam>& active) {
  if (!has_partial_sum_reducer()) return;
  std::vector<double> w_sq(norms_.size()), u_sq(norms_.size()), g_sq(norms_.size());
  for (size_t i = 0; i < norms_.size(); ++i) {
    w_sq[i] = norms_[i].w_sq;
    u_sq[i] = norms_[i].u_sq;
    g_sq[i] = norms_[i].g_sq;
  }
  reduce_partial_sums(active, {&w_sq, &u_sq, &g_sq});
  for (size_t i = 0; i < norms_.size(); ++i) norms_[i] = DirectionNorms{w_sq[i], u_sq[i], g_sq[i]};
}

bool LambFamily::cache_blocked() const {
  // Sharded, the norms of all tensors are reduced across ranks in inspect(), before any update.
  return o_.cache_block_bytes > 0 && device().is_cpu() && !has_partial_sum_reducer();
}

void LambFamily::trust_step(const ActiveParam& a, const DirectionNorms& n, float& decay, float& step) {
  // Decoupled weight decay: w <- (1 - lr wd) w, before the ratio (so ||w|| is the decayed norm).
  const double d = o_.weight_decay_mode == WeightDecayMode::kDecoupled ? 1.0 - a.lr * a.weight_decay : 1.0;
  double r = 1.0;
  if (adapted(a)) {
    const double w_norm = std::sqrt(n.w_sq) * std::abs(d);
    const double u_norm = std::sqrt(n.u_sq);
    double raw = 1.0;
    r = clipped_trust_ratio(w_norm, u_norm, o_.clip_min, o_.clip_max, raw);  // clamp(||w|| / ||u||, lo, hi)
    r = float_safe_ratio(r, a.lr);  // r <= 2^127 / lr: lr r stays a finite float
    record_trust_ratio(a, w_norm, u_norm, raw, r);
  }
  decay = static_cast<float>(d);
  step = static_cast<float>(a.lr * r);  // w -= lr r u
}

void LambFamily::apply_cache_blocked(const std::vector<ActiveParam>& active) {
  const std::vector<int64_t> all = numels(active);
  // Working set per element: w g m v u, 20 bytes; a group's u lives in one scratch buffer.
  const int64_t max_numel = std::max<int64_t>(o_.cache_block_bytes / 20, 1);
  const std::vector<TensorRange> groups = cache_groups(all, max_numel);
  int64_t scratch = 0;  // the most u elements one group needs (adapted tensors only)
  for (const TensorRange& group : groups) {
    int64_t sum = 0;
    for (size_t i = group.begin; i < group.end; ++i) sum += adapted(active[i]) ? all[i] : 0;
    scratch = std::max(scratch, sum);
  }
  if (scratch > 0 && (!direction_.defined() || direction_.numel() < scratch)) direction_ = Tensor::empty({scratch});
  for (const TensorRange& group : groups) {
    const size_t first = group.begin, count = group.end - group.begin;
    const std::vector<int64_t> n(all.begin() + static_cast<std::ptrdiff_t>(first),
                                 all.begin() + static_cast<std::ptrdiff_t>(group.end));
    std::vector<float*> u(count, nullptr);  // each adapted tensor's slice of the scratch buffer
    bool any_adapted = false;
    float* next = scratch > 0 ? direction_.data() : nullptr;
    for (size_t j = 0; j < count; ++j) {
      if (!adapted(active[first + j])) continue;
      u[j] = next;
      next += n[j];
      any_adapted = true;
    }
    std::vector<AdamCoeffs> c(count);
    std::vector<float> decay(count, 1.f), step(count, 0.f);
    for (size_t j = 0; j < count; ++j) {
      c[j] = coeffs(active[first + j]);
      if (!adapted(active[first + j])) trust_step(active[first + j], DirectionNorms{}, decay[j], step[j]);  // r = 1
    }
    // Pass 1: new moments in place and u into the scratch buffer, with ||w||^2 and ||u||^2; tensors
    // that are not adapted (r = 1) are updated here completely.
    const auto sums = per_tensor_sums<2>(n, [&](size_t j, int64_t b, int64_t e) {
      const ActiveParam& a = active[first + j];
      ParamEntry& p = entry(a);
      if (!adapted(a)) {
        cpu::adam_update(a.w + b, a.g + b, p.state[0].data() + b, p.state[1].data() + b, e - b, c[j], decay[j],
                         step[j], /*parallel=*/false);
        return std::array<double, 2>{0.0, 0.0};
      }
      const DirectionNorms d = cpu::adam_moments_and_direction(a.w + b, a.g + b, p.state[0].data() + b,
                                                               p.state[1].data() + b, u[j] + b, e - b, c[j]);
      return std::array<double, 2>{d.w_sq, d.u_sq};
    });
    for (size_t j = 0; j < count; ++j) {
      if (!adapted(active[first + j])) continue;
      DirectionNorms& d = norms_[first + j];
      d.w_sq = sums[j][0];
      d.u_sq = sums[j][1];
      trust_step(active[first + j], d, decay[j], step[j]);
    }
    // Pass 2 over the same group at once: w -= lr r u.
    if (!any_adapted) continue;
    for_each_chunk(n, [&](size_t j, int64_t b, int64_t e) {
      if (adapted(active[first + j])) cpu::apply_direction(active[first + j].w + b, u[j] + b, e - b, decay[j], step[j]);
    });
  }
}

void LambFamily::apply_reference(const std::vector<ActiveParam>& active) {
  for (const ActiveParam& a : active) {
    ParamEntry& p = entry(a);
    const reference::TensorStep s{p.step + 1, a.lr, a.weight_decay, a.adapt, grad_scale_};
    const reference::TrustRatio r =
        reference::lamb_family_step(o_, s, a.w, a.g, p.state[0].data(), p.state[1].data(), a.numel);
    if (adapted(a)) record_trust_ratio(a, r.w_norm, r.u_norm, r.raw, r.applied);
  }
}

void LambFamily::apply(const std::vector<ActiveParam>& active) {
  if (use_reference()) {
    apply_reference(active);
    return;
  }
  if (cache_blocked()) {
    apply_cache_blocked(active);
    return;
  }
  std::vector<float> decay(active.size(), 1.f), step(active.size());
  for (size_t i = 0; i < active.size(); ++i) trust_step(active[i], norms_[i], decay[i], step[i]);
  std::vector<AdamCoeffs> c(active.size());
  for (size_t i = 0; i < active.size(); ++i) c[i] = coeffs(active[i]);
  if (device().is_cuda()) {  // one update launch per tensor
    for (size_t i = 0; i < active.size(); ++i) {
      const ActiveParam& a = active[i];
      ParamEntry& p = entry(a);
      device_adam_update(device(), a.w, a.g, p.state[0].data(), p.state[1].data(), a.numel, c[i], decay[i], step[i]);
    }
    return;
  }
  for_each_chunk(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    ParamEntry& p = entry(a);
    if (staged_[i]) {  // the new moments are in the scratch buffers already
      cpu::adam_update_staged(a.w + b, scratch_[a.index][0].data() + b, scratch_[a.index][1].data() + b, e - b,
                              c[i], decay[i], step[i]);
      return;
    }
    cpu::adam_update(a.w + b, a.g + b, p.state[0].data() + b, p.state[1].data() + b, e - b, c[i], decay[i], step[i],
                     /*parallel=*/false);
  });
  // The staged moments become the state; the old state tensors are next step's scratch.
  for (size_t i = 0; i < active.size(); ++i) {
    if (!staged_[i]) continue;
    ParamEntry& p = entry(active[i]);
    std::swap(p.state[0], scratch_[active[i].index][0]);
    std::swap(p.state[1], scratch_[active[i].index][1]);
  }
}

void LambFamily::validate_options() const { validate(o_, name_); }

void LambFamily::visit_options(OptionVisitor& v) {
  v.field("lr", o_.lr);
  v.field("beta1", o_.beta1);
  v.field("beta2", o_.beta2);
  v.field("eps", o_.eps);
  v.field("weight_decay", o_.weight_decay);
  int mode = static_cast<int>(o_.weight_decay_mode);
  v.field("weight_decay_mode", mode, 0, 2);
  o_.weight_decay_mode = static_cast<WeightDecayMode>(mode);
  v.field("bias_correction", o_.bias_correction);
  v.field("grad_averaging", o_.grad_averaging);
  v.field("max_grad_norm", o_.max_grad_norm);
  v.field("trust_ratio", o_.trust_ratio);
  v.field("always_adapt", o_.always_adapt);
  v.field("clip_min", o_.clip_min);
  v.field("clip_max", o_.clip_max);
}

}  // namespace tg::optim
