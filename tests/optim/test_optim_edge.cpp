// Edge cases: zero weight norm, zero update norm, huge and tiny ratios, NaN/Inf gradients (refused
// or skipped with nothing modified), parameters without gradients, zero_grad, parameter groups.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/kernel_params/optimizer_math.h"
#include "optim_test_util.h"

namespace tg::optim {
namespace {

using namespace testing;  // optim_test_util.h: make_params, clone_params, random_grads, set_grads, bitwise_equal

Tensor filled(const Shape& shape, float value) { return Tensor::full(shape, value); }

TEST_CASE("zero weight norm: r = 1 and w = -lr u (fresh BN bias)") {
  NamedTensors params{{"bn.bias", Tensor::zeros({6})}};
  const std::vector<float> g = {0.5f, -1.f, 2.f, -0.25f, 1e-3f, 3.f};
  params[0].second.set_grad(Tensor::from_vector(g, {6}));
  Lambc opt(params, LambcPreset::kPaper, 0.1, 0.0);
  opt.step();
  REQUIRE(opt.trust_ratios().size() == 1);
  const TrustRatioRecord& r = opt.trust_ratios()[0];
  CHECK(r.w_norm == 0.0);
  CHECK(r.u_norm > 0.0);
  CHECK(r.raw_ratio == 1.0);
  CHECK(r.applied_ratio == 1.0);
  CHECK_FALSE(r.clipped);
  const std::vector<float> w = params[0].second.to_vector();
  for (size_t k = 0; k < g.size(); ++k) {
    const double u = 0.1 * g[k] / (std::sqrt(0.001 * double(g[k]) * g[k]) + 1e-6);  // m / (sqrt(v) + eps)
    CHECK(w[k] == doctest::Approx(-0.1 * u).epsilon(1e-6));
  }
}

TEST_CASE("zero update norm: r = 1 and the weights stay put") {
  NamedTensors params{{"w", filled({3, 4}, 0.5f)}};
  params[0].second.set_grad(Tensor::zeros({3, 4}));
  Lamb opt(params, LambOptions{.lr = 0.1, .weight_decay = 0.0, .max_grad_norm = 0.0, .always_adapt = true});
  opt.step();
  REQUIRE(opt.trust_ratios().size() == 1);
  CHECK(opt.trust_ratios()[0].u_norm == 0.0);
  CHECK(opt.trust_ratios()[0].raw_ratio == 1.0);
  for (float x : params[0].second.to_vector()) CHECK(x == 0.5f);
}

TEST_CASE("huge ratio: LAMBC clips to 1, LAMB applies it; tiny ratio: clip_min raises it") {
  const float big = 1e4f;
  auto run = [](float w0, const LambOptions& o, std::vector<float>* w_out) {
    NamedTensors params{{"w", Tensor::full({4, 4}, w0)}};
    std::vector<float> g(16);
    for (int k = 0; k < 16; ++k) g[k] = (k % 2 ? 1.f : -1.f) * (0.5f + 0.1f * k);
    params[0].second.set_grad(Tensor::from_vector(g, {4, 4}));
    Lamb opt(params, o);
    opt.step();
    *w_out = params[0].second.to_vector();
    return opt.trust_ratios().at(0);
  };
  LambOptions base{.lr = 1e-3, .weight_decay = 0.0, .bias_correction = false, .max_grad_norm = 0.0, .always_adapt = true};
  std::vector<float> w_clip, w_free;
  base.lr = 1.0;  // big steps, so that they show at the float resolution of 1e4
  LambOptions clip = base;
  clip.clip_max = 1.0;
  const TrustRatioRecord rc = run(big, clip, &w_clip);
  const TrustRatioRecord rf = run(big, base, &w_free);
  // Every |u_k| = 0.1 |g| / (sqrt(0.001) |g| + eps) ~ 3.162, so r = 4e4 / (3.162 * 4).
  CHECK(rf.raw_ratio == doctest::Approx(4.0 * big / std::sqrt(16.0 * 10.0)).epsilon(1e-4));
  CHECK(rc.raw_ratio == rf.raw_ratio);
  CHECK(rc.applied_ratio == 1.0);
  CHECK(rc.clipped);
  CHECK(rf.applied_ratio == rf.raw_ratio);
  CHECK_FALSE(rf.clipped);
  // g[0] < 0, so u[0] = -3.1623 and w[0] = w0 + lr r 3.1623.
  CHECK(w_clip[0] - big == doctest::Approx(1.0 * 1.0 * 3.1623).epsilon(1e-3));
  CHECK(w_free[0] - big == doctest::Approx(1.0 * rf.raw_ratio * 3.1623).epsilon(1e-3));
  base.lr = 1e-3;

  std::vector<float> w_tiny, w_floor;
  const TrustRatioRecord rt = run(1e-6f, base, &w_tiny);
  LambOptions floor = base;
  floor.clip_min = 1e-3;
  const TrustRatioRecord rl = run(1e-6f, floor, &w_floor);
  CHECK(rt.raw_ratio == doctest::Approx(4e-6 / std::sqrt(160.0)).epsilon(1e-4));
  CHECK(rt.applied_ratio == rt.raw_ratio);
  CHECK(rl.applied_ratio == 1e-3);
  CHECK(rl.clipped);
  CHECK(std::isfinite(w_tiny[0]));
  CHECK(w_floor[0] - 1e-6f == doctest::Approx(1e-3 * 1e-3 * 3.1623).epsilon(1e-3));
}

std::vector<std::pair<std::string, Factory>> all_optimizers() {
  return {
      {"sgd", [](const NamedTensors& p) { return std::make_unique<Sgd>(p, SgdOptions{.lr = 0.1, .momentum = 0.9}); }},
      {"adam", [](const NamedTensors& p) { return std::make_unique<Adam>(p); }},
      {"adamw", [](const NamedTensors& p) { return std::make_unique<AdamW>(p); }},
      {"lars", [](const NamedTensors& p) { return std::make_unique<Lars>(p, LarsOptions{.weight_decay = 1e-4}); }},
      {"lamb", [](const NamedTensors& p) { return std::make_unique<Lamb>(p); }},
      {"lambc_paper", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kPaper, 0.01); }},
      {"lambc_timm", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kTimm, 0.01, 0.01); }},
      {"novograd", [](const NamedTensors& p) { return std::make_unique<NovoGrad>(p); }},
      {"adabelief", [](const NamedTensors& p) { return std::make_unique<AdaBelief>(p); }},
  };
}

const std::vector<std::pair<std::string, Shape>> kShapes = {
    {"conv.weight", {4, 3, 3, 3}}, {"bn.weight", {4}}, {"fc.weight", {5, 8}}, {"fc.bias", {5}}};

TEST_CASE("a finite gradient of 1e20 keeps v finite and moves the weight as float64 does (Adam, LAMBC, AdaBelief)") {
  // v = b2 v + (1-b2) g^2 = 1e37 for g = 1e20 (float max 3.4e38). The kernels computed (1-b2)(g g),
  // and g g = 1e40 overflowed: v = inf, u = m / inf = 0, so the element never moved again (Adam:
  // w stayed 1 after 4 steps instead of 0.7388). PyTorch's addcmul computes ((1-b2) g) g.
  const std::vector<std::vector<float>> grads = {{1e20f, 1.f}, {1.f, 1.f}, {1.f, 1.f}, {1.f, 1.f}};
  {  // Adam (torch defaults but lr 0.1) against the rule in double
    NamedTensors params{{"w", Tensor::full({2}, 1.f)}};
    Adam opt(params, AdamOptions{.lr = 0.1});
    double w = 1.0, m = 0.0, v = 0.0;
    for (int t = 1; t <= 4; ++t) {
      params[0].second.set_grad(Tensor::from_vector(grads[t - 1], {2}));
      opt.step();
      const double g = grads[t - 1][0];
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      w -= 0.1 * (m / (1.0 - std::pow(0.9, t))) / (std::sqrt(v / (1.0 - std::pow(0.999, t))) + 1e-8);
      CHECK(std::isfinite(opt.state("w", "exp_avg_sq")->to_vector()[0]));
    }
    CHECK(params[0].second.to_vector()[0] == doctest::Approx(w).epsilon(1e-6));  // 0.73877059
    CHECK(w == doctest::Approx(0.7387706).epsilon(1e-6));
  }
  {  // LAMBC paper preset, one step: u = m / (sqrt(v) + eps) = 3.1623 in both elements
    NamedTensors params{{"w", Tensor::full({2}, 1.f)}};
    params[0].second.set_grad(Tensor::from_vector(grads[0], {2}));
    Lambc opt(params, LambcPreset::kPaper, 0.1, 0.0);
    opt.step();
    double u[2], u_sq = 0.0;
    for (int k = 0; k < 2; ++k) {
      const double g = grads[0][static_cast<size_t>(k)];
      u[k] = 0.1 * g / (std::sqrt(0.001 * g * g) + 1e-6);
      u_sq += u[k] * u[k];
    }
    const double r = std::min(std::sqrt(2.0) / std::sqrt(u_sq), 1.0);  // ||w|| / ||u|| = 0.316
    REQUIRE(opt.trust_ratios().size() == 1);
    CHECK(opt.trust_ratios()[0].applied_ratio == doctest::Approx(r).epsilon(1e-6));
    const std::vector<float> w = params[0].second.to_vector();
    for (int k = 0; k < 2; ++k) CHECK(w[static_cast<size_t>(k)] == doctest::Approx(1.0 - 0.1 * r * u[k]).epsilon(1e-6));
  }
  {  // AdaBelief: s = b2 s + (1-b2)(g - m)^2 + eps = 0.001 (9e19)^2 = 8.1e36
    NamedTensors params{{"w", Tensor::full({2}, 1.f)}};
    params[0].second.set_grad(Tensor::from_vector(grads[0], {2}));
    AdaBelief opt(params, AdaBeliefOptions{.lr = 1e-3});
    opt.step();
    const double residual = 1e20 - 0.1 * 1e20;
    CHECK(opt.state("w", "exp_avg_var")->to_vector()[0] == doctest::Approx(0.001 * residual * residual).epsilon(1e-6));
  }
}

TEST_CASE("unclipped LAMB under zero gradients: lr r stays a finite float, no Inf/NaN weights") {
  // The paper preset's LAMB (wd 0, no clip) on a tensor whose gradient is 0 after one step: m decays
  // by b1 each step and u = m / (sqrt(v) + eps) reaches the denormals, so r = ||w|| / ||u|| grows
  // past 1e40. Before, float(lr r) was +inf from step 815: w[0] = -inf and w[1..3] = inf * 0 = NaN.
  // Now r <= 2^127 / lr (reported as applied, clipped), each step moves w by at most lr ||w||.
  NamedTensors params{{"w", Tensor::full({4}, 5.f)}};
  LambOptions o = lambc_options(LambcPreset::kPaper, 0.01, 0.0);
  o.clip_max = std::numeric_limits<double>::infinity();
  Lamb opt(params, o);
  params[0].second.set_grad(Tensor::from_vector({1e-3f, 0.f, 0.f, 0.f}, {4}));
  opt.step();
  bool capped = false;
  for (int k = 0; k < 900; ++k) {
    const std::vector<float> before = params[0].second.to_vector();
    params[0].second.set_grad(Tensor::zeros({4}));
    opt.step();
    const std::vector<float> w = params[0].second.to_vector();
    REQUIRE(opt.trust_ratios().size() == 1);
    const TrustRatioRecord& r = opt.trust_ratios()[0];
    CAPTURE(k);
    REQUIRE(std::isfinite(w[0]));
    for (int i = 1; i < 4; ++i) REQUIRE(w[static_cast<size_t>(i)] == 5.f);  // u = 0 there: no move
    CHECK(0.01 * r.applied_ratio <= 0x1p127);
    // |dw| <= lr ||w||, up to the float rounding of w
    CHECK(std::abs(static_cast<double>(w[0]) - before[0]) <= 0.01 * r.w_norm * (1 + 1e-6) + 1e-6 * std::abs(before[0]));
    if (r.applied_ratio < r.raw_ratio) {
      capped = true;
      CHECK(r.clipped);
    }
  }
  CHECK(capped);  // the cap was reached (raw ratio > 1.7e40)
}

TEST_CASE("float_safe_ratio: r <- min(r, 2^127 / lr), and a NaN ratio stays NaN (as the reference loops' std::min)") {
  // Before, `lr r <= 2^127 ? r : 2^127 / lr` sent a NaN r to the finite 2^127 / lr, against its own
  // comment and the reference loops, and hid the NaN from the telemetry (LARS / LARC below).
  CHECK(float_safe_ratio(3.0, 0.01) == 3.0);
  CHECK(float_safe_ratio(1e41, 0.01) == 0x1p127 / 0.01);
  CHECK(float_safe_ratio(1e41, 0.0) == 1e41);  // lr 0: lr r = 0, nothing to cap
  CHECK(std::isnan(float_safe_ratio(std::nan(""), 0.01)));
  // Reached by LARS with an Inf weight and wd > 0: lambda = eta ||w|| / (||g|| + wd ||w||) = inf / inf.
  for (const bool clip : {false, true}) {
    CAPTURE(clip);
    NamedTensors params{{"w", Tensor::from_vector({std::numeric_limits<float>::infinity(), 1.f}, {2})}};
    params[0].second.set_grad(Tensor::full({2}, 1.f));
    Lars opt(params, LarsOptions{.lr = 0.1, .weight_decay = 0.01, .trust_clip = clip});
    opt.step();
    REQUIRE(opt.trust_ratios().size() == 1);
    CHECK(std::isnan(opt.trust_ratios()[0].raw_ratio));
    CHECK(std::isnan(opt.trust_ratios()[0].applied_ratio));  // was 2^127, "clipped"
  }
}

TEST_CASE("LARS with eps = 0 and a denormal gradient: the ratio stays a finite float") {
  // lambda = eta ||w|| / ||g|| = 1e-3 * 2 / 1.4e-45 = 1.4e42 (wd = 0, eps = 0, always adapted).
  // Before, float(lambda) = +inf: w[0] = -inf and w[1..3] = 1 - lr (0 inf) = NaN. Now lambda <= 2^127.
  NamedTensors params{{"w", Tensor::full({4}, 1.f)}};
  const float denormal = std::numeric_limits<float>::denorm_min();
  params[0].second.set_grad(Tensor::from_vector({denormal, 0.f, 0.f, 0.f}, {4}));
  Lars opt(params, LarsOptions{.lr = 0.1, .momentum = 0.9, .eps = 0.0, .always_adapt = true});
  opt.step();
  REQUIRE(opt.trust_ratios().size() == 1);
  const TrustRatioRecord& r = opt.trust_ratios()[0];
  CHECK(r.raw_ratio == doctest::Approx(1e-3 * 2.0 / denormal).epsilon(1e-6));
  CHECK(r.applied_ratio == 0x1p127);
  CHECK(r.clipped);
  const std::vector<float> w = params[0].second.to_vector();
  CHECK(w[0] == doctest::Approx(1.0 - 0.1 * 0x1p127 * static_cast<double>(denormal)).epsilon(1e-6));  // 1 - 2.4e-8
  for (int i = 1; i < 4; ++i) CHECK(w[static_cast<size_t>(i)] == 1.f);
}

TEST_CASE("a NaN or Inf gradient: step() refuses naming the parameter and modifies nothing") {
  for (const auto& entry : all_optimizers()) {
    const auto& name = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's CAPTURE/INFO lambdas
    const auto& make = entry.second;
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      CAPTURE(name);
      CAPTURE(bad);
      NamedTensors params = make_params(kShapes, 3, 0.5f);
      std::unique_ptr<Optimizer> opt = make(params);
      Generator gen(4);
      for (int t = 0; t < 2; ++t) {
        set_grads(params, random_grads(params, gen));
        opt->step();
      }
      std::vector<Tensor> grads = random_grads(params, gen);
      grads[2].data()[7] = bad;  // fc.weight, the third tensor: earlier tensors are clean
      set_grads(params, grads);
      const NamedTensors before = clone_params(params);
      const StateDict state_before = opt->state_dict();
      std::string message;
      try {
        opt->step();
      } catch (const Error& e) {
        message = e.what();
      }
      CHECK(message.find("'fc.weight'") != std::string::npos);
      CHECK(message.find("NaN or Inf") != std::string::npos);
      CHECK(bitwise_equal(params, before));
      // Everything but the count of refused steps is as before.
      CHECK(testing::bitwise_equal(opt->state_dict(), state_before, "skipped"));
      CHECK(opt->state_dict().metadata.at("skipped") == "1");
      CHECK(opt->step_count() == 2);

      opt->set_non_finite_policy(NonFinitePolicy::kSkip);
      CHECK_NOTHROW(opt->step());
      CHECK(opt->last_step_skipped());
      CHECK(opt->skipped_steps() == 2);
      CHECK(bitwise_equal(params, before));
      CHECK(opt->step_count() == 2);
      // A clean step afterwards proceeds normally.
      set_grads(params, random_grads(params, gen));
      opt->step();
      CHECK_FALSE(opt->last_step_skipped());
      CHECK(opt->step_count() == 3);
      CHECK_FALSE(bitwise_equal(params, before));
    }
  }
}

TEST_CASE("a NaN on the very first step leaves no state behind") {
  NamedTensors params = make_params(kShapes, 5);
  Lambc opt(params, LambcPreset::kPaper, 0.01);
  Generator gen(1);
  std::vector<Tensor> grads = random_grads(params, gen);
  grads[3].data()[0] = std::numeric_limits<float>::quiet_NaN();
  set_grads(params, grads);
  CHECK_THROWS_AS(opt.step(), Error);
  CHECK(opt.state_dict().tensors.empty());
  CHECK(opt.state("conv.weight", "exp_avg") == nullptr);
}

TEST_CASE("parameters without a gradient are skipped: unchanged, no state, no telemetry") {
  for (const auto& entry : all_optimizers()) {
    const auto& name = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's CAPTURE/INFO lambdas
    const auto& make = entry.second;
    CAPTURE(name);
    NamedTensors params = make_params(kShapes, 6, 0.5f);
    const NamedTensors before = clone_params(params);
    std::unique_ptr<Optimizer> opt = make(params);
    Generator gen(2);
    std::vector<Tensor> grads = random_grads(params, gen);
    for (size_t i = 0; i < params.size(); ++i) {
      if (i != 1) params[i].second.set_grad(grads[i]);
    }
    opt->step();
    CHECK(bitwise_equal(params[1].second, before[1].second));
    CHECK_FALSE(bitwise_equal(params[0].second, before[0].second));
    for (const ParamEntry& e : opt->params()) {
      CHECK(e.step == (e.name == "bn.weight" ? 0 : 1));
      CHECK(e.state.empty() == (e.name == "bn.weight" || opt->state_names().empty()));
    }
    for (const auto& r : opt->trust_ratios()) CHECK(r.name != "bn.weight");
  }
}

TEST_CASE("zero_grad drops or zeroes the gradients") {
  NamedTensors params = make_params(kShapes, 7);
  Adam opt(params);
  Generator gen(3);
  set_grads(params, random_grads(params, gen));
  opt.zero_grad(/*set_to_none=*/false);
  for (const auto& [n, p] : params) {
    REQUIRE(p.grad().defined());
    for (float x : p.grad().to_vector()) CHECK(x == 0.f);
  }
  opt.zero_grad();
  for (const auto& [n, p] : params) CHECK_FALSE(p.grad().defined());
  const NamedTensors before = clone_params(params);
  opt.step();  // nothing has a gradient: nothing moves
  CHECK(bitwise_equal(params, before));
}

TEST_CASE("default_param_groups: ndim <= 1 -> no decay, adapted only with adapt_1d") {
  const NamedTensors params = make_params(kShapes, 8);
  const std::vector<ParamGroup> g = default_param_groups(params, 0.05);
  REQUIRE(g.size() == 2);
  CHECK(g[0].name == "decay");
  CHECK(*g[0].weight_decay == 0.05);
  CHECK(g[0].adapt);
  REQUIRE(g[0].params.size() == 2);
  CHECK(g[0].params[0].first == "conv.weight");
  CHECK(g[0].params[1].first == "fc.weight");
  CHECK(g[1].name == "no_decay");
  CHECK(*g[1].weight_decay == 0.0);
  CHECK_FALSE(g[1].adapt);
  CHECK(g[1].params.size() == 2);
  CHECK(default_param_groups(params, 0.05, true)[1].adapt);

  // timm preset: the no-decay group is not adapted, so only the two matrices get ratios.
  NamedTensors p = clone_params(params);
  Generator gen(1);
  set_grads(p, random_grads(p, gen));
  Lambc timm(p, LambcPreset::kTimm, 0.01, 0.01);
  timm.step();
  CHECK(timm.trust_ratios().size() == 2);
  // paper preset: every tensor.
  NamedTensors q = clone_params(params);
  set_grads(q, random_grads(q, gen));
  Lambc paper(q, LambcPreset::kPaper, 0.01, 0.0);
  paper.step();
  CHECK(paper.trust_ratios().size() == 4);
}

TEST_CASE("per-group lr and weight decay are used; bad input is refused with the name") {
  NamedTensors params = make_params(kShapes, 9);
  std::vector<ParamGroup> groups = default_param_groups(params, 0.0);
  groups[1].lr = 0.0;  // freeze the 1-D tensors
  const NamedTensors before = clone_params(params);
  Sgd opt(groups, SgdOptions{.lr = 0.5});
  CHECK(opt.groups()[0].lr == 0.5);
  CHECK(opt.groups()[1].lr == 0.0);
  Generator gen(1);
  set_grads(params, random_grads(params, gen));
  opt.step();
  CHECK(bitwise_equal(params[1].second, before[1].second));  // bn.weight, lr 0
  const float w0 = before[0].second.to_vector()[0], g0 = params[0].second.grad().to_vector()[0];
  CHECK(params[0].second.to_vector()[0] == doctest::Approx(w0 - 0.5f * g0));

  NamedTensors dup = {{"a", Tensor::zeros({2})}, {"a", Tensor::zeros({2})}};
  CHECK_THROWS_WITH_AS(Sgd{dup}, doctest::Contains("'a' appears twice"), Error);
  Tensor shared = Tensor::zeros({2});
  NamedTensors alias = {{"a", shared}, {"b", shared}};
  CHECK_THROWS_WITH_AS(Sgd{alias}, doctest::Contains("'b' shares its data"), Error);

  NamedTensors mismatch = {{"fc.weight", Tensor::zeros({2, 3})}};
  CHECK_THROWS_AS(Lamb(mismatch, LambOptions{.beta1 = 1.5}), Error);
  CHECK_THROWS_AS(Sgd(mismatch, SgdOptions{.momentum = 0.0, .nesterov = true}), Error);
  CHECK_THROWS_WITH_AS(parse_lambc_preset("fong"), doctest::Contains("paper"), Error);
}

TEST_CASE("options that end in NaN/Inf weights are refused with the option's name and value") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  NamedTensors p = {{"fc.weight", Tensor::ones({2, 3})}};
  // eps = 0: a zero gradient gave m / (sqrt(v) + 0) = 0 / 0 = NaN weights.
  CHECK_THROWS_WITH_AS(Adam(p, AdamOptions{.eps = 0.0}), doctest::Contains("adam: eps must be finite and > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(AdamW(p, AdamWOptions{.eps = 0.0}), doctest::Contains("adamw: eps must be finite and > 0, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(NovoGrad(p, NovoGradOptions{.eps = 0.0}), doctest::Contains("novograd: eps must be finite and > 0"),
                       Error);
  CHECK_THROWS_WITH_AS(AdaBelief(p, AdaBeliefOptions{.eps = inf}),
                       doctest::Contains("adabelief: eps must be finite and > 0, got inf"), Error);
  CHECK_THROWS_WITH_AS(Lamb(p, LambOptions{.max_grad_norm = inf}), doctest::Contains("max_grad_norm must be finite"), Error);
  CHECK_THROWS_WITH_AS(Lamb(p, LambOptions{.clip_min = nan}), doctest::Contains("clip_min finite"), Error);
  // LARS / SGD: eps, dampening, momentum and trust_coefficient were unchecked or let Inf through.
  CHECK_THROWS_WITH_AS(Lars(p, LarsOptions{.eps = -1.0}), doctest::Contains("lars: eps must be finite and >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(Lars(p, LarsOptions{.eps = nan}), doctest::Contains("lars: eps must be finite and >= 0, got nan"), Error);
  CHECK_THROWS_WITH_AS(Sgd(p, SgdOptions{.momentum = 0.9, .dampening = -3.0}),
                       doctest::Contains("sgd: dampening must be in [0, 1], got -3"), Error);
  CHECK_THROWS_WITH_AS(Sgd(p, SgdOptions{.momentum = 0.9, .dampening = 5.0}),
                       doctest::Contains("sgd: dampening must be in [0, 1], got 5"), Error);
  CHECK_THROWS_WITH_AS(Sgd(p, SgdOptions{.momentum = 0.9, .dampening = nan}), doctest::Contains("dampening must be in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(Lars(p, LarsOptions{.momentum = inf}), doctest::Contains("lars: momentum must be in [0, 1), got inf"),
                       Error);
  CHECK_THROWS_WITH_AS(Lars(p, LarsOptions{.momentum = nan}), doctest::Contains("momentum must be in [0, 1), got nan"), Error);
  CHECK_THROWS_WITH_AS(Lars(p, LarsOptions{.trust_coefficient = inf}),
                       doctest::Contains("trust_coefficient must be finite and > 0, got inf"), Error);
  // The edges of the valid ranges still build.
  CHECK_NOTHROW(Sgd(p, SgdOptions{.momentum = 0.0, .dampening = 1.0}));
  CHECK_NOTHROW(Lars(p, LarsOptions{.eps = 0.0}));
  CHECK_NOTHROW(Lamb(p, LambOptions{.clip_max = inf}));
}

TEST_CASE("a schedule yielding a NaN, Inf or negative lr is refused before any write") {
  // A user schedule the constructors cannot check: the lr is checked where it is applied.
  struct Bad : Schedule {
    double value;
    explicit Bad(double v) : value(v) {}
    double factor(int64_t) const override { return value; }
    std::string describe() const override { return "bad"; }
  };
  for (const double f : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), -0.5}) {
    CAPTURE(f);
    NamedTensors p = {{"w", Tensor::ones({3})}};
    Sgd opt(p, SgdOptions{.lr = 0.1, .momentum = 0.9});
    opt.set_schedule(std::make_shared<Bad>(f));
    p[0].second.set_grad(Tensor::ones({3}));
    CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("group 'all' would use lr"), Error);
    CHECK(p[0].second.to_vector() == std::vector<float>{1.f, 1.f, 1.f});
    CHECK(opt.step_count() == 0);
    CHECK(opt.state_dict().tensors.empty());
  }
}

}  // namespace
}  // namespace tg::optim
