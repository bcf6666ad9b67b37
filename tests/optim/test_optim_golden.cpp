// Golden trajectories (tests/reference/gen_optim.py): 12 steps on 5 tensors of different shapes
// (one zero-initialised) against torch.optim SGD/Adam/AdamW and reference Python LARS, LARC, LAMB,
// LAMBC paper/timm presets, NovoGrad and AdaBelief. Every parameter after every step and every
// state tensor after steps 1 and 12 must match to 1e-5 relative.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "optim_test_util.h"
#include "support/fixtures.h"

namespace tg::optim {
namespace {

using testing::Factory;

struct GoldenCase {
  std::string config;
  Factory make;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

// |a - e| <= 1e-5 |e| + 1e-6 max|e| (the floor keeps elements crossing zero meaningful).
void expect_golden(const Tensor& actual, const Tensor& expected, const std::string& what) {
  float peak = 0.f;
  for (float x : expected.to_vector()) peak = std::max(peak, std::abs(x));
  tg::test::expect_close(actual.reshape(expected.shape()), expected, 1e-5, 1e-6 * std::max(peak, 1e-3f), what);
}

void run_golden(const GoldenCase& c) {
  const io::SafetensorsFile inputs = tg::test::load_fixture("optim_inputs");
  const io::SafetensorsFile golden = tg::test::load_fixture("optim_" + c.config);
  const std::vector<std::string> names = split_commas(inputs.metadata.at("names"));
  const int steps = std::stoi(inputs.metadata.at("steps"));
  const std::vector<std::string> state_steps = split_commas(inputs.metadata.at("state_steps"));
  REQUIRE(names.size() >= 4);
  REQUIRE(steps >= 10);

  NamedTensors params;
  for (const auto& n : names) {
    Tensor t = inputs.at("init/" + n).clone();
    t.set_requires_grad(true);
    params.emplace_back(n, t);
  }
  std::unique_ptr<Optimizer> opt = c.make(params);
  const std::vector<std::string> slots = opt->state_names();
  for (int t = 1; t <= steps; ++t) {
    for (auto& [n, p] : params) p.set_grad(inputs.at("grad/" + std::to_string(t) + "/" + n).clone());
    opt->step();
    CHECK(opt->step_count() == t);
    for (const auto& [n, p] : params) {
      expect_golden(p, golden.at("param/" + std::to_string(t) + "/" + n), c.config + " step " + std::to_string(t) + " " + n);
    }
    if (std::find(state_steps.begin(), state_steps.end(), std::to_string(t)) == state_steps.end()) continue;
    for (const auto& entry : params) {
      const std::string& n = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's *_MESSAGE lambdas
      for (const auto& slot : slots) {
        const std::string key = "state/" + std::to_string(t) + "/" + n + "/" + slot;
        const Tensor* expected = golden.find(key);
        REQUIRE_MESSAGE(expected != nullptr, "fixture lacks " << key);
        const Tensor* actual = opt->state(n, slot);
        REQUIRE_MESSAGE(actual != nullptr, c.config << " has no state " << n << "/" << slot);
        expect_golden(*actual, *expected, c.config + " " + key);
      }
    }
  }
  for (const auto& e : opt->params()) CHECK(e.step == steps);
}

std::vector<GoldenCase> golden_cases() {
  using G = std::vector<ParamGroup>;
  auto dg = [](const NamedTensors& p, double wd, bool adapt_1d = false) -> G {
    return default_param_groups(p, wd, adapt_1d);
  };
  return {
      {"sgd", [=](const NamedTensors& p) {
         return std::make_unique<Sgd>(dg(p, 0.01), SgdOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1});
       }},
      {"sgd_nesterov", [=](const NamedTensors& p) {
         return std::make_unique<Sgd>(dg(p, 0.005), SgdOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"adam", [=](const NamedTensors& p) {
         return std::make_unique<Adam>(dg(p, 0.01), AdamOptions{.lr = 0.01, .eps = 1e-8});
       }},
      {"adamw", [=](const NamedTensors& p) {
         return std::make_unique<AdamW>(dg(p, 0.1), AdamWOptions{.lr = 0.01, .beta1 = 0.85, .beta2 = 0.99, .eps = 1e-8});
       }},
      {"lars", [=](const NamedTensors& p) {
         return std::make_unique<Lars>(dg(p, 0.005), LarsOptions{.lr = 0.1, .momentum = 0.9, .trust_coefficient = 0.02,
                                                                .eps = 1e-8, .trust_clip = false, .always_adapt = false});
       }},
      {"larc", [=](const NamedTensors& p) {
         return std::make_unique<Lars>(dg(p, 0.005, true),
                                       LarsOptions{.lr = 0.02, .momentum = 0.9, .nesterov = true, .trust_coefficient = 0.02,
                                                   .eps = 1e-8, .trust_clip = true, .always_adapt = true});
       }},
      {"lamb", [=](const NamedTensors& p) { return std::make_unique<Lamb>(dg(p, 0.01), LambOptions{.lr = 0.02}); }},
      {"lamb_decoupled", [=](const NamedTensors& p) {
         return std::make_unique<Lamb>(dg(p, 0.05, true),
                                       LambOptions{.lr = 0.02, .decoupled_decay = true, .bias_correction = false,
                                                   .grad_averaging = false, .max_grad_norm = 0.0, .always_adapt = true});
       }},
      {"lambc_paper", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kPaper, 0.05, 0.0); }},
      {"lambc_paper_wd", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kPaper, 0.05, 0.01); }},
      {"lambc_timm", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kTimm, 0.02, 0.01); }},
      {"novograd", [=](const NamedTensors& p) {
         return std::make_unique<NovoGrad>(dg(p, 0.001), NovoGradOptions{.lr = 0.02, .beta1 = 0.95, .beta2 = 0.98,
                                                                        .eps = 1e-8, .grad_averaging = true});
       }},
      {"adabelief", [=](const NamedTensors& p) {
         return std::make_unique<AdaBelief>(dg(p, 0.01), AdaBeliefOptions{.lr = 0.01, .eps = 1e-16, .rectify = false});
       }},
      {"adabelief_rectify", [=](const NamedTensors& p) {
         return std::make_unique<AdaBelief>(dg(p, 0.01), AdaBeliefOptions{.lr = 0.01, .eps = 1e-12,
                                                                         .weight_decouple = false, .rectify = true});
       }},
  };
}

TEST_CASE("optim golden: every optimizer follows its PyTorch / reference trajectory") {
  for (const auto& c : golden_cases()) {
    SUBCASE(c.config.c_str()) { run_golden(c); }
  }
}

TEST_CASE("optim golden: LAMBC presets really clip (the fixtures exercise both sides of 1)") {
  // Re-run the paper preset and count clipped / unclipped tensors over the trajectory.
  const io::SafetensorsFile inputs = tg::test::load_fixture("optim_inputs");
  const std::vector<std::string> names = split_commas(inputs.metadata.at("names"));
  NamedTensors params;
  for (const auto& n : names) params.emplace_back(n, inputs.at("init/" + n).clone());
  Lambc opt(params, LambcPreset::kPaper, 0.05, 0.0);
  int clipped = 0, unclipped = 0, zero_norm = 0;
  for (int t = 1; t <= 12; ++t) {
    for (auto& [n, p] : params) p.set_grad(inputs.at("grad/" + std::to_string(t) + "/" + n).clone());
    opt.step();
    REQUIRE(opt.trust_ratios().size() == names.size());  // the paper preset adapts every tensor
    for (const auto& r : opt.trust_ratios()) {
      clipped += r.clipped ? 1 : 0;
      unclipped += r.clipped ? 0 : 1;
      zero_norm += r.w_norm == 0.0 ? 1 : 0;
      CHECK(r.applied_ratio <= 1.0);
    }
  }
  CHECK(clipped > 0);
  CHECK(unclipped > 0);
  CHECK(zero_norm == 1);  // bn.bias starts at zero: r = 1 on step 1 only
}

}  // namespace
}  // namespace tg::optim
