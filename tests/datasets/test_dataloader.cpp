// DataLoader: batch layout and values, seeded shuffling, determinism across worker counts,
// sharding without overlap or loss, exact mid-epoch resume, bounded prefetch, clean shutdown
// and exception propagation.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "datasets/dataloader.h"
#include "engine/error.h"
#include "tests/datasets/data_fixtures.h"

using namespace tg;
using namespace tg::data;

namespace {

// N images (3, 8, 8), pixel = test_pixel(i, c, y, x), label i % 5.
std::shared_ptr<const Dataset> synthetic(int64_t n) {
  auto ds = std::make_shared<Dataset>();
  ds->name = "synthetic";
  ds->channels = 3;
  ds->height = 8;
  ds->width = 8;
  ds->class_names = {"a", "b", "c", "d", "e"};
  for (int64_t i = 0; i < n; ++i) {
    ds->labels.push_back(static_cast<int32_t>(i % 5));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) ds->images.push_back(test::test_pixel(i, c, y, x));
  }
  return ds;
}

std::vector<Batch> one_epoch(DataLoader& loader) {
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.indices == b.indices && a.epoch == b.epoch && a.batch == b.batch &&
         a.images.to_vector() == b.images.to_vector() && a.labels.to_vector() == b.labels.to_vector();
}

// Throws for one dataset index; counts samples processed.
class ProbeTransform : public Transform {
 public:
  explicit ProbeTransform(int64_t bad_index = -1) : bad_(bad_index) {}
  void apply(ImageView, Generator&, const SampleContext& ctx, float*) const override {
    ++count;
    if (ctx.index == bad_) throw tg::Error("probe: bad sample " + std::to_string(ctx.index));
  }
  std::string str() const override { return "Probe"; }
  mutable std::atomic<int64_t> count{0};

 private:
  int64_t bad_;
};

}  // namespace

TEST_CASE("dataloader: NCHW float batches, labels as floats, last batch, drop_last") {
  const auto ds = synthetic(10);
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.shuffle = false;
  opt.num_workers = 0;
  DataLoader loader(ds, opt);
  CHECK(loader.batches_per_epoch() == 3);
  const auto batches = one_epoch(loader);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].images.shape() == Shape{4, 3, 8, 8});
  CHECK(batches[0].labels.shape() == Shape{4});
  CHECK(batches[2].images.shape() == Shape{2, 3, 8, 8});
  CHECK(batches[2].indices == std::vector<int64_t>{8, 9});
  const std::vector<float> img = batches[1].images.to_vector();  // samples 4..7
  for (int64_t b = 0; b < 4; ++b) {
    CHECK(batches[1].labels.to_vector()[b] == static_cast<float>((4 + b) % 5));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x)
          REQUIRE(img[((b * 3 + c) * 8 + y) * 8 + x] == static_cast<float>(test::test_pixel(4 + b, c, y, x)) / 255.f);
  }
  CHECK(loader.state() == LoaderState{1, 0});

  opt.drop_last = true;
  DataLoader dropping(ds, opt);
  CHECK(dropping.batches_per_epoch() == 2);
  CHECK(one_epoch(dropping).size() == 2);
  CHECK(dropping.samples_per_epoch() == 8);

  opt.normalize = ChannelStats{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.f}};
  DataLoader norm(ds, opt);
  Batch b;
  REQUIRE(norm.next(b));
  const std::vector<float> v = b.images.to_vector();
  CHECK(v[(1 * 3 + 2) * 64 + 9] == doctest::Approx((test::test_pixel(1, 2, 1, 1) / 255.f - 0.3f) / 2.f));
  CHECK(v[(0 * 3 + 1) * 64 + 0] == doctest::Approx((test::test_pixel(0, 1, 0, 0) / 255.f - 0.2f) / 0.25f));
}

TEST_CASE("dataloader: seeded shuffling is a permutation, new each epoch, reproducible") {
  const auto ds = synthetic(37);
  LoaderOptions opt;
  opt.batch_size = 5;
  opt.seed = 123;
  opt.num_workers = 0;
  DataLoader a(ds, opt), b(ds, opt);
  std::vector<std::vector<int64_t>> orders;
  for (int e = 0; e < 2; ++e) {
    std::vector<int64_t> order;
    for (const auto& batch : one_epoch(a)) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> iota(37);
    for (int i = 0; i < 37; ++i) iota[i] = i;
    CHECK(sorted == iota);
    orders.push_back(order);
  }
  CHECK(orders[0] != orders[1]);
  CHECK(orders[0] != std::vector<int64_t>(orders[0].size()));
  const auto b0 = one_epoch(b);
  CHECK(b0[0].indices == std::vector<int64_t>(orders[0].begin(), orders[0].begin() + 5));
  opt.seed = 124;
  DataLoader c(ds, opt);
  CHECK(one_epoch(c)[0].indices != b0[0].indices);
}

TEST_CASE("dataloader: identical batches for 0, 1 and 3 workers, with augmentation") {
  const auto ds = synthetic(45);
  LoaderOptions opt;
  opt.batch_size = 8;
  opt.seed = 9;
  opt.normalize = ChannelStats{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
  opt.transforms = standard_augmentation(2, PadMode::Reflect, 3);
  opt.transforms.push_back(std::make_shared<AlternatingFlip>());
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    opt.num_workers = workers;
    DataLoader loader(ds, opt);
    std::vector<Batch> all;
    for (int e = 0; e < 2; ++e)
      for (auto& b : one_epoch(loader)) all.push_back(std::move(b));
    runs.push_back(std::move(all));
  }
  REQUIRE(runs[0].size() == 12);
  for (size_t r = 1; r < runs.size(); ++r)
    for (size_t i = 0; i < runs[0].size(); ++i) CHECK(same_batch(runs[0][i], runs[r][i]));
  // Augmentation really acts: the same sample differs between the two epochs.
  CHECK(runs[0][0].images.to_vector() != runs[0][6].images.to_vector());
}

TEST_CASE("dataloader: sharding covers every sample exactly once, equal batch counts per rank") {
  const auto ds = synthetic(50);
  for (bool drop_last : {false, true}) {
    std::multiset<int64_t> seen;
    std::set<int64_t> batch_counts;
    for (int rank = 0; rank < 3; ++rank) {
      LoaderOptions opt;
      opt.batch_size = 4;
      opt.seed = 5;
      opt.rank = rank;
      opt.world_size = 3;
      opt.drop_last = drop_last;
      opt.num_workers = 1;
      DataLoader loader(ds, opt);
      const auto batches = one_epoch(loader);
      batch_counts.insert(static_cast<int64_t>(batches.size()));
      int64_t n = 0;
      for (const auto& b : batches) {
        seen.insert(b.indices.begin(), b.indices.end());
        n += b.size();
        if (&b != &batches.back() || drop_last) CHECK(b.size() == 4);
      }
      CHECK(n == loader.samples_per_epoch());
      // Each batch's images over all ranks: 12 per full batch, 2 in the kept tail (50 = 4 x 12 + 2).
      CHECK(loader.global_batch_images(0) == 12);
      if (!drop_last) CHECK(loader.global_batch_images(4) == 2);
    }
    CHECK(batch_counts.size() == 1);  // lockstep: every rank has the same number of steps
    std::set<int64_t> unique(seen.begin(), seen.end());
    CHECK(unique.size() == seen.size());  // no overlap
    CHECK(seen.size() == (drop_last ? 48u : 50u));  // no loss (drop_last drops only the 2-sample tail)
  }
  LoaderOptions bad;
  bad.rank = 2;
  bad.world_size = 2;
  CHECK_THROWS_AS(DataLoader(synthetic(4), bad), tg::Error);
}

TEST_CASE("dataloader: resuming from a saved state reproduces the rest of the run exactly") {
  const auto ds = synthetic(30);
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.seed = 77;
  opt.num_workers = 2;
  opt.transforms = standard_augmentation(2, PadMode::Zero);
  DataLoader a(ds, opt);
  one_epoch(a);
  Batch b;
  for (int i = 0; i < 3; ++i) REQUIRE(a.next(b));
  const LoaderState saved = a.state();
  CHECK(saved == LoaderState{1, 3});
  std::vector<Batch> rest_a;
  while (a.next(b)) rest_a.push_back(b);
  for (auto& x : one_epoch(a)) rest_a.push_back(std::move(x));

  opt.num_workers = 1;  // a different worker count after the restart changes nothing
  DataLoader r(ds, opt);
  r.set_state(saved);
  std::vector<Batch> rest_r;
  while (r.next(b)) rest_r.push_back(b);
  for (auto& x : one_epoch(r)) rest_r.push_back(std::move(x));
  REQUIRE(rest_r.size() == rest_a.size());
  for (size_t i = 0; i < rest_a.size(); ++i) CHECK(same_batch(rest_a[i], rest_r[i]));
  CHECK(r.state() == LoaderState{3, 0});
  CHECK(same_batch(a.make_batch(1, 4), rest_r[1]));  // rest starts at batch 3
  CHECK_THROWS_AS(r.set_state({0, 99}), tg::Error);
}

TEST_CASE("dataloader: prefetch is bounded, early stop and consumer exceptions shut down cleanly") {
  const auto ds = synthetic(200);
  auto probe = std::make_shared<ProbeTransform>();
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.num_workers = 2;
  opt.prefetch = 3;
  opt.transforms = {probe};
  {
    DataLoader loader(ds, opt);
    Batch b;
    REQUIRE(loader.next(b));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // One batch consumed + at most `prefetch` built ahead.
    CHECK(probe->count.load() <= (1 + 3) * 4);
    CHECK(probe->count.load() >= 1 * 4);
  }  // early stop: destructor joins the workers (a hang here would time the test out)
  try {
    DataLoader loader(ds, opt);
    Batch b;
    while (loader.next(b))
      if (b.batch == 2) throw std::runtime_error("training step failed");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "training step failed");
  }
}

TEST_CASE("dataloader: a worker's exception reaches next(), deterministically, without a hang") {
  const auto ds = synthetic(20);
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.shuffle = false;
  opt.num_workers = 2;
  opt.transforms = {std::make_shared<ProbeTransform>(9)};  // sample 9 lives in batch 2
  DataLoader loader(ds, opt);
  Batch b;
  REQUIRE(loader.next(b));
  REQUIRE(loader.next(b));
  CHECK_THROWS_WITH_AS(loader.next(b), "probe: bad sample 9", tg::Error);
  CHECK(loader.state() == LoaderState{0, 2});
  CHECK_THROWS_AS(loader.next(b), tg::Error);  // retried, same failure
  loader.set_state({0, 3});                      // skip the bad batch
  REQUIRE(loader.next(b));
  CHECK(b.indices == std::vector<int64_t>{12, 13, 14, 15});
}

TEST_CASE("dataloader: fewer samples than one global batch with drop_last gives empty epochs") {
  LoaderOptions opt;
  opt.batch_size = 8;
  opt.drop_last = true;
  DataLoader loader(synthetic(5), opt);
  CHECK(loader.batches_per_epoch() == 0);
  Batch b;
  CHECK_FALSE(loader.next(b));
  CHECK(loader.state() == LoaderState{1, 0});
}

TEST_CASE("dataloader: batch sizes that overflow int64 are refused; one larger than the dataset is one batch") {
  // batch_size * world_size wrapped to 0 (SIGFPE), and n + global - 1 wrapped negative (0 batches).
  LoaderOptions opt;
  opt.num_workers = 0;
  opt.shuffle = false;
  opt.batch_size = int64_t{1} << 62;
  opt.world_size = 4;
  CHECK_THROWS_WITH_AS(DataLoader(synthetic(10), opt),
                       doctest::Contains("batch_size 4611686018427387904 times world_size 4 overflows"), tg::Error);

  opt.batch_size = INT64_MAX;  // not an error: the whole dataset is the one (partial) batch
  opt.world_size = 1;
  DataLoader loader(synthetic(10), opt);
  CHECK(loader.batches_per_epoch() == 1);
  CHECK(loader.samples_per_epoch() == 10);
  Batch b;
  REQUIRE(loader.next(b));
  CHECK(b.size() == 10);
  CHECK_FALSE(loader.next(b));

  // Linear batch numbers epoch * batches_per_epoch + batch overflowed.
  CHECK_THROWS_WITH_AS(loader.set_state({INT64_MAX, 0}),
                       doctest::Contains("epoch 9223372036854775807 is too large"), tg::Error);
  CHECK_THROWS_WITH_AS(epoch_order(-1, 0, 0, true), doctest::Contains("epoch_order: dataset size -1 must be >= 0"), tg::Error);
}
