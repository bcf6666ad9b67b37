// DataParallel: PyTorch-DDP-style gradient synchronisation for an nn::Module over a ProcessGroup.
//  - At construction: every rank checks that it holds the same parameters (count, names, shapes,
//    which are frozen) and buffers, then every parameter (frozen ones too) and buffer is broadcast
//    from rank 0, so all ranks start identical.
//  - Gradients are averaged in buckets of at most bucket_bytes (default 25 MiB), filled in reverse
//    order of registration (the order backward produces them). A post-accumulate-grad hook on each
//    parameter marks it ready; when all of a bucket's parameters are ready its non-blocking
//    all-reduce starts, overlapping the rest of backward. Buckets start strictly in index order,
//    the same on every rank (MPI matches collectives by order).
//  - synchronize() (after backward, before optimizer.step()) starts what is left, waits for every
//    bucket and writes grad = sum over ranks / world size. A parameter that got no gradient on a
//    rank counts as a zero gradient there; one that got none on any rank keeps no gradient (as in
//    PyTorch's DDP), so the optimizer skips it as plain training does (no decay, no momentum step).
//    Each bucket carries, after the gradients, one float per parameter: 1 where this rank has a
//    gradient, summed by the same all-reduce into the number of ranks that have one.
//  - no_sync(): micro-batches of gradient accumulation before the last one only accumulate locally.
//  - sync_buffers(): BatchNorm running statistics made consistent (average or rank 0's) before
//    evaluation and checkpoints.
//  - Devices: the trainable parameters all on one device. CPU buckets go over MPI; CUDA buckets
//    (a flat tensor on the parameters' GPU, one rank per GPU) over NCCL. The CUDA path is
//    UNTESTED ON A GPU so far (it compiles; its test, in a world of one, runs in scripts/gpu_check.sh).
//
//   tg::dist::DataParallel ddp(pg, model);
//   for each micro-batch k of K: { auto guard = ddp.no_sync(k + 1 < K); loss.backward(); }
//   ddp.synchronize(); optimizer.step(); optimizer.zero_grad();
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dist/process_group.h"
#include "nn/module.h"

namespace tg::dist {

struct DataParallelOptions {
  int64_t bucket_bytes = int64_t{25} << 20;  // a bucket closes once it reaches this many bytes
  bool broadcast_at_start = true;           // parameters and buffers from rank 0
};

enum class BufferSync { kAverage, kBroadcast };

class DataParallel {
 public:
  DataParallel(ProcessGroup& group, nn::Module& model, DataParallelOptions options = {});
  ~DataParallel();  // removes the hooks
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Finishes gradient averaging: starts the buckets not yet started, waits for all of them (each
  // wait bounded by the group's timeout, the error naming the bucket) and writes the averages
  // into .grad. A no-op while sync is disabled.
  void synchronize();

  // While disabled, backward() only accumulates into .grad (the hooks do nothing).
  void set_sync(bool enabled);
  bool sync_enabled() const { return sync_; }
  class NoSync {
   public:
    NoSync(DataParallel& ddp, bool active) : ddp_(ddp), previous_(ddp.sync_enabled()) {
      if (active) ddp_.set_sync(false);
    }
    ~NoSync() { ddp_.set_sync(previous_); }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DataParallel& ddp_;
    bool previous_;
  };
  // RAII: no synchronisation while it lives (when active; pass `k + 1 < K` for micro-batch k).
  [[nodiscard]] NoSync no_sync(bool active = true) { return NoSync(*this, active); }

  void sync_buffers(BufferSync mode = BufferSync::kAverage);
  void broadcast_parameters(int root = 0);

  // Seconds synchronize() spent blocked on communication (cumulative), and how many buckets were
  // already complete when it came to wait for them.
  double comm_wait_seconds() const { return wait_seconds_; }
  int64_t buckets_done_before_wait() const { return done_before_wait_; }
  int64_t buckets_waited() const { return buckets_waited_; }
  size_t bucket_count() const { return buckets_.size(); }
  // Parameter indices (into named_parameters()) of each bucket, for tests and logs.
  std::vector<std::vector<size_t>> bucket_layout() const;
  ProcessGroup& group() { return group_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    int64_t flags_offset = 0;    // flat[flags_offset + j]: ranks with a gradient for params[j]
    Tensor flat;                 // concatenated gradients, then the flags
    int pending = 0;             // parameters not yet ready in this backward
    bool launched = false;
    Work work;
  };
  void on_grad_ready(size_t param);
  void launch_ready_buckets();
  void launch(Bucket& b, size_t index);
  void reset_buckets();
  void progress();

  ProcessGroup& group_;
  Device device_ = Device::cpu();  // of the trainable parameters and the buckets
  NamedTensors all_params_;  // every parameter, frozen ones too (broadcast, checked)
  NamedTensors params_;      // those that require grad (bucketed)
  NamedTensors buffers_;
  std::vector<size_t> bucket_of_;  // per parameter
  std::vector<char> ready_;        // per parameter, this backward
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  bool sync_ = true;
  double wait_seconds_ = 0.0;
  int64_t done_before_wait_ = 0, buckets_waited_ = 0;
};

// A 52-bit fingerprint (exact through a double, for ProcessGroup::check_same) of the names, shapes
// and requires_grad flags of `tensors`, in order: the ranks compare their setups with it.
int64_t layout_fingerprint(const NamedTensors& tensors);

}  // namespace tg::dist
