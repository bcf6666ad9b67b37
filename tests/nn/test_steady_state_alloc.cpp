// A steady-state training step takes every large buffer from the host block cache: after a few
// warm-up steps, more steps request no new memory from the OS (engine/cpu_allocator.h).
#include <doctest/doctest.h>

#include "engine/cpu_allocator.h"
#include "engine/ops.h"
#include "nn/models/factory.h"
#include "optim/sgd.h"

TEST_CASE("steady-state training steps allocate no new large blocks") {
  const size_t saved_limit = tg::host_cache_stats().limit_bytes;
  tg::empty_host_cache();
  tg::set_host_cache_limit(size_t{1} << 30);  // explicit: sanitizer builds default to no caching

  tg::Generator gen(3);
  auto net = tg::nn::make_model("small", 1, 28, 10, gen);
  tg::Tensor x = tg::Tensor::randn({8, 1, 28, 28}, gen);  // activations of 8 x 32 x 28 x 28: 800 KB, cached size
  tg::Tensor y = tg::Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7}, {8});
  tg::optim::SgdOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  tg::optim::Sgd opt(net->named_parameters(), so);
  net->train();
  std::vector<float> losses;
  auto step = [&] {
    opt.zero_grad();
    tg::Tensor loss = tg::cross_entropy((*net)(x), y);
    losses.push_back(loss.item());
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up: the cache fills with the step's block sizes
  const tg::HostCacheStats warm = tg::host_cache_stats();
  for (int i = 0; i < 3; ++i) step();
  const tg::HostCacheStats after = tg::host_cache_stats();
  CHECK(after.misses == warm.misses);    // no large block came from the OS
  CHECK(after.hits > warm.hits + 10);    // ... because they came from the cache
  CHECK(losses.back() < losses.front());  // and the steps still train

  tg::empty_host_cache();
  tg::set_host_cache_limit(saved_limit);
}
