// Sample order and sharding: a seeded per-epoch permutation, cut into global batches of
// batch_size * world_size samples, each split between ranks without overlap or loss.
// Also the seed mixing that gives every (seed, epoch, sample) its own random stream.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace tg::data {

// splitmix64 finaliser: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
uint64_t splitmix64(uint64_t x);
// Order-dependent combination of two 64-bit values into a well-mixed seed.
uint64_t mix_seed(uint64_t a, uint64_t b);

// The dataset indices of one epoch: 0..n-1, or a Fisher-Yates shuffle seeded by mix_seed(seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

// Global batch g covers order[g*B*W, min((g+1)*B*W, n)) (B = batch_size, W = world_size).
// Rank r takes the r-th of W near-equal contiguous parts of it: [begin + r*R/W, begin + (r+1)*R/W)
// with R the global batch's length, so full batches give every rank exactly B samples and a
// final partial one (drop_last = false) gives sizes that differ by at most one (possibly 0).
// Across ranks, each epoch's samples are covered exactly once (minus the dropped tail).
struct ShardPlan {
  int64_t n = 0;
  int64_t batch_size = 1;
  int rank = 0;
  int world_size = 1;
  bool drop_last = false;

  void check() const;                     // throws tg::Error on nonsense values
  int64_t global_batch() const;           // batch_size * world_size; throws tg::Error if it overflows
  int64_t batches_per_epoch() const;      // the same on every rank
  int64_t samples_per_epoch() const;      // on this rank
  std::pair<int64_t, int64_t> batch_range(int64_t batch) const;  // [begin, end) into the epoch order
  // Images of batch `batch` over every rank: the global batch, less in a kept last partial batch.
  int64_t batch_images(int64_t batch) const;
};

}  // namespace tg::data
