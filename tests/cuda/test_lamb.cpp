// The LAMB-family CUDA kernels (cuda/lamb.h): the twins of the CPU kernels against
// engine/cpu/optimizer_kernels.h, and the fused single-tensor step (ratio on the device) and the
// multi-tensor step against the plain-loop reference (optim/reference.h); the multi-tensor
// ratios must stay per tensor (layer-wise, never global).
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda/lamb.h"
#include "engine/cpu/optimizer_kernels.h"
#include "optim/reference.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

namespace {

// Coefficients of step t (1-based) with bias correction, as optim::LambFamily::coeffs builds them.
AdamCoeffs coeffs_at(int t, float l2_update = 0.f, float l2_grad = 0.f) {
  AdamCoeffs c;
  c.beta1 = 0.9f;
  c.beta3 = 0.1f;
  c.beta2 = 0.999f;
  c.one_minus_beta2 = 0.001f;
  c.inv_bc1 = static_cast<float>(1.0 / (1.0 - std::pow(0.9, t)));
  c.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(0.999, t)));
  c.eps = 1e-6f;
  c.l2_update = l2_update;
  c.l2_grad = l2_grad;
  return c;
}

struct HostTensor {
  std::vector<float> w, g, m, v;
};

HostTensor make_tensor(int64_t n, uint32_t seed, float w_scale) {
  HostTensor t;
  t.w = random_floats(n, seed, -w_scale, w_scale);
  t.g = random_floats(n, seed + 1, -0.1f, 0.1f);
  t.m = random_floats(n, seed + 2, -0.01f, 0.01f);
  t.v = random_floats(n, seed + 3, 0.f, 1e-3f);
  return t;
}

// The reference step (optim/reference.h) with the hyper-parameters of coeffs_at (bias correction,
// eps 1e-6) and weight decay wd in `mode`. Returns [r, raw, ||w||, ||u||].
std::vector<double> reference_step(HostTensor& h, int t, float lr, float wd, optim::WeightDecayMode mode, bool adapt,
                                   double clip_max, float grad_scale = 1.f) {
  optim::LambFamilyOptions o;
  o.beta1 = 0.9;
  o.beta2 = 0.999;
  o.eps = 1e-6;
  o.weight_decay_mode = mode;
  o.bias_correction = true;
  o.always_adapt = true;  // `adapt` alone decides, as in cuda::TrustRatioOptions
  o.clip_min = 0.0;
  o.clip_max = clip_max;
  const optim::reference::TensorStep step{t, lr, wd, adapt, grad_scale};
  const optim::reference::TrustRatio r = optim::reference::lamb_family_step(
      o, step, h.w.data(), h.g.data(), h.m.data(), h.v.data(), static_cast<int64_t>(h.w.size()));
  return {r.applied, r.raw, r.w_norm, r.u_norm};
}

// decay = 1 - lr wd for decoupled weight decay, as the reference computes it; 1 otherwise.
float decay_of(float lr, float wd, optim::WeightDecayMode mode) {
  return mode == optim::WeightDecayMode::kDecoupled ? static_cast<float>(1.0 - static_cast<double>(lr) * wd) : 1.f;
}

struct DeviceTensor {
  DeviceFloats w, g, m, v;
  explicit DeviceTensor(const HostTensor& t) : w(t.w), g(t.g), m(t.m), v(t.v) {}
};

// w = decay w - lr r u can cancel: its error is an ulp of the operands (|w| <= w_scale), not of the result.
void check_tensor(const DeviceTensor& d, const HostTensor& h, const std::string& what, float w_scale = 1.f) {
  check_close(d.w.host(), h.w, 1e-6, 5e-7 * std::max(1.f, w_scale), what + " w");
  check_close(d.m.host(), h.m, 1e-6, 1e-9, what + " m");
  check_close(d.v.host(), h.v, 1e-6, 1e-12, what + " v");
}

}  // namespace

TEST_CASE("cuda adam_direction_norms and adam_update mirror the CPU kernels") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t n = 50000;
  HostTensor h = make_tensor(n, 400, 1.f);
  DeviceTensor d(h);
  const AdamCoeffs c = coeffs_at(3, 0.01f);
  const auto ref = cpu::adam_direction_norms(h.w.data(), h.g.data(), h.m.data(), h.v.data(), n, c, false);
  const auto got = cuda::adam_direction_norms(d.w.get(), d.g.get(), d.m.get(), d.v.get(), n, c, true);
  check_close(got.w_sq, ref.w_sq, 1e-6, 0.0, "adam_direction_norms w_sq");
  check_close(got.u_sq, ref.u_sq, 1e-6, 0.0, "adam_direction_norms u_sq");
  check_close(got.g_sq, ref.g_sq, 1e-6, 0.0, "adam_direction_norms g_sq");
  cpu::adam_update(h.w.data(), h.g.data(), h.m.data(), h.v.data(), n, c, 0.999f, 0.01f, false);
  cuda::adam_update(d.w.get(), d.g.get(), d.m.get(), d.v.get(), n, c, 0.999f, 0.01f, true);
  check_tensor(d, h, "adam_update");
}

TEST_CASE("cuda lamb_step (ratio on the device) matches the reference for LAMB, LAMBC, AdamW and decoupled decay") {
  TG_REQUIRE_CUDA_DEVICE();
  const float inf = std::numeric_limits<float>::infinity();
  using Mode = optim::WeightDecayMode;
  struct Config { const char* name; float wd; Mode mode; bool adapt; float clip_max; float w_scale; };
  const std::vector<Config> configs = {
      {"LAMB", 0.01f, Mode::kL2Update, true, inf, 1.f},
      {"LAMBC clipped", 0.01f, Mode::kL2Update, true, 1.f, 20.f},  // ||w|| >> ||u||: raw r > 1, clipped to 1
      {"AdamW (r = 1)", 0.05f, Mode::kDecoupled, false, inf, 1.f},
      {"LAMB decoupled", 0.05f, Mode::kDecoupled, true, inf, 1.f},
  };
  const float lr = 0.01f;
  for (const Config& cfg : configs) {
    const int64_t n = 40000;  // three chunks
    HostTensor h = make_tensor(n, 410, cfg.w_scale);
    DeviceTensor d(h);
    DeviceFloats tele(cuda::kLambTelemetry);
    for (int t = 1; t <= 3; ++t) {
      const AdamCoeffs c = coeffs_at(t, cfg.mode == Mode::kL2Update ? cfg.wd : 0.f);
      const auto ref = reference_step(h, t, lr, cfg.wd, cfg.mode, cfg.adapt, cfg.clip_max);
      cuda::TrustRatioOptions o;
      o.lr = lr;
      o.decay = decay_of(lr, cfg.wd, cfg.mode);
      o.adapt = cfg.adapt;
      o.clip_max = cfg.clip_max;
      cuda::lamb_step(d.w.get(), d.g.get(), d.m.get(), d.v.get(), n, c, o, tele.get());
      const std::string what = std::string(cfg.name) + " step " + std::to_string(t);
      check_tensor(d, h, what, cfg.w_scale);
      const auto tel = tele.host();
      check_close(std::vector<float>(tel.begin(), tel.begin() + 4),
                  std::vector<float>{float(ref[0]), float(ref[1]), float(ref[2]), float(ref[3])}, 1e-5, 0.0,
                  what + " telemetry [r, raw, |w|, |u|]");
      if (std::string(cfg.name) == "LAMBC clipped") {
        CHECK(tel[1] > 1.f);  // the raw ratio exceeded the clip ...
        CHECK(tel[0] == 1.f);  // ... and was clipped to clip_max
      }
    }
  }
}

TEST_CASE("cuda lamb_step applies a device-side gradient scale") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t n = 3000;
  HostTensor h = make_tensor(n, 420, 1.f);
  DeviceTensor d(h);
  DeviceFloats scale(std::vector<float>{0.25f});
  AdamCoeffs c = coeffs_at(1, 0.01f);
  cuda::TrustRatioOptions o;
  o.lr = 0.02f;
  cuda::lamb_step(d.w.get(), d.g.get(), d.m.get(), d.v.get(), n, c, o, nullptr, scale.get());
  reference_step(h, 1, 0.02f, 0.01f, optim::WeightDecayMode::kL2Update, true, std::numeric_limits<double>::infinity(),
                 0.25f);
  check_tensor(d, h, "lamb_step grad_scale");
}

TEST_CASE("cuda lamb_step_multi keeps norms per tensor and matches the per-tensor reference") {
  TG_REQUIRE_CUDA_DEVICE();
  // Tensors of very different sizes and scales: a layer-wise ratio differs per tensor.
  const std::vector<int64_t> sizes = {7, 40000, 1, 16384, 900};
  const std::vector<float> scales = {0.5f, 2.f, 1.f, 0.05f, 8.f};
  const std::vector<float> wds = {0.f, 0.01f, 0.f, 0.01f, 0.1f};
  const std::vector<bool> adapt = {true, true, false, true, true};
  for (float max_grad_norm : {0.f, 0.5f}) {
    std::vector<HostTensor> host;
    std::vector<std::unique_ptr<DeviceTensor>> dev;
    std::vector<cuda::LambTensor> list;
    for (size_t i = 0; i < sizes.size(); ++i) {
      host.push_back(make_tensor(sizes[i], 430 + 10 * static_cast<uint32_t>(i), scales[i]));
      dev.push_back(std::make_unique<DeviceTensor>(host.back()));
      list.push_back(cuda::LambTensor{dev.back()->w.get(), dev.back()->g.get(), dev.back()->m.get(),
                                      dev.back()->v.get(), sizes[i], wds[i], 1.f, adapt[i]});
    }
    cuda::LambMultiTensorPlan plan(list, 0);
    CHECK(plan.tensors() == 5);
    CHECK(plan.chunks() == 1 + 3 + 1 + 1 + 1);
    DeviceFloats tele(sizes.size() * cuda::kLambTelemetry);
    const std::string tag = max_grad_norm > 0.f ? " (global clip)" : "";
    for (int t = 1; t <= 2; ++t) {
      const float lr = 0.01f;
      cuda::LambStepOptions o;
      o.lr = lr;
      o.weight_decay_mode = cuda::LambWeightDecay::kL2Update;
      o.clip_max = 10.f;
      o.max_grad_norm = max_grad_norm;
      cuda::lamb_step_multi(plan, coeffs_at(t), o, tele.get());
      // CPU: global clip factor over all gradients, then each tensor on its own.
      float gscale = 1.f;
      if (max_grad_norm > 0.f) {
        double total = 0.0;
        for (const auto& h : host)
          for (float g : h.g) total += static_cast<double>(g) * g;
        gscale = static_cast<float>(optim::reference::global_grad_scale(total, max_grad_norm));
        CHECK(gscale < 1.f);  // the clip is active in this test
      }
      const auto tel = tele.host();
      std::vector<float> ratios;
      for (size_t i = 0; i < host.size(); ++i) {
        const auto ref =
            reference_step(host[i], t, lr, wds[i], optim::WeightDecayMode::kL2Update, adapt[i], 10.0, gscale);
        const std::string what = "multi tensor " + std::to_string(i) + " step " + std::to_string(t) + tag;
        check_tensor(*dev[i], host[i], what, scales[i]);
        check_close(tel[cuda::kLambTelemetry * i], static_cast<float>(ref[0]), 1e-5, 0.0, what + " r");
        ratios.push_back(tel[cuda::kLambTelemetry * i]);
      }
      CHECK(ratios[2] == 1.f);  // not adapted
      // Layer-wise: the adapted tensors do not share one (global) ratio.
      CHECK(ratios[0] != ratios[1]);
      CHECK(ratios[1] != ratios[3]);
      CHECK(ratios[3] != ratios[4]);
    }
  }
}

#endif  // TRUSTGRAD_WITH_CUDA
