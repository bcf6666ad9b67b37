// The trust-clipping study: LAMB vs LAMBC with several clip bounds across large batch sizes, same
// seed, data order and budget for every run (the shape of Fong, Chen & Chen 2020, Fig. "batch size"
// and "clip bound"), summarised as a markdown table and SVG plots.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/train/config.h"

namespace tg::study {

// One cell of the grid.
struct RunSpec {
  int64_t batch_size = 1000;
  std::string optimizer = "lambc";  // "lamb" or "lambc"
  double clip_max = 1.0;            // +inf for LAMB
  std::string name() const;         // "bs1000-lambc-clip3" / "bs1000-lamb"
  std::string label() const;        // "LAMBC clip 3" / "LAMB (no clip)"
};

struct RunResult {
  RunSpec spec;
  double final_acc = -1, best_acc = -1, final_train_loss = -1;
  double raw_median = 0, raw_max = 0, applied_median = 0;  // over every (layer, step) record
  double clipped_pct = 0;                                  // records whose ratio was clipped, %
  int64_t steps = 0;
  double seconds = 0;
};

// The grid: for each batch size, LAMB (when with_lamb) then LAMBC for each clip bound.
std::vector<RunSpec> make_grid(const std::vector<int64_t>& batch_sizes, const std::vector<double>& clips, bool with_lamb);

// Fills the trust-ratio statistics and accuracies of `r` from the run directory's files.
void read_run_stats(const std::string& run_dir, RunResult& r);

// Markdown: the settings, the exact command, and one table row per run.
std::string results_markdown(const std::vector<RunResult>& results, const train::TrainConfig& base,
                             const std::string& command, const std::string& machine);
// Final test accuracy vs batch size, one line per optimizer setting.
std::string accuracy_plot_svg(const std::vector<RunResult>& results);
// Fraction of clipped (layer, step) ratios vs batch size, one line per LAMBC bound.
std::string clipped_plot_svg(const std::vector<RunResult>& results);

nlohmann::json results_json(const std::vector<RunResult>& results);

}  // namespace tg::study
