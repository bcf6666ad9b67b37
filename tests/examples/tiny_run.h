// The tiny synthetic training run the examples suite trains again and again (8x8 images in 4
// classes, 6 steps per epoch), and comparisons of named tensors bit by bit.
#pragma once
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "engine/parallel.h"
#include "examples/train/trainer.h"
#include "train_test_util.h"

namespace tg::test {

using train::TrainConfig;
using train::TrainerOptions;

inline TrainConfig tiny_config() {
  TrainConfig c;
  c.dataset = "synthetic";  // unknown to standard_channel_stats: statistics are computed
  c.model = "small";
  c.optimizer = "lambc";
  c.batch_size = 16;
  c.accum_steps = 2;        // two micro-batches of 8 per step
  c.epochs = 2;             // 96 / 16 = 6 steps per epoch, 12 in all
  c.lr = 0.01;
  c.warmup_epochs = 0.5;
  c.augment = "crop-flip";  // exercises the per-sample augmentation streams
  c.workers = 1;            // and the prefetch thread
  c.eval_batch_size = 32;
  c.progress = "none";
  c.report = false;
  c.checkpoint_every = 4;
  c.keep_checkpoints = 2;
  c.seed = 7;
  resolve_defaults(c);
  return c;
}

inline data::DatasetSplits tiny_data() {
  data::DatasetSplits s;
  s.train = synthetic_images(96, 8, 4, 1);
  s.test = synthetic_images(32, 8, 4, 2);
  return s;
}

inline TrainerOptions quiet(int64_t stop_at = 0) {
  TrainerOptions o;
  o.stop_at_step = stop_at;
  o.quiet = true;
  return o;
}

// Bitwise equality of two named tensor lists (same names in the same order).
inline void check_bit_identical(const NamedTensors& a, const NamedTensors& b, const std::string& what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(what << ": " << a[i].first);
    REQUIRE(a[i].first == b[i].first);
    REQUIRE(a[i].second.shape() == b[i].second.shape());
    const std::vector<float> x = a[i].second.to_vector(), y = b[i].second.to_vector();
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
  }
}

// Sets the thread count for a scope (bit-exact resume holds for a fixed count).
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(get_num_threads()) { set_num_threads(n); }
  ~ThreadScope() { set_num_threads(saved_); }

 private:
  int saved_;
};

inline NamedTensors optimizer_tensors(const optim::Optimizer& o) {
  NamedTensors out;
  for (auto& [k, t] : o.state_dict().tensors) out.emplace_back(k, t);
  return out;
}

}  // namespace tg::test
