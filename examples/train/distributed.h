// The train program under mpirun (`mpirun -np N train ...`): the model's DataParallel, the
// optional ZeRO-1 optimizer (--shard-optimizer), and the few questions the Trainer asks of a
// data-parallel run (what to step, what to log, what to save). Without a process group the
// Trainer never builds one and runs exactly as a single process always did.
//
// --batch-size is per rank: global batch = batch size x world size (each rank's batch split into
// --accum-steps micro-batches, the non-final ones under no_sync). Rank 0 alone prints and writes
// logs, telemetry, report and checkpoints; collective parts (buffer averaging, the sharded
// state's gather) run on every rank.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/data_parallel.h"
#include "dist/sharded_optimizer.h"
#include "examples/train/config.h"
#include "optim/optimizer.h"

namespace tg::train {

class DistributedTraining {
 public:
  // `full`: the optimizer as a single process builds it (no state until it steps). Collective:
  // parameters and buffers are broadcast from rank 0.
  DistributedTraining(dist::ProcessGroup& group, nn::Module& model, optim::Optimizer& full,
                      std::shared_ptr<const optim::Schedule> schedule, const TrainConfig& c);

  dist::ProcessGroup& group() { return group_; }
  bool sharded() const { return sharded_ != nullptr; }

  dist::DataParallel& ddp() { return ddp_; }  // no_sync for the non-final micro-batches
  // After the last micro-batch's backward: the gradients averaged over the ranks.
  void synchronize() { ddp_.synchronize(); }
  void step(optim::Optimizer& full);
  const optim::Optimizer& stepping(const optim::Optimizer& full) const;  // whose lr and step count apply
  const std::vector<optim::TrustRatioRecord>& trust_ratios(const optim::Optimizer& full) const;
  void reset_state(optim::Optimizer& full);
  // Sums over the ranks (loss sums, correct counts, image counts). Every rank calls it once per
  // step and per evaluation, so it also carries the interrupt marks (interrupt_signalled(), the
  // handler installed with collective = true): when any rank has one, every rank's
  // interrupt_requested() turns true here, at the same step.
  void sum(std::vector<double>& values);

  // Before evaluation and checkpoints: BatchNorm running statistics averaged over the ranks.
  void sync_buffers() { ddp_.sync_buffers(dist::BufferSync::kAverage); }
  // Collective, before a checkpoint: with sharding, `full` receives the gathered (unsharded)
  // state; release_checkpoint_state() drops it again.
  void prepare_checkpoint(optim::Optimizer& full);
  void release_checkpoint_state(optim::Optimizer& full);
  // After `full` loaded a checkpoint's state: hands it to the shards.
  void after_resume(optim::Optimizer& full);

  double comm_wait_seconds() const { return ddp_.comm_wait_seconds(); }
  // "2 ranks (mpi ...), global batch 256 = 2 x 128 (per rank, 2 micro-batches of 64)[, optimizer sharded: ...]"
  std::string describe(int64_t batch_size, int64_t accum_steps) const;

 private:
  dist::ProcessGroup& group_;
  dist::DataParallel ddp_;
  std::unique_ptr<dist::ShardedOptimizer> sharded_;
};

// Collective, before any data-parallel work: every rank must train with the same settings (all of
// config.json but the per-rank ones: run name, log/checkpoint/data dirs, resume path, threads,
// workers, progress, report, log interval) on data of the same size. Otherwise the ranks would take
// different steps and their collectives would mismatch. Throws tg::Error on every rank naming the
// first flag that differs and each rank's value (a hash for text and fractions).
void check_same_settings(dist::ProcessGroup& group, const TrainConfig& c, int64_t train_images, int64_t test_images);

// This rank's device under mpirun. `--device cuda` means one GPU per rank: the GPU of the rank's
// local rank (the ranks on one host take cuda:0, cuda:1, ...), as PyTorch's LOCAL_RANK convention.
// Refused with a ConfigError naming --device: an explicit cuda:N with more than one rank (every rank
// on one GPU; NCCL refuses that), and a local rank without a GPU of its own. CPU, and any device in
// a world of one, unchanged. The CUDA path of data-parallel training is UNTESTED ON A GPU so far.
Device rank_device(const std::string& device, int local_rank, int world_size, int visible_gpus);

// Resuming a checkpoint written by `saved` ranks in a run of `world` ranks (1 = a single process):
// allowed at an epoch boundary (no batch of an unfinished epoch done: `epoch_batches` 0), refused
// with a tg::Error naming both otherwise
// (the rest of that epoch's data order depends on the world size). Returns the note to print
// when the sizes differ, "" when they agree.
std::string check_resume_world_size(int64_t saved, int64_t world, int64_t epoch_batches, int64_t max_steps,
                                    const std::string& path);

}  // namespace tg::train
