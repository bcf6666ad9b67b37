// AdaBelief, per parameter tensor w with gradient g, at its step t:
//
//   w <- (1 - lr wd) w   (decoupled; fixed_decay: (1 - wd) w)      or   g <- g + wd w
//   m = b1 m + (1-b1) g
//   s = b2 s + (1-b2) (g - m)^2 ;  s <- s + eps                      (eps accumulates into s)
//   rectify off:  w <- w - lr/(1-b1^t) * m / (sqrt(s)/sqrt(1-b2^t) + eps)
//   rectify on:   rho_inf = 2/(1-b2) - 1,  rho_t = rho_inf - 2 t b2^t / (1-b2^t)
//                 rho_t >= 5:  w <- w - lr k_t m / (sqrt(s) + eps),
//                              k_t = sqrt((1-b2^t)(rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)) / (1-b1^t)
//                 else:        w <- w - lr m / (1-b1^t)   (degenerated_to_sgd; otherwise no move)
//
// The base class's read-only pass checks the gradients; one update pass.
#include "optim/adabelief.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/simd_sqrt.h"
#include "engine/error.h"
#include "optim/option_checks.h"
#include "optim/tensor_loops.h"

namespace tg::optim {

void validate(const AdaBeliefOptions& o) {
  check_moment_options("adabelief", o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
}

AdaBelief::AdaBelief(std::vector<ParamGroup> groups, const AdaBeliefOptions& options)
    : Optimizer(std::move(groups), options.lr, options.weight_decay), o_(options) {
  validate(o_);
  require_cpu("adabelief has no CUDA kernels yet");
}
AdaBelief::AdaBelief(const NamedTensors& params, const AdaBeliefOptions& options)
    : AdaBelief(single_param_group(params), options) {}

namespace {

enum class Mode { kAdaptive, kRectified, kSgd, kNone };
constexpr int64_t kBlock = 512;  // elements per block (the sqrt scratch stays in L1)
static_assert(kReduceChunk % kBlock == 0, "chunks must hold whole blocks");

struct Scalars {
  Mode mode = Mode::kAdaptive;
  float decay = 1.f, l2 = 0.f, b1 = 0.9f, b2 = 0.999f, one_b1 = 0.1f, one_b2 = 0.001f, eps = 1e-16f;
  float step = 0.f, inv_sqrt_bc2 = 1.f;
};

// The element loop over [0, n) of one chunk (blocks of kBlock for the sqrt scratch).
void adabelief_range(float* w, const float* g, float* m, float* s, int64_t n, const Scalars& c) {
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    float* wb = w + b;
    float* mb = m + b;
    float* sb = s + b;
    const float* gb = g + b;
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) {
      wb[k] = wb[k] * c.decay;                              // decoupled decay
      const float gk = gb[k] + c.l2 * wb[k];                // or L2: g + wd w
      mb[k] = c.b1 * mb[k] + c.one_b1 * gk;                 // m = b1 m + (1-b1) g
      const float r = gk - mb[k];
      sb[k] = c.b2 * sb[k] + (c.one_b2 * r) * r + c.eps;    // s = b2 s + ((1-b2)(g-m))(g-m) + eps (torch's addcmul order)
    }
    if (c.mode == Mode::kSgd) {
#pragma omp simd
      for (int64_t k = 0; k < len; ++k) wb[k] = wb[k] - c.step * mb[k];  // w -= lr m / (1-b1^t)
    } else if (c.mode != Mode::kNone) {
      alignas(64) float root[kBlock];
      cpu::sqrt_block(root, sb, len);
#pragma omp simd
      for (int64_t k = 0; k < len; ++k) {
        wb[k] = wb[k] - c.step * mb[k] / (root[k] * c.inv_sqrt_bc2 + c.eps);  // w -= step m / (sqrt(s_hat) + eps)
      }
    }
  }
}

}  // namespace

void AdaBelief::apply(const std::vector<ActiveParam>& active) {
  std::vector<Scalars> sc(active.size());
  for (size_t i = 0; i < active.size(); ++i) {
    const ActiveParam& a = active[i];
    const double t = static_cast<double>(entry(a).step + 1);
    const double bc1 = 1.0 - std::pow(o_.beta1, t), b2t = std::pow(o_.beta2, t), bc2 = 1.0 - b2t;
    Scalars& c = sc[i];
    c.mode = Mode::kAdaptive;
    double step_size = a.lr / bc1;  // lr / (1 - b1^t)
    c.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    if (o_.rectify) {
      const double rho_inf = 2.0 / (1.0 - o_.beta2) - 1.0;
      const double rho = rho_inf - 2.0 * t * b2t / bc2;
      if (rho >= 5.0) {
        c.mode = Mode::kRectified;
        step_size = a.lr * std::sqrt(bc2 * (rho - 4.0) / (rho_inf - 4.0) * (rho - 2.0) / rho * rho_inf / (rho_inf - 2.0)) / bc1;
        c.inv_sqrt_bc2 = 1.f;
      } else {
        c.mode = o_.degenerated_to_sgd ? Mode::kSgd : Mode::kNone;
      }
    }
    c.decay = !o_.weight_decouple ? 1.f
              : static_cast<float>(1.0 - (o_.fixed_decay ? a.weight_decay : a.lr * a.weight_decay));
    c.l2 = o_.weight_decouple ? 0.f : static_cast<float>(a.weight_decay);
    c.b1 = static_cast<float>(o_.beta1);
    c.b2 = static_cast<float>(o_.beta2);
    c.one_b1 = static_cast<float>(1.0 - o_.beta1);
    c.one_b2 = static_cast<float>(1.0 - o_.beta2);
    c.eps = static_cast<float>(o_.eps);
    c.step = static_cast<float>(step_size);
  }
  for_each_chunk(numels(active), [&](size_t i, int64_t b, int64_t e) {
    const ActiveParam& a = active[i];
    ParamEntry& p = entry(a);
    adabelief_range(a.w + b, a.g + b, p.state[0].data() + b, p.state[1].data() + b, e - b, sc[i]);
  });
}

void AdaBelief::validate_options() const { validate(o_); }

void AdaBelief::visit_options(OptionVisitor& v) {
  v.field("lr", o_.lr);
  v.field("beta1", o_.beta1);
  v.field("beta2", o_.beta2);
  v.field("eps", o_.eps);
  v.field("weight_decay", o_.weight_decay);
  v.field("weight_decouple", o_.weight_decouple);
  v.field("fixed_decay", o_.fixed_decay);
  v.field("rectify", o_.rectify);
  v.field("degenerated_to_sgd", o_.degenerated_to_sgd);
}

}  // namespace tg::optim
