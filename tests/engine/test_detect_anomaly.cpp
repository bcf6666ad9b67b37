// Anomaly detection (DetectAnomalyGuard): the first op that turns finite values into NaN or Inf,
// in the forward pass or in the backward, is named in a tg::Error; outside the guard nothing is
// checked and results are unchanged.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "support/error_of.h"

using namespace tg;

using test::contains;
using test::error_of;

TEST_CASE("anomaly detection is off by default, scoped, and nests") {
  CHECK_FALSE(anomaly_detection_enabled());
  {
    DetectAnomalyGuard on;
    CHECK(anomaly_detection_enabled());
    {
      DetectAnomalyGuard off(false);
      CHECK_FALSE(anomaly_detection_enabled());
    }
    CHECK(anomaly_detection_enabled());
  }
  CHECK_FALSE(anomaly_detection_enabled());
}

TEST_CASE("forward: the op that makes Inf from finite inputs is named") {
  Tensor x = Tensor::from_vector({1, 0, 2}, {3}).set_requires_grad(true);
  CHECK(std::isinf(log(x).to_vector()[1]));  // no guard: -inf, as before
  DetectAnomalyGuard anomaly;
  const std::string message = error_of([&] { (void)log(x); });
  CHECK(contains(message, "forward (anomaly detection): 'log' produced NaN or Inf in its output (3,) from finite inputs"));
  // A NaN in a leaf that requires grad (a parameter) is named at its first use ...
  Tensor bad = Tensor::from_vector({1, std::numeric_limits<float>::quiet_NaN()}, {2}).set_requires_grad(true);
  CHECK(contains(error_of([&] { (void)add(bad, bad); }),
                 "'add' was given NaN or Inf in its input 0 (2,), a leaf that requires grad (a parameter)"));
  // ... while an input that requires no grad may hold -inf on purpose (a mask added to scores),
  const Tensor mask = Tensor::from_vector({0, -std::numeric_limits<float>::infinity(), 0}, {3});
  CHECK(error_of([&] { (void)add(x, mask); }).empty());
  // but not NaN (data gone bad).
  const Tensor data = Tensor::from_vector({0, std::numeric_limits<float>::quiet_NaN(), 0}, {3});
  CHECK(contains(error_of([&] { (void)mul(x, data); }),
                 "'mul' was given NaN in its input 1 (3,), which requires no grad (the data?)"));
}

TEST_CASE("backward: the op whose gradient turns non-finite is named, with the input and shapes") {
  // sqrt at 0: the forward value 0 is finite, the derivative 1 / (2 sqrt(x)) is not.
  Tensor x = Tensor::from_vector({4, 0}, {2}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({1, 1}, {2}).set_requires_grad(true);
  {
    Tensor loss = sum(mul(sqrt(x), w));
    loss.backward();
    CHECK(std::isinf(x.grad().to_vector()[1]));  // no guard: a silent Inf in x.grad
  }
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  DetectAnomalyGuard anomaly;
  Tensor loss = sum(mul(sqrt(x), w));
  const std::string message = error_of([&] { loss.backward(); });
  CHECK(contains(message, "backward (anomaly detection): 'sqrt' returned NaN or Inf in the gradient of its input 0 (2,)"));
  CHECK(contains(message, "from a finite gradient of its output (2,)"));
  CHECK_FALSE(x.grad().defined());  // the error came before the gradient reached x
}

TEST_CASE("anomaly detection leaves finite graphs' gradients unchanged") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).set_requires_grad(true);
  sum(mul(exp(a), log(b))).backward();
  const std::vector<float> ga = a.grad().to_vector(), gb = b.grad().to_vector();
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  {
    DetectAnomalyGuard anomaly;
    sum(mul(exp(a), log(b))).backward();
  }
  CHECK(a.grad().to_vector() == ga);
  CHECK(b.grad().to_vector() == gb);
}

TEST_CASE("anomaly detection refuses a non-finite gradient handed to backward()") {
  Tensor a = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor y = mul(a, 3.f);
  DetectAnomalyGuard anomaly;
  const Tensor dout = Tensor::from_vector({1, std::numeric_limits<float>::infinity()}, {2});
  CHECK(contains(error_of([&] { y.backward(dout); }), "the gradient passed to backward() holds NaN or Inf"));
}
