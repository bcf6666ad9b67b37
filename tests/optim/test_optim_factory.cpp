// make_optimizer: every name builds the optimizer it says, with the recipe's groups.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "optim_test_util.h"

namespace tg::optim {
namespace {

TEST_CASE("make_optimizer builds each optimizer by name and refuses unknown names") {
  const NamedTensors params = testing::make_params({{"conv.weight", {4, 3, 3, 3}}, {"bn.bias", {4}}}, 1);
  for (const std::string& name : optimizer_names()) {
    CAPTURE(name);
    OptimizerConfig c;
    c.name = name;
    c.weight_decay = 0.01;
    auto opt = make_optimizer(c, testing::clone_params(params));
    CHECK(opt->name() == name);
  }
  OptimizerConfig paper;  // defaults: lambc, paper preset
  auto p = make_optimizer(paper, testing::clone_params(params));
  REQUIRE(p->groups().size() == 1);  // the authors' single group
  CHECK(p->groups()[0].adapt);
  const auto& lambc = dynamic_cast<const Lambc&>(*p);
  CHECK_FALSE(lambc.options().bias_correction);
  CHECK(lambc.options().clip_max == 1.0);
  CHECK(lambc.options().max_grad_norm == 0.0);
  OptimizerConfig timm;
  timm.preset = "timm";
  timm.weight_decay = 0.05;
  auto t = make_optimizer(timm, testing::clone_params(params));
  REQUIRE(t->groups().size() == 2);
  CHECK(t->groups()[1].weight_decay == 0.0);
  CHECK(dynamic_cast<const Lambc&>(*t).options().max_grad_norm == 1.0);
  OptimizerConfig larc;
  larc.name = "lars";
  larc.larc = true;
  CHECK(dynamic_cast<const Lars&>(*make_optimizer(larc, testing::clone_params(params))).options().trust_clip);
  OptimizerConfig bad;
  bad.name = "lamc";
  CHECK_THROWS_WITH_AS(make_optimizer(bad, params), doctest::Contains("unknown optimizer 'lamc'"), Error);
  bad.name = "lambc";
  bad.preset = "fong";
  CHECK_THROWS_AS(make_optimizer(bad, params), Error);
  // An optimizer over no parameters (lambc's paper preset built one group holding nothing).
  CHECK_THROWS_WITH_AS(make_optimizer(OptimizerConfig{}, NamedTensors{}),
                       doctest::Contains("make_optimizer: no parameters given for optimizer 'lambc'"), Error);
}

TEST_CASE("factory: lamb and lambc differ in the clip only, in either preset and at any weight decay") {
  const NamedTensors params = testing::make_params({{"conv.weight", {4, 3, 3, 3}}, {"bn.weight", {4}}, {"bn.bias", {4}}}, 2);
  for (const char* preset : {"paper", "timm"}) {
    for (double wd : {0.0, 0.01}) {
      CAPTURE(preset);
      CAPTURE(wd);
      OptimizerConfig a, c;
      a.name = "lamb";
      c.name = "lambc";
      a.preset = c.preset = preset;
      a.weight_decay = c.weight_decay = wd;
      auto lamb = make_optimizer(a, testing::clone_params(params));
      auto lambc = make_optimizer(c, testing::clone_params(params));
      const auto& lo = dynamic_cast<const Lamb&>(*lamb).options();
      const auto& co = dynamic_cast<const Lambc&>(*lambc).options();
      CHECK(std::isinf(lo.clip_max));
      CHECK(co.clip_max == 1.0);
      CHECK(lo.bias_correction == co.bias_correction);
      CHECK(lo.bias_correction == (std::string(preset) == "timm"));
      CHECK(lo.max_grad_norm == co.max_grad_norm);
      CHECK(lo.eps == co.eps);
      CHECK(lo.always_adapt == co.always_adapt);
      REQUIRE(lamb->groups().size() == lambc->groups().size());
      for (size_t g = 0; g < lamb->groups().size(); ++g) {
        CHECK(lamb->groups()[g].adapt == lambc->groups()[g].adapt);
        CHECK(lamb->groups()[g].weight_decay == lambc->groups()[g].weight_decay);
        CHECK(lamb->groups()[g].params.size() == lambc->groups()[g].params.size());
      }
    }
  }
}

TEST_CASE("factory: the defaults table") {
  auto d = [](const char* name, const char* preset = "paper") {
    OptimizerConfig c;
    c.name = name;
    c.preset = preset;
    return resolve_optimizer_defaults(c);
  };
  CHECK(d("lambc").lr == 0.01);
  CHECK(d("lambc").weight_decay == 0.0);
  CHECK(d("lamb").weight_decay == 0.0);  // the same as lambc: a lamb/lambc comparison changes only the clip
  CHECK(d("lamb", "timm").weight_decay == 0.01);
  CHECK(d("lambc", "timm").weight_decay == 0.01);
  CHECK(d("lambc", "timm").max_grad_norm == 1.0);
  CHECK(d("lambc").max_grad_norm == 0.0);
  CHECK(std::isinf(d("lamb").clip_max));
  CHECK(d("lambc").clip_max == 1.0);
  CHECK(d("adabelief").eps == 1e-16);
  CHECK(d("adam").eps == 1e-8);
  CHECK(d("lamb").eps == 1e-6);
  CHECK(d("sgd").lr == 0.1);
  CHECK(d("lars").lr == 1.0);
  CHECK(d("adamw").weight_decay == 0.01);
  CHECK(d("novograd").beta1 == 0.95);
  OptimizerConfig given;
  given.lr = 0.5;
  CHECK(resolve_optimizer_defaults(given).lr == 0.5);  // a given value is kept
  given.name = "larc";  // a LARS flag, not a name
  CHECK_THROWS_WITH_AS(resolve_optimizer_defaults(given), doctest::Contains("unknown optimizer 'larc'"), Error);
}

}  // namespace
}  // namespace tg::optim
