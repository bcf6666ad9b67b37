// DataLoader: turns a Dataset into a stream of NCHW float batches — seeded per-epoch shuffling,
// rank sharding, per-channel normalisation, composable augmentation, background prefetch with
// bounded memory — where batch (epoch, b) is a pure function of (seed, options, epoch, b), so
// results do not depend on the worker count and training can resume mid-epoch exactly.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sampler.h"
#include "datasets/transforms.h"
#include "engine/tensor.h"

namespace tg::data {

struct Batch {
  Tensor images;                 // (B, C, H, W) float32, normalised and augmented
  Tensor labels;                 // (B) float class indices (what tg::cross_entropy takes)
  std::vector<int64_t> indices;  // (B) dataset index of each sample
  int64_t epoch = 0;
  int64_t batch = 0;             // index within the epoch
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// Where the loader stands: the next batch next() will deliver. Save it in checkpoints;
// set_state() on a loader with the same dataset, seed and options resumes exactly there.
struct LoaderState {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderState& o) const { return epoch == o.epoch && batch == o.batch; }
};

struct LoaderOptions {
  int64_t batch_size = 128;     // per rank
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int rank = 0;                 // sharding for data-parallel training
  int world_size = 1;
  int num_workers = 1;          // background threads; 0 = build each batch inside next()
  int prefetch = 4;             // at most this many batches built ahead (raised to num_workers)
  ChannelStats normalize;       // x = (pixel/255 - mean) / std; empty = pixel/255
  TransformList transforms;     // applied in order, after normalisation
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  DataLoader(Dataset dataset, LoaderOptions options);
  ~DataLoader();  // stops and joins the workers (also during stack unwinding)
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Fills `out` with the next batch of the current epoch and returns true; at the end of the
  // epoch returns false once and moves to the next epoch. Rethrows a worker's exception.
  //   while (loader.state().epoch < epochs) { Batch b; while (loader.next(b)) step(b); eval(); }
  bool next(Batch& out);

  LoaderState state() const { return pos_; }
  void set_state(LoaderState state);  // batch in [0, batches_per_epoch()]
  void set_epoch(int64_t epoch) { set_state({epoch, 0}); }

  int64_t batches_per_epoch() const { return plan_.batches_per_epoch(); }
  int64_t samples_per_epoch() const { return plan_.samples_per_epoch(); }  // this rank
  // Images of batch `batch` of an epoch over every rank (a kept last partial batch has fewer, and
  // splits them unequally: data-parallel training weights each rank's loss by its share).
  int64_t global_batch_images(int64_t batch) const { return plan_.batch_images(batch); }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return opt_; }

  // Builds batch (epoch, b) on the calling thread; what next() delivers for that position.
  Batch make_batch(int64_t epoch, int64_t batch) const;

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  std::shared_ptr<const std::vector<int64_t>> order_for(int64_t epoch) const;
  int64_t linear(LoaderState s) const { return s.epoch * batches_per_epoch() + s.batch; }
  void start_workers(int64_t from);
  void stop_workers();
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions opt_;
  ShardPlan plan_;
  NormalizeTable norm_;
  LoaderState pos_;

  // Epoch permutation cache (the last two epochs), shared by workers.
  mutable std::mutex order_mutex_;
  mutable std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> orders_;

  // Prefetch pipeline over linear batch numbers s = epoch * batches_per_epoch + batch.
  std::mutex mutex_;
  std::condition_variable cv_space_, cv_ready_;
  std::vector<std::thread> workers_;
  bool running_ = false, stop_ = false;
  int64_t next_claim_ = 0;  // the next s a worker will build
  int64_t consume_ = 0;     // the next s next() will take
  std::map<int64_t, Slot> ready_;
};

}  // namespace tg::data
