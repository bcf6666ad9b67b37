// Grid, per-run statistics and the study's table and plots (see study.h).
#include "examples/trust_clipping_study/study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "examples/train/metrics.h"
#include "examples/train/svg_chart.h"

namespace tg::study {

namespace fs = std::filesystem;

namespace {

std::string clip_str(double c) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", c);
  return buf;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string pct2(double acc) {
  if (acc < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", 100 * acc);
  return buf;
}

std::string g4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// Series of y(result) over batch size, one per label, in first-seen order.
std::vector<train::Series> by_label(const std::vector<RunResult>& results, double (*y)(const RunResult&), bool lambc_only) {
  std::vector<std::string> order;
  std::map<std::string, train::Series> m;
  for (const auto& r : results) {
    if (lambc_only && r.spec.optimizer != "lambc") continue;
    const std::string label = r.spec.label();
    if (!m.count(label)) {
      order.push_back(label);
      m[label].name = label;
      m[label].markers = true;
    }
    m[label].x.push_back(static_cast<double>(r.spec.batch_size));
    m[label].y.push_back(y(r));
  }
  std::vector<train::Series> out;
  for (const auto& l : order) {
    train::Series s = m[l];
    if (l.rfind("LAMB (", 0) == 0) {  // LAMB: black dashed, the baseline
      s.color = "#000000";
      s.dashed = true;
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::string RunSpec::name() const {
  return "bs" + std::to_string(batch_size) + "-" + optimizer + (optimizer == "lambc" ? "-clip" + clip_str(clip_max) : "");
}

std::string RunSpec::label() const { return optimizer == "lambc" ? "LAMBC clip " + clip_str(clip_max) : "LAMB (no clip)"; }

std::vector<RunSpec> make_grid(const std::vector<int64_t>& batch_sizes, const std::vector<double>& clips, bool with_lamb) {
  std::vector<RunSpec> grid;
  for (int64_t b : batch_sizes) {
    if (with_lamb) grid.push_back({b, "lamb", std::numeric_limits<double>::infinity()});
    for (double c : clips) grid.push_back({b, "lambc", c});
  }
  return grid;
}

void read_run_stats(const std::string& run_dir, RunResult& r) {
  const fs::path d(run_dir);
  std::vector<double> raw, applied;
  size_t clipped = 0;
  for (const auto& rec : train::read_jsonl((d / "trust_ratios.jsonl").string())) {
    if (!rec.contains("raw_ratio") || !rec["raw_ratio"].is_number()) continue;
    raw.push_back(rec["raw_ratio"].get<double>());
    applied.push_back(rec.value("applied_ratio", 0.0));
    clipped += rec.value("clipped", false) ? 1 : 0;
  }
  r.raw_median = median_of(raw);
  r.raw_max = raw.empty() ? 0 : *std::max_element(raw.begin(), raw.end());
  r.applied_median = median_of(applied);
  r.clipped_pct = raw.empty() ? 0 : 100.0 * static_cast<double>(clipped) / static_cast<double>(raw.size());
  for (const auto& e : train::read_jsonl((d / "metrics_epochs.jsonl").string())) {
    if (e.contains("train_loss") && e["train_loss"].is_number()) r.final_train_loss = e["train_loss"].get<double>();
    if (e.contains("test_acc") && e["test_acc"].is_number()) {
      r.final_acc = e["test_acc"].get<double>();
      r.best_acc = std::max(r.best_acc, r.final_acc);
    }
  }
}

std::string results_markdown(const std::vector<RunResult>& results, const train::TrainConfig& base,
                             const std::string& command, const std::string& machine) {
  std::ostringstream o;
  o << "# Trust-ratio clipping study: LAMB vs LAMBC\n\n";
  o << "Command (" << machine << "):\n\n```\n" << command << "\n```\n\n";
  o << "Every run: dataset " << base.dataset << (base.train_subset ? " (first " + std::to_string(base.train_subset) + " training images)" : "")
    << ", model " << base.model << ", " << base.epochs << " epochs, lr " << g4(base.lr) << " (schedule " << base.schedule
    << ", warmup " << g4(base.warmup_epochs) << " epochs), preset " << base.preset << ", weight decay " << g4(base.weight_decay)
    << ", seed " << base.seed << (base.reset_each_epoch ? ", optimizer state reset every epoch (as the authors' script)" : "")
    << ". Same initial weights and data order in every run.\n\n";
  o << "Trust-ratio statistics are over every (layer, step) record: r = ||w|| / ||u|| before clipping (raw) "
       "and after (applied); clipped = records where min(r, clip) < r.\n\n";
  o << "| batch | optimizer | steps | final test acc % | best test acc % | final train loss | raw r median | raw r max | "
       "applied r median | clipped % | time s |\n";
  o << "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    o << "| " << r.spec.batch_size << " | " << r.spec.label() << " | " << r.steps << " | " << pct2(r.final_acc) << " | "
      << pct2(r.best_acc) << " | " << g4(r.final_train_loss) << " | " << g4(r.raw_median) << " | " << g4(r.raw_max) << " | "
      << g4(r.applied_median) << " | " << g4(r.clipped_pct) << " | " << g4(r.seconds) << " |\n";
  }
  o << "\nPlots: accuracy_vs_batch.svg (final test accuracy), clipped_vs_batch.svg (share of clipped ratios); "
       "each run's directory holds its own report.html with per-layer trust ratios over time.\n";
  return o.str();
}

std::string accuracy_plot_svg(const std::vector<RunResult>& results) {
  train::ChartSpec spec{"study-accuracy", "Final test accuracy vs batch size: LAMB vs LAMBC clip bounds", "batch size",
                        "test accuracy (%)"};
  return train::render_line_chart(spec, by_label(results, [](const RunResult& r) { return 100 * r.final_acc; }, false));
}

std::string clipped_plot_svg(const std::vector<RunResult>& results) {
  train::ChartSpec spec{"study-clipped", "Share of (layer, step) trust ratios clipped vs batch size", "batch size",
                        "clipped (%)"};
  return train::render_line_chart(spec, by_label(results, [](const RunResult& r) { return r.clipped_pct; }, true));
}

nlohmann::json results_json(const std::vector<RunResult>& results) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : results) {
    a.push_back({{"batch_size", r.spec.batch_size},
                 {"optimizer", r.spec.optimizer},
                 {"clip_max", std::isinf(r.spec.clip_max) ? nlohmann::json("inf") : nlohmann::json(r.spec.clip_max)},
                 {"final_test_acc", r.final_acc},
                 {"best_test_acc", r.best_acc},
                 {"final_train_loss", r.final_train_loss},
                 {"raw_ratio_median", r.raw_median},
                 {"raw_ratio_max", r.raw_max},
                 {"applied_ratio_median", r.applied_median},
                 {"clipped_pct", r.clipped_pct},
                 {"steps", r.steps},
                 {"seconds", r.seconds}});
  }
  return a;
}

}  // namespace tg::study
