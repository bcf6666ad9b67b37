// The trust-clipping study: LAMB vs LAMBC over a grid of batch sizes x presets x learning-rate
// arms, each configuration trained with the same list of seeds, so LAMBC and LAMB can be compared
// seed by seed (paired: same initial weights, same data order). Per configuration: mean +- sd of
// the final and best test accuracy; per LAMBC/LAMB pair: the paired difference with a 95%
// t-interval; from the telemetry: which tensors are clipped, when, and by how much.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/train/config.h"
#include "examples/trust_clipping_study/stats.h"

namespace tg::study {

// A learning-rate arm: "authors" = the same lr at every batch size (the LAMBC authors' 0.01);
// "sqrt" = base_lr * sqrt(batch / from_batch), the square-root scaling rule from a small batch.
struct LrArm {
  std::string name = "authors";
  double base_lr = 0.01;
  int64_t from_batch = 0;  // 0 for the constant arm
  double lr_for(int64_t batch) const;
};

// One configuration (every cell of the grid but the seed).
struct ConfigSpec {
  int64_t batch_size = 1000;
  std::string preset = "paper";  // paper | timm
  LrArm arm;
  std::string optimizer = "lambc";  // lamb | lambc
  double clip_max = 1.0;            // +inf for LAMB
  std::string name() const;         // "bs1000-paper-authors-lambc-clip1"
  std::string pair_key() const;     // the name without the optimizer: LAMB and LAMBC runs that pair up
  std::string label() const;        // "LAMBC clip 1" / "LAMB"
};

struct RunSpec {
  ConfigSpec config;
  uint64_t seed = 0;
  std::string name() const;  // config name + "-s<seed>"
};

// The grid: batch x preset x arm x (LAMB when with_lamb, LAMBC per clip) x seed, seeds innermost.
std::vector<RunSpec> make_grid(const std::vector<int64_t>& batch_sizes, const std::vector<std::string>& presets,
                               const std::vector<LrArm>& arms, const std::vector<double>& clips, bool with_lamb,
                               const std::vector<uint64_t>& seeds);

// Parameter kinds, told apart by shape (read from the run's model.safetensors): a 4-D weight is a
// conv weight, 2-D a linear weight, 1-D "<m>.weight" a BatchNorm gamma and "<m>.bias" next to it a
// BatchNorm beta; any other bias is a (conv/linear) bias.
enum class TensorKind { kConvWeight, kBnGamma, kBnBeta, kLinearWeight, kBias, kOther };
inline constexpr int kNumKinds = 6;
const char* kind_name(TensorKind k);
std::map<std::string, TensorKind> tensor_kinds(const std::map<std::string, std::vector<int64_t>>& shapes);

// Training is cut into three phases by step: early (first third), middle, late.
inline constexpr int kNumPhases = 3;
const char* phase_name(int phase);

struct ClipCounts {
  int64_t records = 0, clipped = 0;
  double shrink_sum = 0;  // sum over clipped records of applied/raw (the step-size factor clipping applied)
};

struct RunResult {
  RunSpec spec;
  bool complete = false;  // summary.json present (the run finished)
  bool same_as_lamb = false;  // a LAMBC run not trained: its LAMB twin never exceeded the clip (see below)
  double final_acc = -1, best_acc = -1, final_train_loss = -1;
  double raw_median = 0, raw_max = 0, applied_median = 0;
  int64_t steps = 0;
  double seconds = 0;
  std::array<std::array<ClipCounts, kNumPhases>, kNumKinds> clips{};  // [kind][phase]
  double clipped_pct() const;  // over every record, %
};

// True when the run finished: its summary.json exists and parses.
bool run_complete(const std::string& run_dir);
// Reads a run directory (summary.json, metrics_epochs.jsonl, trust_ratios.jsonl, model.safetensors).
RunResult read_run(const std::string& run_dir, const RunSpec& spec);

// LAMBC follows LAMB's trajectory exactly when no raw ratio along LAMB's run exceeds the clip
// (by induction over the steps: min(r, clip) = r at every step, so every update is LAMB's). Such a
// LAMBC run is not trained: `mark_same_as_lamb` writes <lambc_dir>/same_as_lamb.json naming the
// LAMB run and its largest raw ratio, and read_run then returns the LAMB run's results for it.
// True (and marked) when `lamb` is complete with raw_max <= clip_max.
bool mark_same_as_lamb(const std::string& lambc_dir, const std::string& lamb_dir, const RunResult& lamb, double clip_max);

// Per configuration: the seeds' accuracies.
struct ConfigStats {
  ConfigSpec config;
  std::vector<uint64_t> seeds;
  std::vector<double> final_acc, best_acc;
  double clipped_pct_mean = 0;
  int64_t steps = 0;
  int same_as_lamb = 0;  // seeds whose LAMBC run is LAMB's by construction
};
std::vector<ConfigStats> config_stats(const std::vector<RunResult>& results);

// LAMBC (one clip) against LAMB of the same batch, preset and arm, over the seeds both completed.
struct PairedComparison {
  ConfigSpec lambc;
  PairedInterval final_diff, best_diff;  // LAMBC - LAMB, accuracy in percentage points
  std::vector<uint64_t> seeds;
};
std::vector<PairedComparison> paired_comparisons(const std::vector<RunResult>& results);

// Reports.
std::string results_markdown(const std::vector<RunResult>& results, const train::TrainConfig& base,
                             const std::string& command, const std::string& machine, double timm_weight_decay = 0.01);
nlohmann::json results_json(const std::vector<RunResult>& results);
std::string accuracy_plot_svg(const std::vector<RunResult>& results);     // mean +- sd per configuration
std::string difference_plot_svg(const std::vector<RunResult>& results);   // paired differences with 95% CIs
std::string clipping_plot_svg(const std::vector<RunResult>& results);     // clipped share by tensor kind and phase
std::string shrink_plot_svg(const std::vector<RunResult>& results);       // mean step-size factor of clipped records

}  // namespace tg::study
