// Schedules: closed forms at key steps, torch.optim.lr_scheduler values from the fixture, the
// CLI spec parser, and the optimizer applying factor(step) to each group's lr.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "engine/error.h"
#include "optim_test_util.h"
#include "support/fixtures.h"

namespace tg::optim {
namespace {

constexpr double kPi = std::numbers::pi;

// Compares factor(t) * 0.1 with the fixture's torch lr for t = 0 .. n-1.
void check_against_torch(const Schedule& s, const std::string& key) {
  const io::SafetensorsFile f = tg::test::load_fixture("optim_schedules");
  const std::vector<float> lrs = f.at(key).to_vector();
  REQUIRE(lrs.size() >= 10);
  for (size_t t = 0; t < lrs.size(); ++t) {
    CAPTURE(key);
    CAPTURE(t);
    CHECK(0.1 * s.factor(static_cast<int64_t>(t)) == doctest::Approx(lrs[t]).epsilon(1e-5).scale(1e-3));
  }
}

TEST_CASE("schedules: closed forms at key steps") {
  CHECK(ConstantSchedule().factor(12345) == 1.0);

  LinearWarmup w(10, 0.1);
  CHECK(w.factor(0) == doctest::Approx(0.1));
  CHECK(w.factor(5) == doctest::Approx(0.1 + 0.9 * 0.5));
  CHECK(w.factor(10) == 1.0);
  CHECK(w.factor(1000) == 1.0);

  CosineSchedule c(100, 0.01);
  CHECK(c.factor(0) == doctest::Approx(1.0));
  CHECK(c.factor(50) == doctest::Approx(0.01 + 0.99 * 0.5));
  CHECK(c.factor(25) == doctest::Approx(0.01 + 0.99 * 0.5 * (1 + std::cos(kPi / 4))));
  CHECK(c.factor(100) == doctest::Approx(0.01));
  CHECK(c.factor(500) == doctest::Approx(0.01));

  PolynomialSchedule p(100);  // LARS poly(2): (1 - t/T)^2
  CHECK(p.factor(0) == 1.0);
  CHECK(p.factor(50) == doctest::Approx(0.25));
  CHECK(p.factor(90) == doctest::Approx(0.01));
  CHECK(p.factor(100) == 0.0);
  CHECK(p.factor(150) == 0.0);
  CHECK(PolynomialSchedule(10, 1.0, 0.5).factor(5) == doctest::Approx(0.75));

  StepSchedule s(30, 0.1);
  CHECK(s.factor(29) == 1.0);
  CHECK(s.factor(30) == doctest::Approx(0.1));
  CHECK(s.factor(65) == doctest::Approx(0.01));

  OneCycleSchedule o(100, 0.3, 25.0, 1e4);
  CHECK(o.factor(0) == doctest::Approx(1.0 / 25));
  CHECK(o.factor(29) == doctest::Approx(1.0));                    // peak at pct*T - 1
  CHECK(o.factor(99) == doctest::Approx(1.0 / 25 / 1e4));         // final at T - 1
  CHECK(o.factor(64) == doctest::Approx(0.5 * (1 + 1.0 / 25 / 1e4)));  // halfway through phase 2

  WarmupThen wt(5, 0.0, std::make_shared<CosineSchedule>(10));
  CHECK(wt.factor(0) == 0.0);
  CHECK(wt.factor(4) == doctest::Approx(0.8));
  CHECK(wt.factor(5) == 1.0);
  CHECK(wt.factor(10) == doctest::Approx(0.5));
  CHECK(wt.factor(15) == doctest::Approx(0.0));
}

TEST_CASE("schedules match torch.optim.lr_scheduler (fixture)") {
  check_against_torch(LinearWarmup(5, 0.1), "linear_warmup");
  check_against_torch(CosineSchedule(10, 0.1), "cosine");
  check_against_torch(PolynomialSchedule(10, 2.0), "poly2");
  check_against_torch(StepSchedule(3, 0.5), "step");
  check_against_torch(OneCycleSchedule(20, 0.3), "onecycle_cos");
  check_against_torch(OneCycleSchedule(20, 0.25, 10.0, 100.0, OneCycleSchedule::Anneal::kLinear), "onecycle_linear");
  check_against_torch(WarmupThen(3, 0.1, std::make_shared<CosineSchedule>(7)), "warmup_cosine");
}

TEST_CASE("parse_schedule builds the named schedules and refuses the rest") {
  CHECK(parse_schedule("constant", 10)->factor(7) == 1.0);
  CHECK(parse_schedule("cosine", 100)->factor(50) == doctest::Approx(0.5));
  CHECK(parse_schedule("cosine:0.1", 100)->factor(100) == doctest::Approx(0.1));
  CHECK(parse_schedule("poly", 100)->factor(50) == doctest::Approx(0.25));
  CHECK(parse_schedule("poly:1", 100)->factor(50) == doctest::Approx(0.5));
  CHECK(parse_schedule("linear", 100)->factor(25) == doctest::Approx(0.75));
  CHECK(parse_schedule("step:10:0.5", 100)->factor(25) == doctest::Approx(0.25));
  CHECK(parse_schedule("onecycle", 100)->factor(29) == doctest::Approx(1.0));
  const auto wc = parse_schedule("warmup:10+cosine", 110);
  CHECK(wc->factor(5) == doctest::Approx(0.5));
  CHECK(wc->factor(60) == doctest::Approx(0.5));  // cosine over the remaining 100 steps
  CHECK_THROWS_WITH_AS(parse_schedule("cosin", 10), doctest::Contains("unknown schedule 'cosin'"), Error);
  CHECK_THROWS_AS(parse_schedule("warmup:20+cosine", 10), Error);
  CHECK_THROWS_AS(parse_schedule("step:x:0.5", 10), Error);
}

TEST_CASE("schedule factors are range-checked in the constructors, and so in parse_schedule") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(CosineSchedule(10, nan), doctest::Contains("min_factor must be in [0, 1], got nan"), Error);
  CHECK_THROWS_WITH_AS(CosineSchedule(10, -3.0), doctest::Contains("min_factor must be in [0, 1], got -3"), Error);
  CHECK_THROWS_WITH_AS(StepSchedule(1, 0.0), doctest::Contains("gamma must be in (0, 1], got 0"), Error);
  CHECK_THROWS_WITH_AS(PolynomialSchedule(10, 2.0, 1.5), doctest::Contains("end_factor must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(PolynomialSchedule(10, inf), doctest::Contains("power must be finite and > 0, got inf"), Error);
  CHECK_THROWS_WITH_AS(OneCycleSchedule(100, 0.3, inf), doctest::Contains("must be finite and > 0, got inf and 10000"), Error);
  // Each gave a NaN, negative or infinite lr before.
  CHECK_THROWS_WITH_AS(parse_schedule("cosine:nan", 100), doctest::Contains("min_factor must be in [0, 1], got nan"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("cosine:-3", 100), doctest::Contains("min_factor must be in [0, 1], got -3"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("cosine:inf", 100), doctest::Contains("min_factor must be in [0, 1], got inf"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("step:1:nan", 100), doctest::Contains("gamma must be in (0, 1], got nan"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("step:1:-1", 100), doctest::Contains("gamma must be in (0, 1], got -1"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("step:1:1e300", 100), doctest::Contains("gamma must be in (0, 1], got 1e+300"), Error);
  CHECK_THROWS_WITH_AS(parse_schedule("warmup:5+cosine:2", 100), doctest::Contains("min_factor must be in [0, 1], got 2"), Error);
  // The ends of the ranges are fine.
  CHECK(parse_schedule("cosine:1", 100)->factor(50) == doctest::Approx(1.0));
  CHECK(parse_schedule("step:1:1", 100)->factor(50) == doctest::Approx(1.0));
  CHECK(PolynomialSchedule(10, 2.0, 0.0).factor(10) == 0.0);
}

TEST_CASE("the optimizer queries the schedule once per step: w_t+1 = w_t - lr f(t) g") {
  NamedTensors params{{"w", Tensor::zeros({3})}};
  Sgd opt(params, SgdOptions{.lr = 0.2});
  auto schedule = std::make_shared<StepSchedule>(2, 0.5);
  opt.set_schedule(schedule);
  double expected = 0.0;
  for (int t = 0; t < 6; ++t) {
    CHECK(opt.scheduled_lr(0) == doctest::Approx(0.2 * schedule->factor(t)));
    params[0].second.set_grad(Tensor::ones({3}));
    opt.step();
    expected -= 0.2 * schedule->factor(t);
    CHECK(params[0].second.to_vector()[1] == doctest::Approx(expected).epsilon(1e-6));
  }
  CHECK(opt.groups()[0].lr == 0.2);  // the base lr is never overwritten
}

TEST_CASE("set_step_count moves the schedule's position and nothing else") {
  NamedTensors params{{"w", Tensor::ones({2})}};
  Lamb opt(params, LambOptions{});
  opt.set_schedule(std::make_shared<CosineSchedule>(12));
  params[0].second.set_grad(Tensor::ones({2}));
  opt.step();
  const std::vector<float> m_before = opt.params()[0].state[0].to_vector();
  opt.set_step_count(8);  // e.g. resumed where 8 of 12 steps of the new run's length are done
  CHECK(opt.step_count() == 8);
  CHECK(opt.lr_factor() == doctest::Approx(CosineSchedule(12).factor(8)));
  CHECK(opt.params()[0].step == 1);  // the bias corrections' count is the tensor's own
  CHECK(opt.params()[0].state[0].to_vector() == m_before);
  CHECK_THROWS_WITH_AS(opt.set_step_count(-1), doctest::Contains("cannot be negative"), Error);
  CHECK(opt.step_count() == 8);
}

}  // namespace
}  // namespace tg::optim
