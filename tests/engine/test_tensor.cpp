// Tensor handle: factories, views, copies, printing, generator determinism, error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "engine/tensor.h"

using namespace tg;

TEST_CASE("factories fill the requested values") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  for (float v : z.to_vector()) CHECK(v == 0.f);
  for (float v : Tensor::ones({4}).to_vector()) CHECK(v == 1.f);
  for (float v : Tensor::full({2, 2}, 2.5f).to_vector()) CHECK(v == 2.5f);
  const std::vector<float> a = Tensor::arange(5).to_vector();
  CHECK(a == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(Tensor::scalar(3.f).dim() == 0);
  CHECK(Tensor::scalar(3.f).item() == 3.f);
  Tensor fv = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(fv.data()[3] == 4.f);
  CHECK(fv.size(-1) == 2);
  CHECK_THROWS_WITH_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), doctest::Contains("(2, 2)"), Error);
  CHECK_THROWS_AS(Tensor::zeros({-1, 2}), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2, 3}).item(), doctest::Contains("(2, 3)"), Error);
}

TEST_CASE("element counts and byte sizes past int64 are rejected, never wrapped") {
  using doctest::Contains;
  const int64_t big = (int64_t{1} << 62) + 1;
  CHECK(numel_of({3, 0, 5}) == 0);
  CHECK(nbytes_of({2, 3}, 4) == 24);
  // 4 * (2^62 + 1) used to wrap to 4 elements; 2^62 floats to 0 bytes.
  CHECK_THROWS_WITH_AS(Tensor::empty({big, 4}),
                       Contains("shape (4611686018427387905, 4) is too large: its sizes multiply to more than 2^63 - 1"),
                       Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({int64_t{1} << 62}),
                       Contains("4611686018427387904 elements of 4 bytes need more than 2^63 - 1 bytes"), Error);
  CHECK_THROWS_WITH_AS(Tensor::ones({INT64_MAX, 2}), Contains("(9223372036854775807, 2) is too large"), Error);
  CHECK_THROWS_WITH_AS(numel_of({int64_t{1} << 32, int64_t{1} << 32}), Contains("(4294967296, 4294967296)"), Error);
  // A zero does not hide an overflowing rest (strides of such a shape would overflow).
  CHECK_THROWS_WITH_AS(numel_of({INT64_MAX, 2, 0}), Contains("is too large"), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({4}).reshape({big, 4}),
                       Contains("cannot be viewed as (4611686018427387905, 4): its sizes multiply to more than"), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({4}).reshape({-1, big, 4}), Contains("its sizes multiply to more than"), Error);
  CHECK_THROWS_WITH_AS(expand(Tensor::zeros({1}), {big, 4}), Contains("(4611686018427387905, 4) is too large"), Error);
}

TEST_CASE("random factories check the shape before allocating, with the message zeros gives") {
  using doctest::Contains;
  Generator gen(1);
  const char* msg = "cannot create a tensor with negative size: shape (-1,)";
  CHECK_THROWS_WITH_AS(Tensor::zeros({-1}), Contains(msg), Error);
  CHECK_THROWS_WITH_AS(Tensor::randn({-1}, gen), Contains(msg), Error);
  CHECK_THROWS_WITH_AS(Tensor::rand({-1}, gen), Contains(msg), Error);
  CHECK_THROWS_WITH_AS(Tensor::randn({-1}), Contains(msg), Error);
  CHECK_THROWS_WITH_AS(Tensor::rand({-2, -3}), Contains("negative size: shape (-2, -3)"), Error);
}

TEST_CASE("same seed gives the same numbers; different seeds differ") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = Tensor::randn({100}, g1), b = Tensor::randn({100}, g2), c = Tensor::randn({100}, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  // Moments of 20k normal draws: mean ~ 0 (se 0.007), var ~ 1 (se 0.01).
  Tensor n = Tensor::randn({20000}, g1);
  const float m = mean(n).item();
  const float var = mean(mul(sub(n, m), sub(n, m))).item();
  CHECK(std::abs(m) < 0.03f);
  CHECK(std::abs(var - 1.f) < 0.05f);
  Tensor u = Tensor::rand({20000}, g1);
  for (float v : u.to_vector()) CHECK((v >= 0.f && v < 1.f));
  CHECK(std::abs(mean(u).item() - 0.5f) < 0.01f);
  // State save/restore reproduces the stream exactly (checkpoint resume relies on it).
  Generator g(7);
  g.normal();
  const auto st = g.state();
  const float x1 = g.normal(), x2 = g.uniform();
  Generator h(0);
  h.set_state(st);
  CHECK(h.normal() == x1);
  CHECK(h.uniform() == x2);
  // below(n) is in range and hits every value.
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 700; ++i) hits[g.below(7)]++;
  for (int k : hits) CHECK(k > 50);
}

TEST_CASE("reshape and flatten are views sharing storage; clone is deep") {
  Tensor t = Tensor::arange(24).reshape({2, 3, 4});
  Tensor f = t.flatten(1);
  CHECK(f.shape() == Shape{2, 12});
  CHECK(f.storage() == t.storage());
  f.data()[5] = 100.f;
  CHECK(t.data()[5] == 100.f);
  CHECK(t.reshape({-1, 4}).shape() == Shape{6, 4});
  CHECK_THROWS_WITH_AS(t.reshape({5, 5}), doctest::Contains("(2, 3, 4)"), Error);
  CHECK_THROWS_AS(t.reshape({-1, -1}), Error);
  Tensor c = t.clone();
  c.data()[0] = -1.f;
  CHECK(t.data()[0] == 0.f);
  CHECK(c.storage() != t.storage());
  CHECK(t.to(Device::cpu()).same_as(t));
  Tensor d = t.detach();
  CHECK(d.storage() == t.storage());
  CHECK_FALSE(d.requires_grad());
}

TEST_CASE("printing shows shape, device and a few values") {
  const std::string s = Tensor::arange(10).reshape({2, 5}).str(3);
  CHECK(s.find("(2, 5)") != std::string::npos);
  CHECK(s.find("cpu") != std::string::npos);
  CHECK(s.find("0, 1, 2, ...") != std::string::npos);
  CHECK(Tensor().str() == "Tensor(undefined)");
}

TEST_CASE("devices parse and report backends; CUDA tensors need a CUDA build and device") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("tpu"), Error);
  CHECK(parse_device("cuda:2147483647") == Device::cuda(2147483647));
  CHECK_THROWS_WITH_AS(parse_device("cuda:99999999999"),
                       doctest::Contains("bad device 'cuda:99999999999': device index 99999999999 is out of range"),
                       Error);
  CHECK(backends_summary().find("cpu") != std::string::npos);
  if (cuda_device_count() == 0) {
    MESSAGE("no CUDA device: checking that a CUDA tensor request fails with a clear error");
    CHECK_THROWS_AS(Tensor::zeros({2}, Device::cuda(0)), Error);
  } else {
    Tensor g = Tensor::arange(6).to(Device::cuda(0));
    CHECK(g.device().is_cuda());
    CHECK(g.to(Device::cpu()).to_vector() == Tensor::arange(6).to_vector());
  }
}

TEST_CASE("set_num_threads governs OpenMP and rejects nonsense") {
  const int before = get_num_threads();
  set_num_threads(1);
  CHECK(get_num_threads() == 1);
  set_num_threads(before);
  CHECK(get_num_threads() == before);
  CHECK_THROWS_AS(set_num_threads(0), Error);
}

TEST_CASE("the default generator is per thread: two threads draw the same numbers, without a race") {
  // Before, one process-wide generator: two threads building models with the default arguments
  // drew from it at once (a data race under ThreadSanitizer, weights depending on the interleaving).
  Generator seed0(0), seed7(7);
  const std::vector<float> expected0 = Tensor::randn({4096}, seed0).to_vector();
  const std::vector<float> expected7 = Tensor::randn({4096}, seed7).to_vector();
  std::vector<float> a, b, c;
  std::thread ta([&] { a = Tensor::randn({4096}).to_vector(); });
  std::thread tb([&] {
    b = Tensor::randn({4096}).to_vector();
    manual_seed(7);  // reseeds this thread's default generator only
    c = Tensor::randn({4096}).to_vector();
  });
  ta.join();
  tb.join();
  CHECK(a == expected0);
  CHECK(b == expected0);
  CHECK(c == expected7);
}
