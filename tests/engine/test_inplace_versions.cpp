// In-place modification of a tensor a backward needs: each storage counts its in-place writes
// (Tensor::version), every node remembers the versions of the tensors its backward reads, and
// backward() refuses to run, with nothing accumulated, when one of them moved since the forward.
#include <doctest/doctest.h>

#include <string>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "support/error_of.h"
#include "nn/layers_conv.h"
#include "nn/layers_norm.h"
#include "optim/sgd.h"

using namespace tg;

using test::contains;
using test::error_of;

TEST_CASE("version: fill_, copy_ and views share one count per storage") {
  Tensor x = Tensor::zeros({2, 3});
  CHECK(x.version() == 0);
  x.fill_(1.f);
  CHECK(x.version() == 1);
  x.copy_(Tensor::ones({2, 3}));
  CHECK(x.version() == 2);
  Tensor view = x.reshape({6});
  view.fill_(2.f);  // a write through a view is a write to x
  CHECK(x.version() == 3);
  CHECK(view.version() == 3);
  Tensor copy = x.clone();  // its own storage, its own count
  copy.fill_(0.f);
  CHECK(copy.version() == 1);
  CHECK(x.version() == 3);
  x.bump_version();  // for code that wrote through data()
  CHECK(x.version() == 4);
  CHECK(Tensor().version() == 0);
}

TEST_CASE("backward refuses a saved input modified in place, before any gradient is computed") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).set_requires_grad(true);
  Tensor loss = sum(mul(a, b));  // d/da = b, d/db = a: both values are read by the backward
  b.copy_(Tensor::from_vector({0, 0, 0}, {3}));
  const std::string message = error_of([&] { loss.backward(); });
  CHECK(contains(message, "'mul' needs its input 1 (3,)"));
  CHECK(contains(message, "modified in place"));
  CHECK(contains(message, "version 1, was 0"));
  // Checked for the whole graph first: a's gradient was not accumulated either.
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("an op whose backward does not read a value accepts its modification (no false alarm)") {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({4, 5, 6}, {3}).set_requires_grad(true);
  Tensor loss = sum(mul(add(a, b), 2.f));  // add and the scalar mul read no values
  a.fill_(9.f);
  b.fill_(9.f);
  loss.backward();
  CHECK(a.grad().to_vector() == std::vector<float>{2, 2, 2});
  CHECK(b.grad().to_vector() == std::vector<float>{2, 2, 2});
}

TEST_CASE("backward refuses a saved output modified in place") {
  Tensor x = Tensor::from_vector({-1, 2, -3, 4}, {4}).set_requires_grad(true);
  Tensor y = relu(x);  // its backward reads y's mask
  Tensor loss = sum(y);
  y.fill_(1.f);
  const std::string message = error_of([&] { loss.backward(); });
  CHECK(contains(message, "'relu' needs its output (4,)"));
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("an optimizer step between forward and backward is refused; the usual order is unaffected") {
  Generator gen(7);
  nn::Linear layer(nn::LinearOptions(3, 2), gen);
  optim::Sgd sgd(layer.named_parameters(), {.lr = 0.1});
  const Tensor x = Tensor::randn({4, 3}, gen).set_requires_grad(true);  // dx reads W (a hidden layer's input)

  // forward, backward, step: three times, no error, one version per step on every parameter
  const uint64_t weight_version = layer.weight.version(), bias_version = layer.bias.version();  // after init
  for (int i = 0; i < 3; ++i) {
    sgd.zero_grad();
    sum(layer.forward(x)).backward();
    sgd.step();
  }
  CHECK(layer.weight.version() == weight_version + 3);
  CHECK(layer.bias.version() == bias_version + 3);

  // A step after the forward that builds a graph needing the old weight: refused.
  sgd.zero_grad();
  sum(layer.forward(x)).backward();
  Tensor loss = sum(layer.forward(x));
  const std::vector<float> before = layer.weight.to_vector();
  sgd.step();  // moves the weight the pending backward would read
  const std::string message = error_of([&] { loss.backward(); });
  CHECK(contains(message, "'linear' needs its input 1 (2, 3)"));
  CHECK(contains(message, "optimizer step"));
  CHECK(layer.weight.to_vector() != before);
}

TEST_CASE("a weight moved after the forward is accepted where no gradient reads it, as in PyTorch") {
  // y = x W^T with x needing no gradient: dW = g^T x reads x only, so a step that moves W between the
  // forward and the backward changes nothing the backward computes.
  Generator gen(5);
  nn::Linear layer(nn::LinearOptions(3, 2), gen);
  const Tensor x = Tensor::randn({4, 3}, gen);  // data: requires no grad
  optim::Sgd sgd(layer.named_parameters(), {.lr = 0.1});
  sum(layer.forward(x)).backward();
  const std::vector<float> dw = layer.weight.grad().to_vector();
  Tensor loss = sum(layer.forward(x));
  sgd.step();
  sgd.zero_grad();
  CHECK_NOTHROW(loss.backward());
  CHECK(layer.weight.grad().to_vector() == dw);  // the same x, the same g: the same dW
}

TEST_CASE("a second backward through a retained graph after an optimizer step is refused") {
  Tensor w = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor loss = sum(mul(w, w));
  loss.backward(Tensor(), /*retain_graph=*/true);
  CHECK(w.grad().to_vector() == std::vector<float>{2, 4});
  optim::Sgd sgd(NamedTensors{{"w", w}}, {.lr = 0.5});
  sgd.step();
  CHECK(w.to_vector() == std::vector<float>{0, 0});
  CHECK(contains(error_of([&] { loss.backward(); }), "'mul' needs its input 0 (2,)"));
  CHECK(w.grad().to_vector() == std::vector<float>{2, 4});  // unchanged by the refused call
}

TEST_CASE("a parameter the optimizer skips (no gradient) keeps its version") {
  Tensor used = Tensor::ones({2}).set_requires_grad(true);
  Tensor unused = Tensor::ones({2}).set_requires_grad(true);
  optim::Sgd sgd(NamedTensors{{"used", used}, {"unused", unused}}, {.lr = 0.1});
  sum(mul(used, 3.f)).backward();
  sgd.step();
  CHECK(used.version() == 1);
  CHECK(unused.version() == 0);
}

TEST_CASE("conv2d and batch norm: weights and inputs modified after the forward are caught") {
  Generator gen(3);
  nn::Conv2d conv(nn::Conv2dOptions(2, 4, 3).padding(1), gen);
  Tensor x = Tensor::randn({2, 2, 5, 5}, gen).set_requires_grad(true);
  Tensor y = conv.forward(x);
  Tensor loss = sum(y);
  {
    NoGradGuard no_grad;
    conv.weight.copy_(conv.weight.clone());  // same values, still a write
  }
  CHECK(contains(error_of([&] { loss.backward(); }), "needs its input 1 (4, 2, 3, 3)"));

  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(4));
  Tensor h = Tensor::randn({2, 4, 3, 3}, gen).set_requires_grad(true);
  const uint64_t running = bn.running_mean.version();
  Tensor z = bn.forward(h);  // training mode: running statistics are written in place
  CHECK(bn.running_mean.version() == running + 1);
  CHECK(bn.running_var.version() == running + 1);
  Tensor bn_loss = sum(mul(z, z));
  h.fill_(0.f);
  CHECK(contains(error_of([&] { bn_loss.backward(); }), "needs its input 0 (2, 4, 3, 3)"));
}
