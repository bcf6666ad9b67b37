// make_optimizer: every name builds the optimizer it says, with the recipe's groups.
#include <doctest/doctest.h>

#include "engine/error.h"
#include "optim_test_util.h"

namespace tg::optim {
namespace {

TEST_CASE("make_optimizer builds each optimizer by name and refuses unknown names") {
  const NamedParams params = testing::make_params({{"conv.weight", {4, 3, 3, 3}}, {"bn.bias", {4}}}, 1);
  for (const std::string& name : optimizer_names()) {
    CAPTURE(name);
    OptimizerConfig c;
    c.name = name;
    c.weight_decay = 0.01;
    auto opt = make_optimizer(c, testing::clone_params(params));
    CHECK(opt->name() == (name == "larc" ? "lars" : name));
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
  OptimizerConfig bad;
  bad.name = "lamc";
  CHECK_THROWS_WITH_AS(make_optimizer(bad, params), doctest::Contains("unknown optimizer 'lamc'"), Error);
  bad.name = "lambc";
  bad.preset = "fong";
  CHECK_THROWS_AS(make_optimizer(bad, params), Error);
}

}  // namespace
}  // namespace tg::optim
