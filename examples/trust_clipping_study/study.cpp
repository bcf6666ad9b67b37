// Grid, per-run statistics, paired comparisons and the study's reports (see study.h).
#include "examples/trust_clipping_study/study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "examples/train/metrics.h"
#include "examples/trust_clipping_study/interval_chart.h"
#include "io/safetensors.h"

namespace tg::study {

namespace fs = std::filesystem;

namespace {

std::string g4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> percent(const std::vector<double>& acc) {
  std::vector<double> out;
  for (double a : acc) out.push_back(100 * a);
  return out;
}

std::string seeds_str(const std::vector<uint64_t>& seeds) {
  std::string s;
  for (uint64_t x : seeds) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

// "bs1000 paper authors" — the column of a configuration in the charts.
std::string column_of(const ConfigSpec& c) { return "bs" + std::to_string(c.batch_size) + " " + c.preset + " " + c.arm.name; }

}  // namespace

double LrArm::lr_for(int64_t batch) const {
  if (from_batch <= 0) return base_lr;
  return base_lr * std::sqrt(static_cast<double>(batch) / static_cast<double>(from_batch));
}

std::string ConfigSpec::pair_key() const {
  return "bs" + std::to_string(batch_size) + "-" + preset + "-" + arm.name;
}

std::string ConfigSpec::name() const {
  return pair_key() + "-" + optimizer + (optimizer == "lambc" ? "-clip" + g4(clip_max) : "");
}

std::string ConfigSpec::label() const { return optimizer == "lambc" ? "LAMBC clip " + g4(clip_max) : "LAMB"; }

std::string RunSpec::name() const { return config.name() + "-s" + std::to_string(seed); }

std::vector<RunSpec> make_grid(const std::vector<int64_t>& batch_sizes, const std::vector<std::string>& presets,
                               const std::vector<LrArm>& arms, const std::vector<double>& clips, bool with_lamb,
                               const std::vector<uint64_t>& seeds) {
  std::vector<RunSpec> grid;
  for (int64_t b : batch_sizes)
    for (const auto& p : presets)
      for (const auto& a : arms) {
        std::vector<ConfigSpec> cells;
        if (with_lamb) cells.push_back({b, p, a, "lamb", std::numeric_limits<double>::infinity()});
        for (double c : clips) cells.push_back({b, p, a, "lambc", c});
        for (const auto& cell : cells)
          for (uint64_t s : seeds) grid.push_back({cell, s});
      }
  // Two cells of one name would train into one run directory at once and be counted twice in the
  // paired statistics (a repeated seed narrows the t-interval for nothing).
  std::set<std::string> names;
  for (const auto& r : grid)
    if (!names.insert(r.name()).second)
      throw std::invalid_argument("the grid holds run '" + r.name() +
                                  "' twice: a batch size, preset, clip or seed is listed twice (or two clips print alike)");
  return grid;
}

const char* kind_name(TensorKind k) {
  switch (k) {
    case TensorKind::kConvWeight: return "conv weight";
    case TensorKind::kBnGamma: return "BN gamma";
    case TensorKind::kBnBeta: return "BN beta";
    case TensorKind::kLinearWeight: return "linear weight";
    case TensorKind::kBias: return "bias";
    case TensorKind::kOther: return "other";
  }
  return "other";
}

std::map<std::string, TensorKind> tensor_kinds(const std::map<std::string, std::vector<int64_t>>& shapes) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::map<std::string, TensorKind> kinds;
  for (const auto& [name, shape] : shapes) {
    TensorKind k = TensorKind::kOther;
    if (ends_with(name, ".weight") || name == "weight") {
      if (shape.size() == 4) k = TensorKind::kConvWeight;
      if (shape.size() == 2) k = TensorKind::kLinearWeight;
      if (shape.size() == 1) k = TensorKind::kBnGamma;
    } else if (ends_with(name, ".bias") || name == "bias") {
      const std::string weight = name.substr(0, name.size() - 4) + "weight";
      auto it = shapes.find(weight);
      k = (it != shapes.end() && it->second.size() == 1) ? TensorKind::kBnBeta : TensorKind::kBias;
    }
    kinds[name] = k;
  }
  return kinds;
}

const char* phase_name(int phase) {
  static const char* names[kNumPhases] = {"early", "middle", "late"};
  return phase >= 0 && phase < kNumPhases ? names[phase] : "?";
}

double RunResult::clipped_pct() const {
  int64_t n = 0, c = 0;
  for (const auto& kind : clips)
    for (const auto& ph : kind) n += ph.records, c += ph.clipped;
  return n ? 100.0 * static_cast<double>(c) / static_cast<double>(n) : 0;
}

bool run_complete(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "summary.json");
  if (!in) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    return j.is_object() && j.contains("steps");
  } catch (const std::exception&) {
    return false;  // cut short mid-write: the run is redone
  }
}

bool mark_same_as_lamb(const std::string& lambc_dir, const std::string& lamb_dir, const RunResult& lamb, double clip_max) {
  if (!lamb.complete || !(lamb.raw_max <= clip_max)) return false;
  fs::create_directories(lambc_dir);
  const nlohmann::json j = {{"lamb_run", fs::absolute(lamb_dir).string()}, {"lamb_raw_ratio_max", lamb.raw_max}, {"clip_max", clip_max}};
  const fs::path tmp = fs::path(lambc_dir) / "same_as_lamb.json.tmp";
  std::ofstream(tmp) << j.dump(2) << "\n";
  fs::rename(tmp, fs::path(lambc_dir) / "same_as_lamb.json");
  return true;
}

namespace {

// Reads a run directory's files; any value of the wrong type or out of range is an error naming
// the file (the train program writes them, so such a value means a damaged or edited file; torn
// lines, as a killed run leaves, are skipped by read_jsonl).
RunResult read_run_files(const fs::path& d, const RunSpec& spec) {
  RunResult r;
  r.spec = spec;
  r.complete = run_complete(d.string());
  fs::path file = d / "summary.json";
  try {
    if (r.complete) {
      std::ifstream in(file);
      const nlohmann::json j = nlohmann::json::parse(in);
      r.steps = j.value("steps", int64_t{0});
      r.seconds = j.value("wall_s", 0.0);
    }
    file = d / "metrics_epochs.jsonl";
    for (const auto& e : train::read_jsonl(file.string())) {
      if (e.contains("train_loss") && e["train_loss"].is_number()) r.final_train_loss = e["train_loss"].get<double>();
      if (e.contains("test_acc") && e["test_acc"].is_number()) {
        r.final_acc = e["test_acc"].get<double>();
        r.best_acc = std::max(r.best_acc, r.final_acc);
      }
    }
    std::map<std::string, TensorKind> kinds;
    file = d / "model.safetensors";
    if (fs::exists(file)) {
      std::map<std::string, std::vector<int64_t>> shapes;
      for (const auto& [name, t] : io::load_safetensors(file.string()).tensors) shapes[name] = t.shape();
      kinds = tensor_kinds(shapes);
    }
    file = d / "trust_ratios.jsonl";
    const auto records = train::read_jsonl(file.string());
    int64_t last_step = 1;
    for (const auto& rec : records) {
      const int64_t step = rec.value("step", int64_t{1});
      if (step < 1) throw std::invalid_argument("a record of step " + std::to_string(step) + " (steps count from 1)");
      last_step = std::max(last_step, step);
    }
    std::vector<double> raw, applied;
    for (const auto& rec : records) {
      if (!rec.contains("raw_ratio") || !rec["raw_ratio"].is_number() || !rec.contains("name")) continue;
      const double rr = rec["raw_ratio"].get<double>(), ar = rec.value("applied_ratio", rr);
      raw.push_back(rr);
      applied.push_back(ar);
      const int64_t step = rec.value("step", int64_t{1});  // in [1, last_step]: phase in [0, kNumPhases)
      const int phase = static_cast<int>((step - 1) * kNumPhases / last_step);
      auto it = kinds.find(rec["name"].get<std::string>());
      const TensorKind kind = it == kinds.end() ? TensorKind::kOther : it->second;
      ClipCounts& cc = r.clips[static_cast<int>(kind)][phase];
      ++cc.records;
      if (rec.value("clipped", false)) {
        ++cc.clipped;
        cc.shrink_sum += rr > 0 ? ar / rr : 1;
      }
    }
    r.raw_median = median_of(raw);
    r.raw_max = raw.empty() ? 0 : *std::max_element(raw.begin(), raw.end());
    r.applied_median = median_of(applied);
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + ": " + e.what());
  }
  return r;
}

}  // namespace

RunResult read_run(const std::string& run_dir, const RunSpec& spec) {
  const fs::path marker = fs::path(run_dir) / "same_as_lamb.json";
  if (!fs::exists(marker)) return read_run_files(run_dir, spec);
  // A LAMBC run not trained: the results are its LAMB twin's, read from the directory it names.
  std::string lamb_run;
  try {
    std::ifstream in(marker);
    lamb_run = nlohmann::json::parse(in).at("lamb_run").get<std::string>();
  } catch (const std::exception& e) {
    throw std::runtime_error(marker.string() + ": " + e.what());
  }
  if (fs::exists(fs::path(lamb_run) / "same_as_lamb.json"))
    throw std::runtime_error(marker.string() + ": names '" + lamb_run + "', itself marked same_as_lamb (a LAMB run never is)");
  RunResult twin = read_run_files(lamb_run, spec);
  twin.same_as_lamb = true;
  return twin;
}

std::vector<ConfigStats> config_stats(const std::vector<RunResult>& results) {
  std::vector<ConfigStats> out;
  for (const auto& r : results) {
    if (!r.complete) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const ConfigStats& s) { return s.config.name() == r.spec.config.name(); });
    if (it == out.end()) {
      ConfigStats fresh;
      fresh.config = r.spec.config;
      out.push_back(fresh);
      it = out.end() - 1;
    }
    it->seeds.push_back(r.spec.seed);
    it->final_acc.push_back(r.final_acc);
    it->best_acc.push_back(r.best_acc);
    it->clipped_pct_mean += (r.clipped_pct() - it->clipped_pct_mean) / static_cast<double>(it->seeds.size());
    it->steps = r.steps;
    it->same_as_lamb += r.same_as_lamb ? 1 : 0;
  }
  return out;
}

std::vector<PairedComparison> paired_comparisons(const std::vector<RunResult>& results) {
  std::vector<PairedComparison> out;
  const std::vector<ConfigStats> stats = config_stats(results);
  for (const auto& c : stats) {
    if (c.config.optimizer != "lambc") continue;
    auto base = std::find_if(stats.begin(), stats.end(), [&](const ConfigStats& s) {
      return s.config.optimizer == "lamb" && s.config.pair_key() == c.config.pair_key();
    });
    if (base == stats.end()) continue;
    std::vector<double> af, ab, bf, bb;  // a = LAMBC, b = LAMB, same seeds in the same order
    PairedComparison p;
    p.lambc = c.config;
    for (size_t i = 0; i < c.seeds.size(); ++i) {
      auto j = std::find(base->seeds.begin(), base->seeds.end(), c.seeds[i]);
      if (j == base->seeds.end()) continue;
      const size_t k = static_cast<size_t>(j - base->seeds.begin());
      p.seeds.push_back(c.seeds[i]);
      af.push_back(100 * c.final_acc[i]), ab.push_back(100 * c.best_acc[i]);
      bf.push_back(100 * base->final_acc[k]), bb.push_back(100 * base->best_acc[k]);
    }
    if (p.seeds.empty()) continue;
    p.final_diff = paired_interval(af, bf);
    p.best_diff = paired_interval(ab, bb);
    out.push_back(p);
  }
  return out;
}

std::string results_markdown(const std::vector<RunResult>& results, const train::TrainConfig& base,
                             const std::string& command, const std::string& machine, double timm_weight_decay) {
  std::ostringstream o;
  o << "# Trust-ratio clipping study: LAMB vs LAMBC, paired seeds\n\n";
  o << "Command (" << machine << "):\n\n```\n" << command << "\n```\n\n";
  o << "Every run: dataset " << base.dataset
    << (base.train_subset ? " (first " + std::to_string(base.train_subset) + " training images)" : " (full training set)")
    << (base.test_subset ? ", first " + std::to_string(base.test_subset) + " test images" : ", full test set") << ", model "
    << base.model << ", " << base.epochs << " epochs, schedule " << base.schedule << ", warmup " << g4(base.warmup_epochs)
    << " epochs, weight decay " << g4(base.weight_decay) << " (paper preset) / " << g4(timm_weight_decay) << " (timm preset)" << (base.reset_each_epoch ? ", optimizer moments reset every epoch" : "")
    << (base.drop_last ? ", last partial batch dropped" : ", last partial batch kept") << ", "
    << (base.accum_steps > 1 ? std::to_string(base.accum_steps) + " accumulated micro-batches" : "real batches (no accumulation)")
    << ". A seed fixes the initial weights and the data order, so LAMB and LAMBC runs with the same seed start from the same "
       "weights and see the same batches.\n\n";

  const auto stats = config_stats(results);
  size_t done = 0;
  for (const auto& r : results) done += r.complete ? 1 : 0;
  o << "Runs complete: " << done << " of " << results.size() << ".\n\n";
  o << "## Accuracy per configuration (mean +- sample sd over seeds)\n\n";
  o << "| batch | preset | lr arm | lr | optimizer | seeds | steps | final test acc % | best test acc % | clipped records % | "
       "seeds = LAMB by construction |\n";
  o << "|---:|---|---|---:|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& s : stats) {
    const auto f = percent(s.final_acc), b = percent(s.best_acc);
    o << "| " << s.config.batch_size << " | " << s.config.preset << " | " << s.config.arm.name << " | "
      << g4(s.config.arm.lr_for(s.config.batch_size)) << " | " << s.config.label() << " | " << seeds_str(s.seeds) << " | " << s.steps
      << " | " << fixed(mean_of(f), 2) << " +- " << fixed(sample_sd(f), 2) << " | " << fixed(mean_of(b), 2) << " +- "
      << fixed(sample_sd(b), 2) << " | " << fixed(s.clipped_pct_mean, 2) << " | "
      << (s.config.optimizer == "lambc" ? std::to_string(s.same_as_lamb) : "") << " |\n";
  }
  o << "\nA LAMBC run counted as LAMB by construction was not trained: its LAMB twin (same batch, preset, lr and seed) "
       "never produced a raw ratio above the clip, so min(r, clip) = r at every step and LAMBC's trajectory is LAMB's, "
       "bit for bit (checked once by training such a run: see the identity check at the end).\n";
  o << "\n## LAMBC minus LAMB, paired by seed (percentage points, 95% t-interval)\n\n";
  o << "A difference whose interval contains 0 is not distinguishable from no effect at this number of seeds. A pair "
       "whose LAMBC runs are all LAMB by construction has a difference of exactly 0.\n\n";
  o << "| batch | preset | lr arm | clip | n | final: mean [95% CI] | best: mean [95% CI] | per-seed final differences |\n";
  o << "|---:|---|---|---:|---:|---|---|---|\n";
  for (const auto& p : paired_comparisons(results)) {
    std::string per;
    for (double d : p.final_diff.diffs) per += (per.empty() ? "" : ", ") + fixed(d, 2);
    o << "| " << p.lambc.batch_size << " | " << p.lambc.preset << " | " << p.lambc.arm.name << " | " << g4(p.lambc.clip_max) << " | "
      << p.final_diff.n << " | " << fixed(p.final_diff.mean, 2) << " [" << fixed(p.final_diff.lo, 2) << ", "
      << fixed(p.final_diff.hi, 2) << "] | " << fixed(p.best_diff.mean, 2) << " [" << fixed(p.best_diff.lo, 2) << ", "
      << fixed(p.best_diff.hi, 2) << "] | " << per << " |\n";
  }
  o << "\n## Where LAMBC clips: share of (tensor, step) records clipped, by tensor kind and phase\n\n";
  o << "Phases are thirds of each run's steps. Shrink = mean applied/raw ratio of the clipped records: the factor by "
       "which clipping cut those tensors' steps.\n\n";
  o << "| batch | preset | lr arm | tensor kind | early % | middle % | late % | shrink |\n|---:|---|---|---|---:|---:|---:|---:|\n";
  for (const auto& s : stats) {
    if (s.config.optimizer != "lambc") continue;
    std::array<std::array<ClipCounts, kNumPhases>, kNumKinds> sum{};
    for (const auto& r : results)
      if (r.complete && r.spec.config.name() == s.config.name())
        for (int k = 0; k < kNumKinds; ++k)
          for (int ph = 0; ph < kNumPhases; ++ph) {
            sum[k][ph].records += r.clips[k][ph].records;
            sum[k][ph].clipped += r.clips[k][ph].clipped;
            sum[k][ph].shrink_sum += r.clips[k][ph].shrink_sum;
          }
    for (int k = 0; k < kNumKinds; ++k) {
      int64_t n = 0, c = 0;
      double shrink = 0;
      for (const auto& ph : sum[k]) n += ph.records, c += ph.clipped, shrink += ph.shrink_sum;
      if (n == 0) continue;
      o << "| " << s.config.batch_size << " | " << s.config.preset << " | " << s.config.arm.name << " | "
        << kind_name(static_cast<TensorKind>(k));
      for (const auto& ph : sum[k])
        o << " | " << (ph.records ? fixed(100.0 * static_cast<double>(ph.clipped) / static_cast<double>(ph.records), 1) : "n/a");
      o << " | " << (c ? fixed(shrink / static_cast<double>(c), 3) : "n/a") << " |\n";
    }
  }
  o << "\nPlots: accuracy.svg (mean +- sd), difference.svg (paired differences, 95% CIs), clipping.svg (clipped share "
       "by tensor kind), shrink.svg (how much clipping cut the steps it touched).\n";
  return o.str();
}

nlohmann::json results_json(const std::vector<RunResult>& results) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json clips = nlohmann::json::object();
    for (int k = 0; k < kNumKinds; ++k)
      for (int ph = 0; ph < kNumPhases; ++ph) {
        const ClipCounts& c = r.clips[k][ph];
        if (c.records)
          clips[std::string(kind_name(static_cast<TensorKind>(k))) + "/" + phase_name(ph)] = {
              {"records", c.records}, {"clipped", c.clipped}, {"shrink_sum", c.shrink_sum}};
      }
    runs.push_back({{"name", r.spec.name()},
                    {"batch_size", r.spec.config.batch_size},
                    {"preset", r.spec.config.preset},
                    {"lr_arm", r.spec.config.arm.name},
                    {"lr", r.spec.config.arm.lr_for(r.spec.config.batch_size)},
                    {"optimizer", r.spec.config.optimizer},
                    {"clip_max", std::isinf(r.spec.config.clip_max) ? nlohmann::json("inf") : nlohmann::json(r.spec.config.clip_max)},
                    {"seed", r.spec.seed},
                    {"complete", r.complete},
                    {"same_as_lamb", r.same_as_lamb},
                    {"final_test_acc", r.final_acc},
                    {"best_test_acc", r.best_acc},
                    {"final_train_loss", r.final_train_loss},
                    {"raw_ratio_median", r.raw_median},
                    {"raw_ratio_max", r.raw_max},
                    {"applied_ratio_median", r.applied_median},
                    {"clipped_pct", r.clipped_pct()},
                    {"clipping", clips},
                    {"steps", r.steps},
                    {"seconds", r.seconds}});
  }
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& p : paired_comparisons(results)) {
    auto interval = [](const PairedInterval& i) {
      return nlohmann::json{{"n", i.n}, {"mean", i.mean}, {"sd", i.sd}, {"ci95_lo", std::isfinite(i.lo) ? nlohmann::json(i.lo) : nlohmann::json()},
                            {"ci95_hi", std::isfinite(i.hi) ? nlohmann::json(i.hi) : nlohmann::json()}, {"diffs", i.diffs}};
    };
    pairs.push_back({{"lambc", p.lambc.name()}, {"seeds", p.seeds}, {"final_diff_pp", interval(p.final_diff)},
                     {"best_diff_pp", interval(p.best_diff)}});
  }
  return {{"runs", runs}, {"paired", pairs}};
}

std::string accuracy_plot_svg(const std::vector<RunResult>& results) {
  std::vector<IntervalPoint> pts;
  for (const auto& s : config_stats(results)) {
    const auto f = percent(s.final_acc);
    const double m = mean_of(f), sd = sample_sd(f);
    pts.push_back({column_of(s.config), s.config.label(), m, m - sd, m + sd, "(n = " + std::to_string(f.size()) + ")"});
  }
  return render_interval_chart({"study-accuracy", "Final test accuracy, mean +- sd over seeds", "test accuracy (%)"}, pts);
}

std::string difference_plot_svg(const std::vector<RunResult>& results) {
  std::vector<IntervalPoint> pts;
  for (const auto& p : paired_comparisons(results))
    pts.push_back({column_of(p.lambc), p.lambc.label() + " - LAMB", p.final_diff.mean, p.final_diff.lo, p.final_diff.hi,
                   "(n = " + std::to_string(p.final_diff.n) + ")"});
  IntervalChartSpec spec{"study-difference", "LAMBC - LAMB final test accuracy, paired by seed, 95% t-interval", "difference (points)"};
  spec.zero_line = true;
  return render_interval_chart(spec, pts);
}

namespace {

// One point per (configuration, tensor kind) of the LAMBC runs: value(kind's counts), no whisker.
std::string kind_chart(const std::vector<RunResult>& results, const IntervalChartSpec& spec,
                       double (*value)(int64_t records, int64_t clipped, double shrink_sum)) {
  std::vector<IntervalPoint> pts;
  for (const auto& s : config_stats(results)) {
    if (s.config.optimizer != "lambc") continue;
    for (int k = 0; k < kNumKinds; ++k) {
      int64_t n = 0, c = 0;
      double shrink = 0;
      for (const auto& r : results)
        if (r.complete && r.spec.config.name() == s.config.name())
          for (const auto& ph : r.clips[k]) n += ph.records, c += ph.clipped, shrink += ph.shrink_sum;
      if (n == 0) continue;
      const double v = value(n, c, shrink);
      const double nan = std::numeric_limits<double>::quiet_NaN();
      pts.push_back({column_of(s.config) + " clip " + g4(s.config.clip_max), kind_name(static_cast<TensorKind>(k)), v, nan, nan, ""});
    }
  }
  return render_interval_chart(spec, pts);
}

}  // namespace

std::string clipping_plot_svg(const std::vector<RunResult>& results) {
  return kind_chart(results, {"study-clipping", "LAMBC: share of (tensor, step) records clipped, by tensor kind", "clipped (%)"},
                    [](int64_t n, int64_t c, double) { return 100.0 * static_cast<double>(c) / static_cast<double>(n); });
}

std::string shrink_plot_svg(const std::vector<RunResult>& results) {
  return kind_chart(results,
                    {"study-shrink", "LAMBC: mean applied/raw trust ratio of clipped records (step-size factor)", "applied / raw"},
                    [](int64_t, int64_t c, double s) {
                      return c ? s / static_cast<double>(c) : std::numeric_limits<double>::quiet_NaN();
                    });
}

}  // namespace tg::study
