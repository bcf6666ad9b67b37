// Epoch permutations, seed mixing and rank sharding (see sampler.h).
#include "datasets/sampler.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/random.h"

namespace tg::data {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t mix_seed(uint64_t a, uint64_t b) { return splitmix64(splitmix64(a) ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2))); }

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  TG_CHECK(n >= 0, "epoch_order: dataset size " << n << " must be >= 0");
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  Generator gen(mix_seed(seed, static_cast<uint64_t>(epoch)));
  // Fisher-Yates: for i = n-1 .. 1, swap order[i] with order[j], j uniform in [0, i].
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i + 1)));
    std::swap(order[i], order[j]);
  }
  return order;
}

void ShardPlan::check() const {
  TG_CHECK(n >= 0, "ShardPlan: dataset size " << n << " must be >= 0");
  TG_CHECK(batch_size >= 1, "DataLoader: batch_size must be >= 1, got " << batch_size);
  TG_CHECK(world_size >= 1, "DataLoader: world_size must be >= 1, got " << world_size);
  TG_CHECK(rank >= 0 && rank < world_size, "DataLoader: rank " << rank << " is outside [0, world_size=" << world_size << ")");
  global_batch();
}

int64_t ShardPlan::global_batch() const {
  int64_t global = 0;
  TG_CHECK(!__builtin_mul_overflow(batch_size, int64_t{world_size}, &global),
           "DataLoader: batch_size " << batch_size << " times world_size " << world_size
                                     << " overflows a 64-bit sample count");
  return global;
}

int64_t ShardPlan::batches_per_epoch() const {
  const int64_t global = global_batch();
  // ceil(n / global) without forming n + global - 1, which overflows for huge batch sizes.
  return drop_last ? n / global : n / global + (n % global != 0 ? 1 : 0);
}

int64_t ShardPlan::batch_images(int64_t batch) const {
  const int64_t global = global_batch();
  return std::min(global, n - batch * global);
}

std::pair<int64_t, int64_t> ShardPlan::batch_range(int64_t batch) const {
  const int64_t begin = batch * global_batch();
  const int64_t len = batch_images(batch);  // R, split over the ranks
  return {begin + rank * len / world_size, begin + (rank + 1) * len / world_size};
}

int64_t ShardPlan::samples_per_epoch() const {
  const int64_t nb = batches_per_epoch();
  if (nb == 0) return 0;
  const int64_t full = (nb - 1) * batch_size;  // every batch but the last is full on every rank
  const auto [b, e] = batch_range(nb - 1);
  return full + (e - b);
}

}  // namespace tg::data
