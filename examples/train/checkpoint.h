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
  nn::NamedTensors model;
  optim::StateDict optimizer;
  TrainerState trainer;
  nlohmann::json config;  // the run's config (to_json form)
  std::string run_dir;
};

// "ckpt-00001234.safetensors".
std::string checkpoint_file_name(int64_t step);

// Writes a checkpoint atomically (safetensors' temp file + fsync + rename).
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                     const TrainerState& state, const nlohmann::json& config, const std::string& run_dir);
// Reads and checks the format; throws tg::IOError / tg::Error naming the path.
LoadedCheckpoint load_checkpoint(const std::string& path);

// Checkpoints in `dir` as (step, path), sorted by step; empty when the directory is missing.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);

// A checkpoint file, a directory of checkpoints, or a run directory (its checkpoints/) -> the
// newest checkpoint file. Throws tg::Error saying what was looked at when there is none.
std::string resolve_checkpoint(const std::string& path);

class CheckpointManager {
 public:
  CheckpointManager(std::string dir, int64_t keep);
  // Saves ckpt-<step> (replacing one of the same step) and deletes all but the newest `keep`.
  std::string save(const nn::Module& model, const optim::Optimizer& optimizer, const TrainerState& state,
                   const nlohmann::json& config, const std::string& run_dir);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int64_t keep_;
};

}  // namespace tg::train
