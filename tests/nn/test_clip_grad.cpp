// nn::clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ (tests/fixtures/nn_clip_grad.safetensors,
// made by tests/reference/gen_clip_grad.py): the returned total norm and the scaled gradients for
// the 2-norm above and below max_norm, the 1-, 3- and inf-norms; then the edge cases.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/error.h"
#include "nn/clip_grad.h"
#include "support/fixtures.h"

using namespace tg;

namespace {

struct Case {
  const char* name;
  double max_norm, p;
};
// The same list as gen_clip_grad.py's CASES.
const Case kCases[] = {{"l2_clipped", 1.0, 2.0}, {"l2_unclipped", 100.0, 2.0}, {"l1", 0.5, 1.0},
                       {"linf", 0.3, nn::kInfNorm}, {"l3", 0.7, 3.0}};

// Leaves (zeros) whose .grad holds copies of the fixture's gradients.
NamedTensors params_with_grads(const io::SafetensorsFile& f) {
  NamedTensors params;
  for (const char* i : {"0", "1", "2"}) {
    const Tensor g = f.at(std::string("g") + i);
    Tensor p = Tensor::zeros(g.shape()).set_requires_grad(true);
    p.set_grad(g.clone());
    params.emplace_back(std::string("p") + i, p);
  }
  return params;
}

}  // namespace

TEST_CASE("clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_ (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("nn_clip_grad");
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    NamedTensors params = params_with_grads(f);
    const double total = nn::clip_grad_norm_(params, c.max_norm, c.p);
    const double expected = f.at(std::string(c.name) + ".total").to_vector()[0];
    CHECK(total == doctest::Approx(expected).epsilon(1e-6));
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string key = std::string(c.name) + ".g" + params[i].first.substr(1);
      test::expect_close(params[i].second.grad(), f.at(key), 1e-6, 1e-7, key);
    }
  }
}

TEST_CASE("total_grad_norm then clip_grads_with_norm_ is clip_grad_norm_ in two halves (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("nn_clip_grad");
  NamedTensors params = params_with_grads(f);
  const double total = nn::total_grad_norm(params);
  CHECK(total == doctest::Approx(f.at("l2_clipped.total").to_vector()[0]).epsilon(1e-6));
  nn::clip_grads_with_norm_(params, 1.0, total);
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string key = "l2_clipped.g" + params[i].first.substr(1);
    test::expect_close(params[i].second.grad(), f.at(key), 1e-6, 1e-7, key);
  }
}

TEST_CASE("clip_grad_norm_: no gradients, gradients left alone below max_norm, bad arguments") {
  Tensor a = Tensor::ones({3}).set_requires_grad(true);  // no .grad: skipped
  CHECK(nn::clip_grad_norm_(std::vector<Tensor>{a}, 1.0) == 0.0);
  CHECK_FALSE(a.grad().defined());

  a.set_grad(Tensor::from_vector({3, 4, 0}, {3}));  // ||g||_2 = 5
  const uint64_t version = a.grad().version();
  CHECK(nn::clip_grad_norm_(std::vector<Tensor>{a}, nn::kInfNorm) == doctest::Approx(5.0));  // measure only
  CHECK(a.grad().version() == version);  // not written
  CHECK(nn::clip_grad_norm_(std::vector<Tensor>{a}, 2.5) == doctest::Approx(5.0));
  CHECK(a.grad().to_vector()[0] == doctest::Approx(1.5).epsilon(1e-6));  // 3 * 2.5 / (5 + 1e-6)

  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_(std::vector<Tensor>{a}, -1.0), doctest::Contains("max_norm must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_(std::vector<Tensor>{a}, 1.0, 0.0), doctest::Contains("norm_type must be > 0"),
                       Error);
}

TEST_CASE("clip_grad_norm_: a non-finite gradient, with and without error_if_nonfinite") {
  Tensor a = Tensor::ones({2}).set_requires_grad(true), b = Tensor::ones({2}).set_requires_grad(true);
  a.set_grad(Tensor::from_vector({1, 1}, {2}));
  b.set_grad(Tensor::from_vector({std::numeric_limits<float>::quiet_NaN(), 1}, {2}));
  const NamedTensors params{{"a", a}, {"b", b}};
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_(params, 1.0, 2.0, /*error_if_nonfinite=*/true),
                       doctest::Contains("the first non-finite gradient is that of 'b' (2,)"), Error);
  CHECK(a.grad().to_vector() == std::vector<float>{1, 1});  // nothing scaled
  CHECK(std::isnan(nn::clip_grad_norm_(params, 1.0)));
  CHECK(std::isnan(a.grad().to_vector()[0]));  // as PyTorch: every gradient becomes NaN
}
