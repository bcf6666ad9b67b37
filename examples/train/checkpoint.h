// Training checkpoints: model state_dict + optimizer state (moments, step counters, hence the
// schedule position) + RNG state + data-order position + running statistics + the run's config,
// in ONE safetensors file per checkpoint (atomic write), keeping the last K.
//   tensors:  "model/<state_dict key>", "optim/<param>/<slot>"
//   metadata: "trainer.*" (format, step, loader epoch/batch, rng, stats, config, run_dir),
//             "optim.*" (the optimizer's own state_dict metadata)
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataloader.h"
#include "examples/train/output_files.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg::train {

struct TrainerState {
  int64_t step = 0;                    // optimizer steps completed
  data::LoaderState loader;            // the next batch the training loader delivers
  std::array<uint64_t, 6> rng{};       // the run's Generator (model init; any future random op)
  int threads = 0;                     // thread count of the run (bit-exact resume needs the same)
  nlohmann::json stats = nlohmann::json::object();  // running epoch sums, best accuracy, elapsed time, ...
};

struct LoadedCheckpoint {
  std::string path;
  NamedTensors model;
  optim::StateDict optimizer;
  TrainerState trainer;
  nlohmann::json config;  // the run's config (to_json form)
  std::string run_dir;
};

// "ckpt-00001234.safetensors".
std::string checkpoint_file_name(int64_t step);

// Writes a checkpoint atomically (safetensors' temp file + fsync + rename). Every tensor (model
// parameters, buffers, optimizer state) is checked first: one holding NaN/Inf is a tg::Error naming
// it and its source, and nothing is written (an existing file at `path` stays as it was).
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const TrainerState& state, const nlohmann::json& config, const std::string& run_dir);
// Reads and checks the format, then cross-checks what does not need the run's config: every tensor
// float32 (as written) and finite; counters non-negative; the optimizer's step plus the skipped
// (non-finite) steps equal to the trainer's step. Throws tg::IOError / tg::Error naming the path.
LoadedCheckpoint load_checkpoint(const std::string& path);

// The checks that need the run: the loader position, epochs done and images seen agree with the
// step for `steps_per_epoch` and the global `batch_size` (per-rank batch x ranks), and nothing is
// past the run's end. Without drop_last each epoch's last batch may be short, so images seen is
// between step x batch less one short batch per epoch begun and step x batch. Throws tg::Error.
void check_checkpoint_counters(const LoadedCheckpoint& ck, int64_t steps_per_epoch, int64_t total_steps, int64_t epochs,
                               int64_t batch_size, bool drop_last = true);

// Checkpoints in `dir` as (step, path), sorted by step; empty when the directory is missing.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);

// A checkpoint file, a directory of checkpoints, or a run directory (its checkpoints/) -> the
// newest checkpoint file. Throws tg::Error saying what was looked at when there is none.
std::string resolve_checkpoint(const std::string& path);

class CheckpointManager {
 public:
  // `faults`: test hook counting each save as one write (nullptr: none).
  CheckpointManager(std::string dir, int64_t keep, WriteFaults* faults = nullptr);
  // Saves ckpt-<step> (replacing one of the same step) and deletes all but the newest `keep`.
  std::string save(const nn::Module& model, const optim::Optimizer& optimizer, const TrainerState& state,
                   const nlohmann::json& config, const std::string& run_dir);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int64_t keep_;
  WriteFaults* faults_;
};

}  // namespace tg::train
