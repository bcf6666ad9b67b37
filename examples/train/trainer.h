// Trainer: the training loop of the train program. Builds model, optimizer, schedule and loaders
// from a TrainConfig, runs steps with gradient accumulation, evaluates, logs metrics and trust
// ratios, checkpoints (every N steps, at epoch ends, at the end, on Ctrl-C) and resumes exactly.
#pragma once
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "datasets/dataloader.h"
#include "engine/random.h"
#include "examples/train/checkpoint.h"
#include "examples/train/config.h"
#include "examples/train/distributed.h"
#include "examples/train/divergence.h"
#include "examples/train/metrics.h"
#include "examples/train/output_files.h"
#include "examples/train/progress.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg::train {

// Where a run writes. run_dir empty: no files at all (no metrics, checkpoints or report).
struct RunPaths {
  std::string run_dir;
  std::string checkpoint_dir;  // empty: <run_dir>/checkpoints
};

// Hooks that are not settings of a run (tests and tools).
struct TrainerOptions {
  int64_t stop_at_step = 0;       // > 0: behave as if Ctrl-C arrived after this step
  std::ostream* out = &std::cout; // progress and epoch lines
  bool quiet = false;             // no console output at all
  int64_t fail_write_at = 0;      // test hook: the Nth checked write fails as on a full disk (0 = never)
  dist::ProcessGroup* group = nullptr;  // under mpirun: data-parallel over its ranks (distributed.h)
  std::optional<Device> device;         // overrides config.device (under mpirun: this rank's GPU, rank_device)
};

struct EvalResult {
  double loss = 0, acc = 0;
  int64_t count = 0;
  bool complete = false;  // false when interrupted
};

struct TrainSummary {
  int64_t steps = 0, total_steps = 0;
  int64_t epochs_done = 0;
  double final_test_acc = -1, final_test_loss = -1;  // -1: never evaluated
  double best_test_acc = -1;
  int64_t best_epoch = -1;
  double wall_s = 0;          // this process plus earlier sessions of a resumed run
  double images_per_s = 0;    // training images over training time (evaluation excluded)
  int64_t images_seen = 0;
  bool interrupted = false;
  std::string last_checkpoint;
  int64_t skipped_steps = 0;          // non-finite steps skipped (--on-nonfinite skip)
  std::vector<std::string> warnings;  // divergence warnings, in order
  double comm_wait_share = -1;  // data-parallel runs: share of training time spent waiting for gradients
};

class Trainer {
 public:
  // `c` is resolved and validated by the caller. `splits` are the raw datasets (subsets applied here).
  Trainer(TrainConfig c, data::DatasetSplits splits, RunPaths paths, TrainerOptions options = {});
  ~Trainer();

  // Loads a checkpoint made by a run with the same config (model, optimizer, positions, stats).
  void resume(const LoadedCheckpoint& ckpt);
  // Trains until the end (or a stop request); saves the final checkpoint, metrics and report.
  TrainSummary run();
  EvalResult evaluate();  // on the test set, in eval mode, without gradients

  nn::Module& model() { return *model_; }
  optim::Optimizer& optimizer() { return *optimizer_; }
  const TrainConfig& config() const { return c_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t step() const { return step_; }
  const std::string& run_dir() const { return paths_.run_dir; }

 private:
  TrainSummary run_session();  // run() without the write-error note
  void train_step(const data::Batch& batch);
  // A step whose loss, BN statistics or gradients are not finite: skip it (restoring `buffers`)
  // or stop, per --on-nonfinite. Throws when stopping.
  void on_non_finite_step(const std::string& why, const NamedTensors& buffers);
  // After an update: every parameter must be finite (an update cannot be undone: always stops).
  void check_update_finite() const;
  void flush_logs();
  std::string last_checkpoint_note() const;
  void finish_epoch();
  TrainerState state() const;
  // The running statistics that travel in checkpoints as trainer.stats, each named once here:
  // visit(key, member) for each; state() writes them, resume() reads them back.
  template <class Self, class Visit>
  static void visit_saved_stats(Self& self, Visit&& visit);
  std::string save_checkpoint_now();
  void open_logs(bool resumed);
  void log_step(double step_seconds, int64_t images);
  void write_outputs();  // summary.json, model.safetensors, report.html
  void say(const std::string& line);
  void warn(const std::string& line);  // on the console even with --progress none (then on stderr)

  TrainConfig c_;
  RunPaths paths_;
  TrainerOptions opt_;
  Device device_;
  Generator gen_;
  std::shared_ptr<nn::Module> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<DistributedTraining> dist_;  // under mpirun only
  std::unique_ptr<data::DataLoader> train_loader_, test_loader_;
  std::unique_ptr<CheckpointManager> checkpoints_;
  WriteFaults faults_;
  std::unique_ptr<MetricsLog> step_log_, epoch_log_;
  std::unique_ptr<AppendFile> trust_log_;
  DivergenceMonitor divergence_{0};
  std::unique_ptr<Progress> progress_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, telemetry_interval_ = 1;
  bool resumed_ = false;
  bool warnings_to_stderr_ = false;

  // Training position and running statistics (all saved in checkpoints).
  int64_t step_ = 0;
  double epoch_loss_sum_ = 0, epoch_correct_ = 0;
  int64_t epoch_count_ = 0, epoch_batches_ = 0;
  double best_acc_ = -1, last_acc_ = -1, last_loss_ = -1;
  int64_t best_epoch_ = -1, epochs_done_ = 0, images_seen_ = 0;
  int64_t skipped_steps_ = 0, nonfinite_streak_ = 0;  // non-finite steps: in all, and in a row now
  // images_seen_ minus step_ x global batch at the last resume at another world size (whose epochs
  // may hold another number of images when the last partial batch is dropped); 0 otherwise.
  int64_t images_offset_ = 0;
  // Optimizer steps + skipped steps - trainer step: 0 unless resumed at another world size, whose
  // optimizer count was scaled into the new steps (resume()); checked when a checkpoint is loaded.
  int64_t step_offset_ = 0;
  bool clip_gradients_ = false;  // --max-grad-norm > 0 for an optimizer that does not clip itself
  double train_seconds_ = 0, wall_before_ = 0;  // from earlier sessions of this run
  double session_train_seconds_ = 0, epoch_train_seconds_ = 0;
  std::chrono::steady_clock::time_point session_start_ = std::chrono::steady_clock::now();
  std::string last_checkpoint_;
  // Last step's values for the progress display.
  double last_step_loss_ = 0, last_step_acc_ = 0, last_lr_ = 0;
  double last_grad_norm_ = 0;  // ||G|| of the last step's averaged gradients (NaN when not finite)
  bool last_step_applied_ = true;  // false after a skipped non-finite step
};

}  // namespace tg::train
