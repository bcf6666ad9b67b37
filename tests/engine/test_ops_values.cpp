// Closed-form values of ops (independent of PyTorch) and bad-argument errors naming the shapes.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"

using namespace tg;

TEST_CASE("broadcast arithmetic matches hand-computed values") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = Tensor::from_vector({10, 20, 30}, {3});
  Tensor col = Tensor::from_vector({100, 200}, {2, 1});
  CHECK(add(x, row).to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK(add(x, col).to_vector() == std::vector<float>{101, 102, 103, 204, 205, 206});
  CHECK(sub(col, x).to_vector() == std::vector<float>{99, 98, 97, 196, 195, 194});
  CHECK((x * 2.f).to_vector() == std::vector<float>{2, 4, 6, 8, 10, 12});
  CHECK((1.f - x).to_vector() == std::vector<float>{0, -1, -2, -3, -4, -5});
  CHECK(sum(x, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(mean(x).item() == 3.5f);
  CHECK(max(x, 1).to_vector() == std::vector<float>{3, 6});
  CHECK(argmax(x, 0).to_vector() == std::vector<float>{1, 1, 1});
  CHECK(norm(Tensor::from_vector({3, 4}, {2})).item() == 5.f);
  CHECK(matmul(x, transpose(x)).to_vector() == std::vector<float>{14, 32, 32, 77});
}

TEST_CASE("softmax rows sum to one and cross-entropy of a confident correct logit is small") {
  Tensor z = Tensor::from_vector({1, 2, 3, 1000, 0, -1000}, {2, 3});
  const std::vector<float> p = softmax(z).to_vector();
  CHECK(p[0] + p[1] + p[2] == doctest::Approx(1.f));
  CHECK(p[3] == doctest::Approx(1.f));  // no overflow at large logits
  CHECK(std::exp(log_softmax(z).to_vector()[0]) == doctest::Approx(p[0]));
  // CE = -log softmax at the target; uniform logits give log C.
  CHECK(cross_entropy(Tensor::zeros({4, 10}), Tensor::zeros({4})).item() == doctest::Approx(std::log(10.f)));
  // Label smoothing eps on uniform logits still gives log C (the target is a distribution).
  CHECK(cross_entropy(Tensor::zeros({2, 5}), Tensor::zeros({2}), 0.2f).item() == doctest::Approx(std::log(5.f)));
}

TEST_CASE("bad arguments throw tg::Error naming the shapes") {
  Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({4, 5});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("(2, 3) and (4, 5)"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("(2, 3) x (4, 5)"), Error);
  CHECK_THROWS_WITH_AS(linear(a, b, Tensor()), doctest::Contains("(4, 5)"), Error);
  CHECK_THROWS_WITH_AS(transpose(Tensor::ones({2, 2, 2})), doctest::Contains("(2, 2, 2)"), Error);
  CHECK_THROWS_WITH_AS(sum(a, 2), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(relu(Tensor::empty({0, 3})), doctest::Contains("empty"), Error);
  CHECK_THROWS_WITH_AS(exp(Tensor()), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(a, Tensor::from_vector({0, 3}, {2})), doctest::Contains("target[1] = 3"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(a, Tensor::ones({3})), doctest::Contains("(3,)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(a, Tensor::zeros({2}), 1.5f), doctest::Contains("label_smoothing"), Error);
}
