// Finite-difference gradient checks of every layer, through the Module API (input and every
// parameter perturbed in place). Small sizes; values are spread so pooling windows have no ties.
#include <doctest/doctest.h>

#include "nn_test_util.h"
#include "support/gradcheck.h"

using namespace tg;
using namespace tg::nn;

namespace {

// Runs gradcheck of m(x) w.r.t. x and all of m's parameters that require grad.
void gradcheck_module(Module& m, const Tensor& x, const std::string& what, test::GradcheckOptions opts = {}) {
  std::vector<Tensor> inputs{x};
  for (auto& p : m.parameters())
    if (p.requires_grad()) inputs.push_back(p);
  auto res = test::gradcheck([&](const std::vector<Tensor>& in) { return m(in[0]); }, inputs, opts);
  CHECK_MESSAGE(res.ok, what << ": " << res.report);
  CHECK(res.checked > 0);
}

// Distinct values (a shuffled ramp) so max pooling has a unique maximum per window and
// finite differences with h = 1e-3 never cross a tie: neighbouring values differ by >= 0.05.
Tensor distinct_leaf(const Shape& shape, uint64_t seed) {
  const int64_t n = numel_of(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = -0.9875f + 0.05f * static_cast<float>(i);  // never within 0.0125 of 0
  Generator gen(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[static_cast<size_t>(i)], v[gen.below(static_cast<uint64_t>(i + 1))]);
  Tensor t = Tensor::from_vector(v, shape);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST_CASE("gradcheck: Conv2d (padded, strided, grouped, bias and no bias)") {
  Generator gen(1);
  Conv2d a(Conv2dOptions(2, 3, 3).padding(1), gen);
  gradcheck_module(a, test::leaf({2, 2, 5, 5}, 1), "conv 3x3 pad 1");
  Conv2d b(Conv2dOptions(4, 4, 3).stride(2).padding(1).bias(false).groups(2), gen);
  gradcheck_module(b, test::leaf({1, 4, 6, 6}, 2), "conv 3x3 stride 2 groups 2 no bias");
  Conv2d c(Conv2dOptions(3, 2, 2), gen);
  gradcheck_module(c, test::leaf({2, 3, 4, 4}, 3), "conv 2x2");
}

TEST_CASE("gradcheck: BatchNorm2d in training (batch statistics) and eval (running statistics)") {
  BatchNorm2d bn(BatchNorm2dOptions(3));
  {
    NoGradGuard no_grad;
    bn.weight.copy_(Tensor::from_vector({0.5f, 1.5f, -1.f}, {3}));
    bn.bias.copy_(Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}));
    bn.running_mean.copy_(Tensor::from_vector({0.2f, -0.1f, 0.f}, {3}));
    bn.running_var.copy_(Tensor::from_vector({0.5f, 2.f, 1.f}, {3}));
  }
  // Batch-stat BN divides by a batch std; its outputs are O(1) sums of many terms: widen atol
  // slightly (float32 forward rounding / 2h) as gradcheck.h allows.
  test::GradcheckOptions opts;
  opts.atol = 5e-3;
  gradcheck_module(bn, test::leaf({3, 3, 3, 3}, 4, -2.f, 2.f), "batchnorm train", opts);
  bn.eval();
  gradcheck_module(bn, test::leaf({2, 3, 3, 3}, 5), "batchnorm eval");
  BatchNorm2d plain(BatchNorm2dOptions(2).affine(false));
  gradcheck_module(plain, test::leaf({4, 2, 2, 2}, 6, -2.f, 2.f), "batchnorm affine=false", opts);
}

TEST_CASE("gradcheck: Linear, ReLU, GELU, Flatten, Scale") {
  Generator gen(2);
  Linear lin(LinearOptions(4, 3), gen);
  gradcheck_module(lin, test::leaf({5, 4}, 7), "linear");
  Linear lin_nb(LinearOptions(3, 2).bias(false), gen);
  gradcheck_module(lin_nb, test::leaf({2, 3}, 8), "linear without bias");
  ReLU r;
  gradcheck_module(r, distinct_leaf({2, 3, 2, 2}, 9), "relu (no input within h of 0)");
  GELU g;
  gradcheck_module(g, test::leaf({2, 3, 2, 2}, 10, -3.f, 3.f), "gelu");
  Flatten fl;
  gradcheck_module(fl, test::leaf({2, 3, 2, 2}, 11), "flatten");
  Scale sc(1.f / 9.f);
  gradcheck_module(sc, test::leaf({2, 5}, 12), "scale");
}

TEST_CASE("gradcheck: MaxPool2d, AvgPool2d (with padding), GlobalAvgPool") {
  MaxPool2d mp(MaxPool2dOptions(2)), mp_pad(MaxPool2dOptions(3).stride(2).padding(1));
  gradcheck_module(mp, distinct_leaf({2, 2, 4, 4}, 13), "maxpool 2");
  gradcheck_module(mp_pad, distinct_leaf({1, 2, 5, 5}, 14), "maxpool 3 stride 2 pad 1");
  AvgPool2d ap(AvgPool2dOptions(2)), ap_pad(AvgPool2dOptions(3).stride(2).padding(1));
  gradcheck_module(ap, test::leaf({2, 2, 4, 4}, 15), "avgpool 2");
  gradcheck_module(ap_pad, test::leaf({1, 2, 5, 5}, 16), "avgpool 3 stride 2 pad 1");
  GlobalAvgPool gap;
  gradcheck_module(gap, test::leaf({2, 3, 3, 3}, 17), "global average pool");
}

TEST_CASE("gradcheck: Dropout with a fixed mask (generator reseeded per call)") {
  Dropout drop(DropoutOptions(0.4f), 5);
  auto res = test::gradcheck(
      [&](const std::vector<Tensor>& in) {
        drop.gen.manual_seed(5);  // the same mask on every evaluation
        return drop(in[0]);
      },
      {test::leaf({3, 8}, 18)});
  CHECK_MESSAGE(res.ok, res.report);
}

TEST_CASE("gradcheck: BasicBlock with shortcut conv and a tiny Sequential") {
  Generator gen(3);
  BasicBlock block(2, 3, 2, gen);
  test::GradcheckOptions opts;
  opts.atol = 5e-3;  // BN in training inside, see the BatchNorm2d case
  gradcheck_module(block, test::leaf({2, 2, 4, 4}, 19), "basic block (downsampling)", opts);

  Sequential seq;
  seq.add(std::make_shared<Conv2d>(Conv2dOptions(1, 2, 3).padding(1), gen))
      .add(std::make_shared<GELU>())
      .add(std::make_shared<AvgPool2d>(AvgPool2dOptions(2)))
      .add(std::make_shared<Flatten>())
      .add(std::make_shared<Linear>(LinearOptions(8, 3), gen));
  gradcheck_module(seq, test::leaf({2, 1, 4, 4}, 20), "sequential");
}
