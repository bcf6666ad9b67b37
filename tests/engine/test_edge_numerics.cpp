// Ops on edge inputs against PyTorch (tests/fixtures/ops_edge_numerics.safetensors, made by
// tests/reference/gen_edge_numerics.py): the defects a hostile review of the numerics found, each
// checked in the fast and the reference kernel modes. Before the fixes: log_softmax of (1e8, 1e8)
// was (0, 0); cross-entropy with a -inf logit was NaN; max and argmax skipped a NaN not in first
// place; d(a/b)/db and d(1/a)/da overflowed or underflowed through b^2; d(x^0)/dx was NaN at 0;
// a NaN batch left running_var looking healthy. Also: the gradient of norm() for tiny vectors
// (PyTorch underflows there, so against the exact value) and copy_ across shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/cpu/kernel_mode.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "support/error_of.h"
#include "support/fixtures.h"
#include "support/kernel_mode_guard.h"

using namespace tg;
using tg::test::contains;
using tg::test::error_of;
using tg::test::KernelModeGuard;

namespace {

Tensor leaf(const Tensor& t) { return t.clone().set_requires_grad(true); }

const KernelMode kModes[] = {KernelMode::Fast, KernelMode::Reference};

}  // namespace

TEST_CASE("log_softmax keeps log p exact for large logits (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("ops_edge_numerics");
  for (KernelMode mode : kModes) {
    KernelModeGuard guard(mode);
    CAPTURE(kernel_mode_name());
    for (const std::string name : {"log_softmax.big", "log_softmax.near"}) {
      Tensor x = leaf(f.at(name + ".x"));
      const Tensor y = log_softmax(x, 1);
      sum(mul(y, f.at(name + ".dy"))).backward();
      test::expect_close(y, f.at(name + ".y"), 1e-6, 0.0, name + ".y");
      test::expect_close(x.grad(), f.at(name + ".dx"), 1e-5, 0.0, name + ".dx");
    }
  }
}

TEST_CASE("cross_entropy with masked (-inf) logits is finite, or +inf, never NaN (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("ops_edge_numerics");
  struct Case {
    const char* name;
    float smoothing;
    bool has_grad;
  };
  for (KernelMode mode : kModes) {
    KernelModeGuard guard(mode);
    CAPTURE(kernel_mode_name());
    for (const Case c : {Case{"ce.masked", 0.f, true}, Case{"ce.masked_smooth", 0.1f, false},
                         Case{"ce.target_masked", 0.f, true}}) {
      const std::string name = c.name;
      Tensor z = leaf(f.at(name + ".x"));
      const Tensor loss = cross_entropy(z, f.at(name + ".t"), c.smoothing);
      test::expect_close(loss.reshape({1}), f.at(name + ".y"), 1e-6, 0.0, name + ".y");
      if (!c.has_grad) continue;
      loss.backward();
      test::expect_close(z.grad(), f.at(name + ".dx"), 1e-5, 0.0, name + ".dx");
    }
  }
}

TEST_CASE("max and argmax take a NaN as the maximum, as PyTorch (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("ops_edge_numerics");
  for (KernelMode mode : kModes) {
    KernelModeGuard guard(mode);
    CAPTURE(kernel_mode_name());
    Tensor x = leaf(f.at("max.nan.x"));
    const Tensor v = max(x, 1);
    sum(mul(v, f.at("max.nan.dy"))).backward();
    test::expect_close(v, f.at("max.nan.y"), 0.0, 0.0, "max values");
    test::expect_close(x.grad(), f.at("max.nan.dx"), 0.0, 0.0, "max gradient");
    test::expect_close(argmax(x.detach(), 1), f.at("max.nan.i"), 0.0, 0.0, "argmax over dim 1");
    // max of all elements: the first NaN in row-major order (flat index 1), its gradient there.
    Tensor y = leaf(f.at("max.nan.x"));
    const Tensor m = max(y);
    CHECK(std::isnan(m.item()));
    m.backward();
    const std::vector<float> g = y.grad().to_vector();
    const auto first = static_cast<size_t>(f.at("max.nan.argmax_all").item());
    for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == (i == first ? 1.f : 0.f));
  }
}

TEST_CASE("the gradients of a / b, 1 / a and x^0 at extreme or zero inputs (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("ops_edge_numerics");
  Tensor a = leaf(f.at("div.extreme.a")), b = leaf(f.at("div.extreme.b"));
  sum(div(a, b)).backward();
  test::expect_close(a.grad(), f.at("div.extreme.da"), 1e-6, 0.0, "d(a/b)/da");
  test::expect_close(b.grad(), f.at("div.extreme.db"), 1e-6, 0.0, "d(a/b)/db");  // was -inf, -0, -1.0000054e20

  Tensor r = leaf(f.at("rdiv.extreme.a"));
  sum(rdiv(1.f, r)).backward();
  // The first is -1e-40, a denormal (it was -0): within ~7 of its ulps (1.4e-45), as PyTorch computes
  // -g / a^2 as -g (1/a)^2 and we as -(g / a) / a.
  test::expect_close(r.grad(), f.at("rdiv.extreme.da"), 1e-4, 1e-44, "d(1/a)/da");

  for (KernelMode mode : kModes) {
    KernelModeGuard guard(mode);
    CAPTURE(kernel_mode_name());
    Tensor x = leaf(f.at("pow.zero.x"));
    sum(pow(x, 0.f)).backward();
    test::expect_close(x.grad(), f.at("pow.zero.dx"), 0.0, 0.0, "d(x^0)/dx");  // was NaN at 0, -0 and NaN
  }
}

TEST_CASE("batch norm: a NaN in a training batch reaches running_var, as in PyTorch (fixture)") {
  const io::SafetensorsFile f = test::load_fixture("ops_edge_numerics");
  const Tensor x = f.at("bn.nan_running.x");
  const int64_t C = x.size(1);
  for (KernelMode mode : kModes) {
    KernelModeGuard guard(mode);
    CAPTURE(kernel_mode_name());
    for (int variant = 0; variant < 3; ++variant) {  // batch_norm2d, + relu, + relu + 2x2 max pool
      CAPTURE(variant);
      Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
      if (variant == 0) batch_norm2d(x, Tensor(), Tensor(), rm, rv, true);
      if (variant == 1) batch_norm2d_relu(x, Tensor(), Tensor(), rm, rv, true);
      if (variant == 2) batch_norm2d_relu_maxpool2x2(x, Tensor(), Tensor(), rm, rv, true);
      test::expect_close(rm, f.at("bn.nan_running.mean"), 1e-5, 0.0, "running_mean");
      test::expect_close(rv, f.at("bn.nan_running.var"), 1e-5, 0.0, "running_var");  // channel 0 was 0.9 (NaN hidden)
    }
  }
}

TEST_CASE("norm: the gradient x / ||x|| of a tiny vector is finite") {
  // ||x|| = 5e-39: g / ||x|| overflowed float (dx was inf). PyTorch gives 0 here (its sum of squares
  // underflows), so the check is against the exact x / ||x||.
  Tensor x = Tensor::from_vector({3e-39f, -4e-39f}, {2}).set_requires_grad(true);
  const Tensor n = norm(x);
  CHECK(n.item() == doctest::Approx(5e-39).epsilon(1e-5));
  mul(n, 2.f).backward();
  const std::vector<float> dx = x.grad().to_vector();
  CHECK(dx[0] == doctest::Approx(2 * 0.6).epsilon(1e-5));
  CHECK(dx[1] == doctest::Approx(2 * -0.8).epsilon(1e-5));
}

TEST_CASE("copy_ refuses a source of another shape with as many elements") {
  const Tensor dst = Tensor::zeros({2, 3});
  const Tensor src = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  const std::string e = error_of([&] { dst.copy_(src); });
  CHECK(contains(e, "copy_: source shape (3, 2) does not match destination (2, 3)"));
  CHECK(dst.to_vector() == std::vector<float>(6, 0.f));  // nothing written
  dst.copy_(src.reshape({2, 3}));                         // the way to copy across shapes
  CHECK(dst.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("the fixture comparison matches special values only with themselves") {
  // compare() let a finite value pass against an expected NaN (the NaN error failed no test).
  const auto ok = [](std::vector<float> actual, std::vector<float> expected) {
    return test::compare(Tensor::from_vector(actual, {2}), Tensor::from_vector(expected, {2}), 1e-3, 1e-3, "x").ok;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  CHECK(ok({1.f, nan}, {1.f, nan}));
  CHECK(ok({1.f, -inf}, {1.f, -inf}));
  CHECK_FALSE(ok({1.f, 2.f}, {1.f, nan}));
  CHECK_FALSE(ok({1.f, nan}, {1.f, 2.f}));
  CHECK_FALSE(ok({1.f, inf}, {1.f, -inf}));
  CHECK_FALSE(ok({1.f, 3e38f}, {1.f, inf}));
  CHECK_FALSE(ok({1.f, 1.1f}, {1.f, 1.f}));
}
