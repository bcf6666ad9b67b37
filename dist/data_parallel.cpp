// DataParallel: bucketed, overlapped gradient averaging (see data_parallel.h for the protocol).
#include "dist/data_parallel.h"

#include <cstdio>

#include "dist/sharded_optimizer.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace tg::dist {

namespace {

std::string mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

}  // namespace

int64_t layout_fingerprint(const NamedTensors& tensors) {
  std::string layout;  // "name\0ndim shape... trainable;" per tensor: "ab","c" differs from "a","bc"
  for (const auto& [name, t] : tensors) {
    layout.append(name).push_back('\0');
    layout += std::to_string(t.dim());
    for (int64_t d : t.shape()) layout.append(1, ' ').append(std::to_string(d));
    layout += t.requires_grad() ? " 1;" : " 0;";
  }
  return fingerprint(layout);
}

DataParallel::DataParallel(ProcessGroup& group, nn::Module& model, DataParallelOptions options) : group_(group) {
  TG_CHECK(options.bucket_bytes > 0, "DataParallel: bucket_bytes must be > 0, got " << options.bucket_bytes);
  all_params_ = model.named_parameters();
  for (auto& [name, t] : all_params_) {
    if (t.requires_grad()) params_.emplace_back(name, t);
  }
  buffers_ = model.named_buffers();
  TG_CHECK(!params_.empty(), "DataParallel: the model has no parameter that requires grad");
  device_ = params_.front().second.device();
  for (const auto& [name, t] : params_) {
    TG_CHECK(t.device() == device_, "DataParallel: parameter '" << name << "' is on " << t.device().str()
                                                                  << " but '" << params_.front().first << "' is on "
                                                                  << device_.str()
                                                                  << "; move the whole model with module.to(device) first");
  }
  TG_CHECK(device_.is_cpu() || nccl_built(),
           "DataParallel: the parameters are on " << device_.str()
                                                  << ", and averaging CUDA gradients needs NCCL, which this build does "
                                                     "not have (configure with -DTRUSTGRAD_CUDA=ON)");
  int64_t total = 0;
  for (const auto& p : params_) total += p.second.numel();
  group_.check_same(static_cast<int64_t>(params_.size()), "the number of trainable parameters");
  group_.check_same(total, "the number of trainable parameter elements");
  // Frozen parameters and buffers too: all of them are broadcast below, so their shapes must agree.
  group_.check_same(layout_fingerprint(all_params_),
                    "the parameter names, shapes and requires_grad flags (model architecture)");
  group_.check_same(static_cast<int64_t>(buffers_.size()), "the number of buffers");
  group_.check_same(layout_fingerprint(buffers_), "the buffer names and shapes");

  // Buckets in reverse registration order: the last layers' gradients are ready first.
  bucket_of_.assign(params_.size(), 0);
  const int64_t max_elems = std::max<int64_t>(options.bucket_bytes / static_cast<int64_t>(sizeof(float)), 1);
  int64_t filled = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const int64_t n = params_[k].second.numel();
    if (buckets_.empty() || filled >= max_elems) {
      buckets_.emplace_back();
      filled = 0;
    }
    Bucket& b = buckets_.back();
    b.params.push_back(k);
    b.offsets.push_back(filled);
    filled += n;
    bucket_of_[k] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) {
    const size_t last = b.params.back();
    b.flags_offset = b.offsets.back() + params_[last].second.numel();
    b.flat = Tensor::empty({b.flags_offset + static_cast<int64_t>(b.params.size())}, device_);
  }
  ready_.assign(params_.size(), 0);
  reset_buckets();
  for (size_t k = 0; k < params_.size(); ++k) {
    params_[k].second.set_post_accumulate_grad_hook([this, k] { on_grad_ready(k); });
  }
  if (options.broadcast_at_start) {
    broadcast_parameters(0);
    sync_buffers(BufferSync::kBroadcast);
  }
}

DataParallel::~DataParallel() {
  for (auto& p : params_) p.second.set_post_accumulate_grad_hook(nullptr);
}

std::vector<std::vector<size_t>> DataParallel::bucket_layout() const {
  std::vector<std::vector<size_t>> out;
  for (const Bucket& b : buckets_) out.push_back(b.params);
  return out;
}

void DataParallel::set_sync(bool enabled) { sync_ = enabled; }

void DataParallel::broadcast_parameters(int root) {
  NoGradGuard no_grad;
  // Every parameter, frozen ones too (as PyTorch's DDP): a frozen layer initialised per rank would
  // otherwise differ between the ranks for the whole run, and no gradient ever shows it.
  for (auto& [name, t] : all_params_) {
    if (t.device().is_cpu()) {
      group_.broadcast(t.data(), t.numel(), root, "broadcast of parameter '" + name + "'");
      t.bump_version();  // written in place, as the tensor collectives count it
    } else {
      group_.broadcast(t, root);  // through NCCL
    }
  }
}

void DataParallel::sync_buffers(BufferSync mode) {
  for (auto& [name, t] : buffers_) {
    if (t.numel() == 0) continue;
    if (!t.device().is_cpu()) {  // through NCCL
      if (mode == BufferSync::kBroadcast) {
        group_.broadcast(t, 0);
      } else {
        group_.all_reduce(t, ReduceOp::kAverage);
      }
      continue;
    }
    if (mode == BufferSync::kBroadcast) {
      group_.broadcast(t.data(), t.numel(), 0, "broadcast of buffer '" + name + "'");
    } else {
      group_.all_reduce(t.data(), t.numel(), ReduceOp::kAverage, "average of buffer '" + name + "'");
    }
    t.bump_version();
  }
}

void DataParallel::reset_buckets() {
  std::fill(ready_.begin(), ready_.end(), 0);
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.launched = false;
    b.work = Work{};
  }
  next_launch_ = 0;
}

void DataParallel::progress() {
  for (size_t i = 0; i < next_launch_; ++i) {
    if (buckets_[i].work.request) buckets_[i].work.test();
  }
}

void DataParallel::on_grad_ready(size_t param) {
  // Under no_sync() after a synchronising backward (before synchronize()), the new gradient would
  // be accumulated into .grad after its bucket copied it, and synchronize() would overwrite it with
  // the average of the older one: that micro-batch would be lost without a word.
  TG_CHECK(sync_ || !ready_[param],
           "DataParallel: a backward under no_sync() reached '"
               << params_[param].first << "' after a synchronising backward already started its all-reduce, "
               << "and before synchronize(); its gradient would be lost. Run the non-final micro-batches under "
                  "no_sync() first and the last one without it, then synchronize()");
  if (!sync_) return;
  TG_CHECK(!ready_[param], "DataParallel: the gradient of '" << params_[param].first
                                                             << "' became ready twice before synchronize(); wrap the "
                                                                "backward of non-final accumulation micro-batches in no_sync()");
  ready_[param] = 1;
  --buckets_[bucket_of_[param]].pending;
  launch_ready_buckets();
  progress();  // MPI progresses non-blocking collectives inside its calls
}

void DataParallel::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    launch(buckets_[next_launch_], next_launch_);
    ++next_launch_;
  }
}

void DataParallel::launch(Bucket& b, size_t index) {
  // Pack: flat[offset_k : offset_k + numel_k] = grad_k (zeros where a parameter got no gradient),
  // flat[flags_offset + j] = 1 where it has one.
  NoGradGuard no_grad;
  for (size_t j = 0; j < b.params.size(); ++j) {
    const Tensor& p = params_[b.params[j]].second;
    const Tensor g = p.grad();
    const Tensor dst = flat_slice(b.flat, b.offsets[j], p.numel());  // a view, on the bucket's device
    if (g.defined()) {
      dst.copy_(g.reshape({p.numel()}));  // memcpy on the CPU, a device copy on a GPU
    } else {
      dst.fill_(0.0f);
    }
    flat_slice(b.flat, b.flags_offset + static_cast<int64_t>(j), 1).fill_(g.defined() ? 1.0f : 0.0f);
  }
  b.launched = true;
  b.work = group_.all_reduce_async(b.flat, "gradient all-reduce of bucket " + std::to_string(index) + " of " +
                                               std::to_string(buckets_.size()) + " (" +
                                               std::to_string(b.params.size()) + " tensors, " +
                                               mib(b.flat.numel() * 4) + ", first '" +
                                               params_[b.params.front()].first + "')");
}

void DataParallel::synchronize() {
  if (!sync_) return;
  // Parameters no gradient reached in this backward: start their buckets now, in order.
  for (Bucket& b : buckets_) b.pending = 0;
  launch_ready_buckets();
  const float inv = 1.0f / static_cast<float>(group_.world_size());
  NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    if (b.work.test()) ++done_before_wait_;
    group_.wait(b.work);
    ++buckets_waited_;
    wait_seconds_ += b.work.seconds_waited;
    // Unpack: grad_k = flat[offset_k : ...] / world_size, where some rank had a gradient.
    const int64_t count = static_cast<int64_t>(b.params.size());
    const std::vector<float> ranks_with_grad = flat_slice(b.flat, b.flags_offset, count).to_vector();
    for (size_t j = 0; j < b.params.size(); ++j) {
      if (ranks_with_grad[j] == 0.0f) continue;  // no rank has one: it stays without (undefined here too)
      const Tensor& p = params_[b.params[j]].second;
      Tensor g = p.grad();
      if (!g.defined()) {
        g = Tensor::empty(p.shape(), device_);
        p.set_grad(g);
      }
      if (device_.is_cpu()) {
        float* dst = g.data();
        const float* src = b.flat.data() + b.offsets[j];
        for (int64_t e = 0; e < p.numel(); ++e) dst[e] = src[e] * inv;
      } else {
        g.copy_(mul(flat_slice(b.flat, b.offsets[j], p.numel()), inv).reshape(p.shape()));
      }
    }
  }
  reset_buckets();
}

}  // namespace tg::dist
