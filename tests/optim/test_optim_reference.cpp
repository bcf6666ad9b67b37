// The fast CPU orders of the LAMB family (cache-blocked, staged two-pass, plain two-pass; threads,
// chunks, vectorised sqrt) against the plain-loop reference of optim/reference.h, for LAMBC in both
// presets, LAMB, Adam and AdamW. Tolerance: m, v are the same bits after the first step (the same
// float expressions, and no FMA contraction under -std=c++20); after several steps w, m, v agree
// to 1e-6 of each tensor's largest element and the trust ratios to 1e-12 relative (the norms' double
// sums are added in another order, which can move r, and so w, by an ulp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/cpu/kernel_mode.h"
#include "engine/error.h"
#include "optim_test_util.h"

namespace tg::optim {
namespace {

using namespace testing;  // optim_test_util.h: make_params, clone_params, random_grads, set_grads, max_rel_err

const std::vector<std::pair<std::string, Shape>> kShapes = {{"conv.weight", {8, 4, 3, 3}}, {"bn.weight", {8}},
                                                            {"bn.bias", {8}},            {"big.weight", {3, 9001}},
                                                            {"fc.weight", {10, 32}},     {"fc.bias", {10}}};

// One tensor as the reference sees it: weights, moments and the step count of its own.
struct ReferenceTensor {
  std::vector<float> w, m, v;
  int64_t t = 0;
  reference::TensorStep settings;  // lr, weight decay, adapt of its group
};

// The reference optimizer: the optimizer's groups (lr, weight decay, adapt) per tensor, by name.
std::map<std::string, ReferenceTensor> reference_tensors(const LambFamily& opt) {
  std::map<std::string, ReferenceTensor> out;
  for (const Group& g : opt.groups()) {
    for (size_t i : g.params) {
      const ParamEntry& e = opt.params()[i];
      ReferenceTensor r;
      r.w = e.tensor.to_vector();
      r.m.assign(r.w.size(), 0.f);
      r.v.assign(r.w.size(), 0.f);
      r.settings.lr = g.lr;
      r.settings.weight_decay = g.weight_decay;
      r.settings.adapt = g.adapt;
      out.emplace(e.name, r);
    }
  }
  return out;
}

// One reference step over every tensor with these gradients; returns the ratios by name.
std::map<std::string, reference::TrustRatio> reference_step(const LambFamilyOptions& o, const NamedTensors& params,
                                                              const std::vector<Tensor>& grads,
                                                              std::map<std::string, ReferenceTensor>& tensors) {
  double total_sq = 0.0;  // ||G||^2 over the step's gradients (global clipping)
  for (const Tensor& g : grads) {
    for (float x : g.to_vector()) total_sq += static_cast<double>(x) * x;
  }
  const double grad_scale = reference::global_grad_scale(total_sq, o.max_grad_norm);
  std::map<std::string, reference::TrustRatio> ratios;
  for (size_t i = 0; i < params.size(); ++i) {
    ReferenceTensor& r = tensors.at(params[i].first);
    reference::TensorStep s = r.settings;
    s.t = ++r.t;
    s.grad_scale = grad_scale;
    const std::vector<float> g = grads[i].to_vector();
    ratios[params[i].first] = reference::lamb_family_step(o, s, r.w.data(), g.data(), r.m.data(), r.v.data(),
                                                          static_cast<int64_t>(g.size()));
  }
  return ratios;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// |a - b| <= 1e-6 max|b| (a tensor-wise tolerance: near-zero elements are not singled out).
void check_close_tensor(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  const double err = max_rel_err(a, b);
  CHECK_MESSAGE(err <= 1e-6, what << ": max |fast - reference| / max |reference| = " << err);
}

struct Case {
  const char* name;
  LambFamilyOptions options;
  std::function<std::vector<ParamGroup>(const NamedTensors&)> groups;
  bool global_clip;  // the step's gradient scale comes from a sum over all tensors (not bit-exact)
};

std::vector<Case> cases() {
  const auto lambc_groups = [](LambcPreset preset) {
    return [preset](const NamedTensors& p) { return lambc_param_groups(preset, p, 0.01); };
  };
  const auto decayed = [](double wd) { return [wd](const NamedTensors& p) { return default_param_groups(p, wd); }; };
  return {
      {"LAMBC paper", family_options(lambc_options(LambcPreset::kPaper, 0.03, 0.01)), lambc_groups(LambcPreset::kPaper),
       false},
      {"LAMBC timm", family_options(lambc_options(LambcPreset::kTimm, 0.03, 0.01)), lambc_groups(LambcPreset::kTimm),
       true},
      {"LAMB", family_options(LambOptions{.lr = 0.02, .weight_decay = 0.01, .max_grad_norm = 0.0}), decayed(0.01),
       false},
      {"Adam", family_options(AdamOptions{.lr = 0.01, .weight_decay = 0.01}), decayed(0.01), false},
      {"AdamW", family_options(AdamWOptions{.lr = 0.01, .weight_decay = 0.05}), decayed(0.05), false},
  };
}

TEST_CASE("every CPU order of the LAMB family matches the plain-loop reference (LAMBC, LAMB, Adam, AdamW)") {
  const CpuOrder orders[] = {{"cache-blocked", true, LambFamilyOptions{}.cache_block_bytes},
                             {"cache-blocked, a group per tensor", true, 1},
                             {"two-pass staged", true, 0},
                             {"two-pass plain", false, 0}};
  for (const Case& c : cases()) {
    for (const CpuOrder& order : orders) {
      CAPTURE(c.name);
      CAPTURE(order.name);
      const NamedTensors params = make_params(kShapes, 3, 1.5f);
      LambFamilyOptions o = c.options;
      o.staged_moments = order.staged;
      o.cache_block_bytes = order.block_bytes;
      LambFamily fast(c.groups(params), o, c.name);
      std::map<std::string, ReferenceTensor> ref = reference_tensors(fast);
      Generator gen(17);
      for (int step = 1; step <= 4; ++step) {
        const std::vector<Tensor> grads = random_grads(params, gen, 0.5f);
        set_grads(params, grads);
        fast.step();
        const auto ratios = reference_step(o, params, grads, ref);
        for (const auto& entry : params) {
          const std::string& name = entry.first;
          const ReferenceTensor& r = ref.at(name);
          const std::vector<float> m = fast.state(name, "exp_avg")->to_vector();
          const std::vector<float> v = fast.state(name, "exp_avg_sq")->to_vector();
          const std::string what = name + " step " + std::to_string(step);
          if (step == 1 && !c.global_clip) {
            CHECK_MESSAGE(same_bits(m, r.m), what << " exp_avg bits");
            CHECK_MESSAGE(same_bits(v, r.v), what << " exp_avg_sq bits");
          }
          check_close_tensor(entry.second.to_vector(), r.w, what + " w");
          check_close_tensor(m, r.m, what + " exp_avg");
          check_close_tensor(v, r.v, what + " exp_avg_sq");
        }
        // The trust ratios the optimizer recorded (adapted tensors only) are the reference's.
        for (const TrustRatioRecord& rec : fast.trust_ratios()) {
          const reference::TrustRatio& r = ratios.at(rec.name);
          CHECK_MESSAGE(std::abs(rec.raw_ratio - r.raw) <= 1e-12 * r.raw, rec.name << " raw ratio");
          CHECK_MESSAGE(std::abs(rec.applied_ratio - r.applied) <= 1e-12 * r.applied, rec.name << " applied ratio");
        }
      }
    }
  }
}

TEST_CASE("set_reference_kernels: LAMBC steps through the reference, agrees with the fast path, still refuses NaN") {
  for (const LambcPreset preset : {LambcPreset::kPaper, LambcPreset::kTimm}) {
    CAPTURE(static_cast<int>(preset));
    const NamedTensors fast_params = make_params(kShapes, 5, 1.5f);
    const NamedTensors ref_params = clone_params(fast_params);
    Lambc fast(fast_params, preset, 0.03, 0.01);
    Lambc slow(ref_params, preset, 0.03, 0.01);
    slow.set_reference_kernels(true);
    CHECK(slow.reference_kernels());
    Generator gen(23);
    int differing_ratios = 0, all_ratios = 0;
    for (int step = 1; step <= 3; ++step) {
      const std::vector<Tensor> grads = random_grads(fast_params, gen, 0.5f);
      set_grads(fast_params, grads);
      set_grads(ref_params, grads);
      fast.step();
      slow.step();
      REQUIRE(fast.trust_ratios().size() == slow.trust_ratios().size());
      for (size_t k = 0; k < fast.trust_ratios().size(); ++k) {
        const TrustRatioRecord &f = fast.trust_ratios()[k], &r = slow.trust_ratios()[k];
        CHECK(r.name == f.name);
        CHECK(r.applied_ratio == doctest::Approx(f.applied_ratio).epsilon(1e-12));
        differing_ratios += r.raw_ratio != f.raw_ratio ? 1 : 0;
        all_ratios += 1;
      }
    }
    for (size_t i = 0; i < fast_params.size(); ++i) {
      check_close_tensor(ref_params[i].second.to_vector(), fast_params[i].second.to_vector(), fast_params[i].first);
    }
    // The reference path really ran: its norms are summed in another order, so some raw ratios differ
    // in the last bits (10 of 18 for paper, 9 of 9 for timm with these seeds; deterministic).
    CHECK_MESSAGE(differing_ratios > 0, "all " << all_ratios << " raw ratios have the fast path's bits");
    // A NaN gradient is refused before the reference loops run: nothing changes.
    Generator bad_gen(29);
    std::vector<Tensor> grads = random_grads(ref_params, bad_gen);
    grads.back().data()[0] = std::numeric_limits<float>::quiet_NaN();
    set_grads(ref_params, grads);
    const NamedTensors before = clone_params(ref_params);
    CHECK_THROWS_AS(slow.step(), Error);
    CHECK(bitwise_equal(ref_params, before));
  }
}

TEST_CASE("the process-wide reference mode runs LAMBC through the same reference as set_reference_kernels") {
  // tg::set_kernel_mode(Reference) (TG_KERNELS=reference, train --kernels reference) must take the
  // optimizer's update through optim/reference.cpp too: bit for bit the explicit per-optimizer switch.
  const NamedTensors a_params = make_params(kShapes, 8, 1.5f);
  const NamedTensors b_params = clone_params(a_params);
  Lambc explicit_ref(a_params, LambcPreset::kPaper, 0.03, 0.01);
  Lambc global_ref(b_params, LambcPreset::kPaper, 0.03, 0.01);
  explicit_ref.set_reference_kernels(true);
  Generator gen(29);
  const KernelMode before = kernel_mode();
  for (int step = 1; step <= 3; ++step) {
    const std::vector<Tensor> grads = random_grads(a_params, gen, 0.5f);
    set_grads(a_params, grads);
    set_grads(b_params, grads);
    explicit_ref.step();
    set_kernel_mode(KernelMode::Reference);
    global_ref.step();
    set_kernel_mode(before);
  }
  for (size_t i = 0; i < a_params.size(); ++i)
    CHECK(a_params[i].second.to_vector() == b_params[i].second.to_vector());
  REQUIRE(explicit_ref.trust_ratios().size() == global_ref.trust_ratios().size());
  for (size_t k = 0; k < explicit_ref.trust_ratios().size(); ++k)
    CHECK(explicit_ref.trust_ratios()[k].applied_ratio == global_ref.trust_ratios()[k].applied_ratio);
}

TEST_CASE("set_reference_kernels refuses a sharded optimizer, naming the conflict") {
  const NamedTensors params = make_params(kShapes, 6);
  Lambc opt(params, LambcPreset::kPaper, 0.01);
  opt.set_reference_kernels(true);
  opt.set_partial_sum_reducer([](const std::vector<ActiveParam>&, std::vector<double>&, size_t) {});
  Generator gen(31);
  set_grads(params, random_grads(params, gen));
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("sharded"), Error);
}

TEST_CASE("the reference clips LAMBC's ratio to [0, 1] and leaves LAMB's alone") {
  // One tensor with ||w|| >> ||u||: raw r > 1. LAMBC (paper preset) applies min(r, 1), LAMB applies r.
  const std::vector<float> g = {0.1f, -0.2f, 0.3f, -0.4f};
  for (double clip_max : {1.0, std::numeric_limits<double>::infinity()}) {
    std::vector<float> w = {10.f, 20.f, -30.f, 40.f}, m(4, 0.f), v(4, 0.f);
    LambOptions o = lambc_options(LambcPreset::kPaper, 0.01);
    o.clip_max = clip_max;
    const reference::TensorStep step{.t = 1, .lr = 0.01};  // the group's lr and weight decay come with the tensor
    const reference::TrustRatio r = reference::lambc_step(o, step, w.data(), g.data(), m.data(), v.data(), 4);
    // Paper preset, step 1, no bias correction: m = 0.1 g, v = 0.001 g^2, u = m / (sqrt(v) + eps).
    const double u0 = 0.1 * 0.1 / (std::sqrt(0.001 * 0.01) + 1e-6);
    CHECK(r.raw > 1.0);
    CHECK(r.applied == std::min(r.raw, clip_max));
    CHECK(w[0] == doctest::Approx(10.0 - 0.01 * r.applied * u0).epsilon(1e-6));
  }
}

}  // namespace
}  // namespace tg::optim
