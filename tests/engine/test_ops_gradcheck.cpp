// Finite-difference gradient checks for every differentiable op in engine/ops.h
// (tolerances: see tests/support/gradcheck.h).
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "support/gradcheck.h"

using namespace tg;
using test::gradcheck;
using test::leaf;
using Inputs = std::vector<Tensor>;

#define EXPECT_GRADCHECK(fn, inputs)                  \
  do {                                                \
    const auto r_ = gradcheck(fn, inputs);            \
    CHECK_MESSAGE(r_.ok, r_.report);                  \
    CHECK(r_.checked > 0);                            \
  } while (0)

TEST_CASE("gradcheck: binary ops with broadcasting (same shape, per-channel, scalar-shaped)") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3}, {2, 3}}, {{2, 3, 2, 2}, {3, 1, 1}}, {{2, 3, 2, 2}, {1, 3, 1, 1}}, {{3, 4}, {}}, {{4}, {3, 1}}};
  for (const auto& shapes : cases) {
    const Shape& sa = shapes.first;  // not a structured binding: CAPTURE's lambda needs Clang 16 for those
    const Shape& sb = shapes.second;
    CAPTURE(shape_str(sa));
    CAPTURE(shape_str(sb));
    Tensor a = leaf(sa, 1), b = leaf(sb, 2, 0.5f, 1.5f);  // b away from 0 for div
    EXPECT_GRADCHECK([](const Inputs& x) { return add(x[0], x[1]); }, (Inputs{a, b}));
    EXPECT_GRADCHECK([](const Inputs& x) { return sub(x[0], x[1]); }, (Inputs{a, b}));
    EXPECT_GRADCHECK([](const Inputs& x) { return mul(x[0], x[1]); }, (Inputs{a, b}));
    EXPECT_GRADCHECK([](const Inputs& x) { return div(x[0], x[1]); }, (Inputs{a, b}));
  }
}

TEST_CASE("gradcheck: scalar ops") {
  Tensor a = leaf({3, 4}, 3, 0.5f, 2.f);
  EXPECT_GRADCHECK([](const Inputs& x) { return add(x[0], 1.5f); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return sub(x[0], 1.5f); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return mul(x[0], -2.f); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return div(x[0], 4.f); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return rsub(1.f, x[0]); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return rdiv(2.f, x[0]); }, Inputs{a});
}

TEST_CASE("gradcheck: unary ops") {
  Tensor pos = leaf({2, 5}, 4, 0.2f, 2.f);   // domain of log, sqrt, pow
  Tensor any = leaf({2, 5}, 5, -2.f, 2.f);
  EXPECT_GRADCHECK([](const Inputs& x) { return neg(x[0]); }, Inputs{any});
  EXPECT_GRADCHECK([](const Inputs& x) { return exp(x[0]); }, Inputs{any});
  EXPECT_GRADCHECK([](const Inputs& x) { return log(x[0]); }, Inputs{pos});
  EXPECT_GRADCHECK([](const Inputs& x) { return sqrt(x[0]); }, Inputs{pos});
  EXPECT_GRADCHECK([](const Inputs& x) { return pow(x[0], 3.f); }, Inputs{any});
  EXPECT_GRADCHECK([](const Inputs& x) { return pow(x[0], -1.5f); }, Inputs{pos});
  EXPECT_GRADCHECK([](const Inputs& x) { return gelu(x[0]); }, Inputs{any});
  EXPECT_GRADCHECK([](const Inputs& x) { return sigmoid(x[0]); }, Inputs{any});
  EXPECT_GRADCHECK([](const Inputs& x) { return tanh(x[0]); }, Inputs{any});
  // relu: keep inputs away from the kink at 0, where the finite difference is meaningless.
  Tensor away = Tensor::from_vector({-1.5f, -0.3f, 0.4f, 2.f, -0.8f, 1.1f}, {2, 3}).set_requires_grad(true);
  EXPECT_GRADCHECK([](const Inputs& x) { return relu(x[0]); }, Inputs{away});
}

TEST_CASE("gradcheck: reductions") {
  Tensor a = leaf({3, 4, 2}, 6);
  EXPECT_GRADCHECK([](const Inputs& x) { return sum(x[0]); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return mean(x[0]); }, Inputs{a});
  for (int d : {0, 1, 2, -1}) {
    CAPTURE(d);
    EXPECT_GRADCHECK([d](const Inputs& x) { return sum(x[0], d); }, Inputs{a});
    EXPECT_GRADCHECK([d](const Inputs& x) { return mean(x[0], d, true); }, Inputs{a});
    EXPECT_GRADCHECK([d](const Inputs& x) { return max(x[0], d); }, Inputs{a});
  }
  EXPECT_GRADCHECK([](const Inputs& x) { return max(x[0]); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return norm(x[0]); }, Inputs{a});
  EXPECT_GRADCHECK([](const Inputs& x) { return expand(x[0], {2, 3, 4}); }, Inputs{leaf({3, 1}, 7)});
  EXPECT_GRADCHECK([](const Inputs& x) { return sum_to(x[0], {3, 1}); }, Inputs{leaf({2, 3, 4}, 8)});
}

TEST_CASE("gradcheck: matmul, linear, transpose, reshape, flatten") {
  Tensor a = leaf({3, 4}, 9), b = leaf({4, 5}, 10);
  EXPECT_GRADCHECK([](const Inputs& x) { return matmul(x[0], x[1]); }, (Inputs{a, b}));
  EXPECT_GRADCHECK([](const Inputs& x) { return transpose(x[0]); }, Inputs{a});
  Tensor xin = leaf({5, 4}, 11), w = leaf({3, 4}, 12), bias = leaf({3}, 13);
  EXPECT_GRADCHECK([](const Inputs& x) { return linear(x[0], x[1], x[2]); }, (Inputs{xin, w, bias}));
  EXPECT_GRADCHECK([](const Inputs& x) { return linear(x[0], x[1], Tensor()); }, (Inputs{xin, w}));
  Tensor c = leaf({2, 3, 2, 2}, 14);
  EXPECT_GRADCHECK([](const Inputs& x) { return mul(reshape(x[0], {4, 6}), 2.f); }, Inputs{c});
  EXPECT_GRADCHECK([](const Inputs& x) { return mul(flatten(x[0], 1), 2.f); }, Inputs{c});
}

TEST_CASE("gradcheck: softmax, log_softmax, cross_entropy with and without label smoothing") {
  Tensor a = leaf({3, 5}, 15, -2.f, 2.f);
  for (int d : {0, 1}) {
    CAPTURE(d);
    EXPECT_GRADCHECK([d](const Inputs& x) { return softmax(x[0], d); }, Inputs{a});
    EXPECT_GRADCHECK([d](const Inputs& x) { return log_softmax(x[0], d); }, Inputs{a});
  }
  Tensor t = Tensor::from_vector({4, 0, 2}, {3});
  EXPECT_GRADCHECK([t](const Inputs& x) { return cross_entropy(x[0], t); }, Inputs{a});
  EXPECT_GRADCHECK([t](const Inputs& x) { return cross_entropy(x[0], t, 0.1f); }, Inputs{a});
}
