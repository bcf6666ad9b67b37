// Autograd engine: requires_grad propagation, accumulation, NoGradGuard, graph freeing,
// deep chains without stack overflow, shape-checked accumulation.
#include <doctest/doctest.h>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

using namespace tg;

TEST_CASE("output requires grad iff an input does") {
  Tensor a = Tensor::ones({3}).set_requires_grad(true);
  Tensor b = Tensor::ones({3});
  CHECK(add(a, b).requires_grad());
  CHECK_FALSE(add(b, b).requires_grad());
  CHECK(add(a, b).grad_fn()->name == "add");
  CHECK(add(b, b).grad_fn() == nullptr);
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_mode_enabled());
    CHECK_FALSE(mul(a, a).requires_grad());
    {
      NoGradGuard nested;
    }
    CHECK_FALSE(grad_mode_enabled());
  }
  CHECK(grad_mode_enabled());
}

TEST_CASE("gradients accumulate into leaves across backward calls and shared uses") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3}).set_requires_grad(true);
  // y = sum(x * x + x): dy/dx = 2x + 1 (x used twice: the contributions must add up)
  sum(add(mul(x, x), x)).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{3, 5, 7});
  sum(mul(x, 2.f)).backward();  // accumulates +2
  CHECK(x.grad().to_vector() == std::vector<float>{5, 7, 9});
  x.set_grad(Tensor());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("an inner node used several times sums its gradients (in place when unshared), aliases kept apart") {
  Tensor x = Tensor::from_vector({-1.f, 0.5f, 2.f}, {3}).set_requires_grad(true);
  Tensor w = Tensor::from_vector({1.f, -2.f, 3.f}, {3});
  // h = 3x used three times: d/dh [sum(h * h) + sum(h * w) + sum(relu(h))] = 2h + w + [h > 0]
  Tensor h = mul(x, 3.f);
  add(add(sum(mul(h, h)), sum(mul(h, w))), sum(relu(h))).backward();
  const std::vector<float> want = {3.f * (-6.f + 1.f + 0.f), 3.f * (3.f - 2.f + 1.f), 3.f * (12.f + 3.f + 1.f)};
  CHECK(x.grad().to_vector() == want);
  // y = h + h: add hands both inputs the same gradient tensor; summing them must not write into it.
  x.set_grad(Tensor());
  Tensor h2 = mul(x, 3.f);
  sum(mul(add(h2, h2), w)).backward();  // dh2 = 2 w, dx = 6 w
  CHECK(x.grad().to_vector() == std::vector<float>{6.f, -12.f, 18.f});
  // add hands two nodes (h3, h4) one gradient tensor. The backward's order here (post-order DFS from
  // the root, reversed: h4 is reached first through h4 * u) runs add, then h3 * v, whose gradient is
  // summed into h3's while h4 still waits with the shared tensor: h4's must stay as it was.
  x.set_grad(Tensor());
  Tensor h3 = mul(x, 3.f), h4 = mul(x, 2.f);
  Tensor u = Tensor::from_vector({1.f, 1.f, -1.f}, {3}), v = Tensor::from_vector({0.5f, 0.25f, 2.f}, {3});
  add(add(sum(mul(h4, u)), sum(mul(h3, v))), sum(mul(add(h3, h4), w))).backward();
  // dh3 = v + w, dh4 = u + w: dx = 3 (v + w) + 2 (u + w)
  CHECK(x.grad().to_vector() == std::vector<float>{1.5f + 3.f + 4.f, 0.75f - 6.f - 2.f, 6.f + 9.f + 4.f});
}

TEST_CASE("backward twice on a freed graph fails clearly; retain_graph allows it") {
  Tensor x = Tensor::from_vector({1, 2}, {2}).set_requires_grad(true);
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), Error);
  Tensor z = sum(mul(x, x));
  x.set_grad(Tensor());
  z.backward(Tensor(), /*retain_graph=*/true);
  z.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{4, 8});  // 2 * 2x
}

TEST_CASE("backward needs a scalar or an explicit gradient of the right shape") {
  Tensor x = Tensor::ones({2, 2}).set_requires_grad(true);
  Tensor y = mul(x, 3.f);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("(2, 2)"), Error);
  CHECK_THROWS_WITH_AS(y.backward(Tensor::ones({3})), doctest::Contains("(3,)"), Error);
  y.backward(Tensor::full({2, 2}, 2.f));
  CHECK(x.grad().to_vector() == std::vector<float>{6, 6, 6, 6});
  CHECK_THROWS_WITH_AS(Tensor::ones({1}).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("a 10,000-op chain backpropagates and is freed without recursion overflow") {
  Tensor x = Tensor::from_vector({1.f}, {1}).set_requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = add(y, 0.f);  // y = x, through 10^4 nodes
  {
    Tensor z = mul(y, 2.f);
    z.backward(Tensor::ones({1}));
  }
  CHECK(x.grad().item() == 2.f);
  // A longer chain, destroyed without running backward at all.
  Tensor w = x;
  for (int i = 0; i < 100000; ++i) w = mul(w, 1.f);
  w = Tensor();
  CHECK(x.grad().item() == 2.f);
}

TEST_CASE("accumulation checks shapes with a helpful message") {
  Tensor x = Tensor::ones({2, 3}).set_requires_grad(true);
  CHECK_THROWS_WITH_AS(accumulate_grad(*x.impl(), Tensor::ones({3, 2})), doctest::Contains("(3, 2)"), Error);
  CHECK_THROWS_WITH_AS(x.set_grad(Tensor::ones({6})), doctest::Contains("(6,)"), Error);
  CHECK_THROWS_WITH_AS(mul(x, 1.f).set_requires_grad(false), doctest::Contains("leaf"), Error);
}

TEST_CASE("unused branches and inputs without requires_grad get no gradient") {
  Tensor a = Tensor::ones({2}).set_requires_grad(true);
  Tensor b = Tensor::ones({2}).set_requires_grad(true);
  Tensor c = Tensor::ones({2});
  Tensor unused = mul(b, 5.f);
  sum(mul(a, c)).backward();
  CHECK(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  CHECK_FALSE(c.grad().defined());
}
