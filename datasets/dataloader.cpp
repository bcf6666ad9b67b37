// DataLoader implementation (see dataloader.h). Workers claim linear batch numbers in order,
// at most `prefetch` ahead of the consumer, and park finished batches in a map the consumer
// drains in order; a batch's content never depends on which worker built it.
#include "datasets/dataloader.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/random.h"

namespace tg::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), opt_(std::move(options)) {
  TG_CHECK(dataset_ != nullptr, "DataLoader: dataset is null");
  dataset_->validate();
  plan_ = ShardPlan{dataset_->size(), opt_.batch_size, opt_.rank, opt_.world_size, opt_.drop_last};
  plan_.check();
  TG_CHECK(opt_.num_workers >= 0, "DataLoader: num_workers must be >= 0, got " << opt_.num_workers);
  TG_CHECK(opt_.prefetch >= 1, "DataLoader: prefetch must be >= 1, got " << opt_.prefetch);
  opt_.prefetch = std::max(opt_.prefetch, opt_.num_workers);
  for (const auto& t : opt_.transforms) TG_CHECK(t != nullptr, "DataLoader: a transform in the list is null");
  norm_ = NormalizeTable(opt_.normalize, dataset_->channels);
}

DataLoader::DataLoader(Dataset dataset, LoaderOptions options)
    : DataLoader(std::make_shared<const Dataset>(std::move(dataset)), std::move(options)) {}

DataLoader::~DataLoader() { stop_workers(); }

std::shared_ptr<const std::vector<int64_t>> DataLoader::order_for(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(order_mutex_);
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  auto order = std::make_shared<const std::vector<int64_t>>(epoch_order(dataset_->size(), opt_.seed, epoch, opt_.shuffle));
  orders_[epoch] = order;
  while (orders_.size() > 2) orders_.erase(orders_.begin());  // keep the newest two epochs
  return order;
}

Batch DataLoader::make_batch(int64_t epoch, int64_t batch) const {
  TG_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch(),
           "DataLoader: batch " << batch << " of epoch " << epoch << " does not exist (" << batches_per_epoch()
                                << " batches per epoch)");
  const Dataset& ds = *dataset_;
  const auto order = order_for(epoch);
  const auto [begin, end] = plan_.batch_range(batch);
  const int64_t B = end - begin, C = ds.channels, H = ds.height, W = ds.width, CHW = C * H * W;

  Batch out;
  out.epoch = epoch;
  out.batch = batch;
  out.images = Tensor::empty({B, C, H, W});
  out.labels = Tensor::empty({B});
  out.indices.assign(order->begin() + begin, order->begin() + end);
  float* images = B > 0 ? out.images.data() : nullptr;  // (B, C, H, W)
  float* labels = B > 0 ? out.labels.data() : nullptr;  // (B)
  std::vector<float> scratch(static_cast<size_t>(CHW));
  const uint64_t epoch_seed = mix_seed(opt_.seed, static_cast<uint64_t>(epoch));
  for (int64_t i = 0; i < B; ++i) {
    const int64_t idx = out.indices[i];
    float* img = images + i * CHW;  // (C, H, W)
    norm_.apply(ds.image(idx), img, C, H * W);
    if (!opt_.transforms.empty()) {
      // This sample's own stream: a function of (seed, epoch, dataset index) only.
      Generator rng(mix_seed(epoch_seed, static_cast<uint64_t>(idx)));
      const SampleContext ctx{opt_.seed, epoch, idx};
      for (const auto& t : opt_.transforms) t->apply(ImageView{img, C, H, W}, rng, ctx, scratch.data());
    }
    labels[i] = static_cast<float>(ds.labels[idx]);
  }
  return out;
}

void DataLoader::set_state(LoaderState s) {
  TG_CHECK(s.epoch >= 0 && s.batch >= 0 && s.batch <= batches_per_epoch(),
           "DataLoader::set_state: position (epoch " << s.epoch << ", batch " << s.batch << ") is invalid; batch must be in [0, "
                                                    << batches_per_epoch() << "]");
  // Workers number batches linearly (epoch * batches_per_epoch + batch) and look `prefetch` ahead;
  // every such number up to the end of the next epoch must fit in int64.
  int64_t last = 0;
  TG_CHECK(!__builtin_add_overflow(s.epoch, 2, &last) && !__builtin_mul_overflow(last, batches_per_epoch(), &last) &&
               !__builtin_add_overflow(last, int64_t{opt_.prefetch}, &last),
           "DataLoader::set_state: epoch " << s.epoch << " is too large: with " << batches_per_epoch()
                                           << " batches per epoch its batch numbers overflow a 64-bit count");
  const bool same = linear(s) == linear(pos_);
  pos_ = s;
  if (!same) stop_workers();  // prefetched batches belong to another position; restart lazily
}

bool DataLoader::next(Batch& out) {
  const int64_t nb = batches_per_epoch();
  if (pos_.batch >= nb) {  // end of epoch: report it once, then move on
    pos_ = {pos_.epoch + 1, 0};
    return false;
  }
  if (opt_.num_workers == 0) {
    out = make_batch(pos_.epoch, pos_.batch);
    ++pos_.batch;
    return true;
  }
  const int64_t s = linear(pos_);
  if (!running_ || consume_ != s) {
    stop_workers();
    start_workers(s);
  }
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_ready_.wait(lock, [&] { return ready_.count(s) > 0; });
    slot = std::move(ready_.at(s));
    ready_.erase(s);
    consume_ = s + 1;
  }
  cv_space_.notify_all();
  if (slot.error) {
    stop_workers();  // the next call rebuilds from this same position
    std::rethrow_exception(slot.error);
  }
  out = std::move(slot.batch);
  ++pos_.batch;
  return true;
}

void DataLoader::start_workers(int64_t from) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = false;
    next_claim_ = from;
    consume_ = from;
    ready_.clear();
  }
  running_ = true;
  for (int w = 0; w < opt_.num_workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_space_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  ready_.clear();  // frees prefetched batches
  running_ = false;
}

void DataLoader::worker_loop() {
  const int64_t nb = batches_per_epoch();
  while (true) {
    int64_t s;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Bounded: built-or-building batches never exceed `prefetch` beyond the consumer.
      cv_space_.wait(lock, [&] { return stop_ || next_claim_ - consume_ < opt_.prefetch; });
      if (stop_) return;
      s = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = make_batch(s / nb, s % nb);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
      ready_.emplace(s, std::move(slot));
    }
    cv_ready_.notify_all();
  }
}

}  // namespace tg::data
