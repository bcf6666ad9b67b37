// trust_clipping_study: LAMB vs LAMBC, paired seeds, over batch sizes x presets x learning-rate
// arms (the authors' constant lr and a square-root-scaled one). Runs the grid as parallel
// single-thread child processes, each resumable from its last checkpoint; a rerun skips finished
// runs. Writes <out>/results.md, results.json, accuracy.svg, difference.svg, clipping.svg,
// shrink.svg, report.html (all of it on one page) and one run directory per (configuration, seed).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

#include "datasets/find_data.h"
#include "engine/parallel.h"
#include "examples/train/checkpoint.h"
#include "examples/train/cli.h"
#include "examples/train/trainer.h"
#include "examples/trust_clipping_study/report_page.h"
#include "examples/trust_clipping_study/study.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using namespace tg;

namespace {

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"$\\;&|<>*?()") == std::string::npos && !s.empty()) return s;
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

// The run's config. The timm preset adapts only tensors in groups with weight decay > 0: at the
// authors' wd = 0 no tensor would be adapted and LAMB, LAMBC and Adam coincide, so the timm runs
// take `timm_weight_decay` (timm's default 0.01).
train::TrainConfig config_for(const train::TrainConfig& base, const study::RunSpec& s, double timm_weight_decay) {
  train::TrainConfig c = base;
  if (s.config.preset == "timm") c.weight_decay = timm_weight_decay;
  c.optimizer = s.config.optimizer;
  c.preset = s.config.preset;
  c.clip_max = s.config.clip_max;
  c.batch_size = s.config.batch_size;
  c.lr = s.config.arm.lr_for(s.config.batch_size);
  c.seed = s.seed;
  c.run_name = s.name();
  train::resolve_defaults(c);
  return c;
}

// Trains one run in this process; resumes from the run's newest checkpoint when one exists.
train::TrainSummary train_one(const train::TrainConfig& c, const data::DatasetSplits& splits, const fs::path& dir) {
  train::TrainerOptions o;
  o.quiet = true;
  const auto ckpts = train::list_checkpoints((dir / "checkpoints").string());
  if (ckpts.empty() && fs::exists(dir)) fs::remove_all(dir);  // killed before its first checkpoint: start over
  train::Trainer t(c, splits, train::RunPaths{dir.string(), ""}, o);
  if (!ckpts.empty()) t.resume(train::load_checkpoint(ckpts.back().second));
  return t.run();
}

// Runs the unfinished cells of `grid` as child processes of this program (--only NAME), `jobs` at a
// time: the LAMB runs first, then each LAMBC run unless its LAMB twin shows it would be LAMB's.
void run_children(const std::vector<study::RunSpec>& grid, int jobs, int argc, char** argv, const std::string& out) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string base = shell_quote(self);
  for (int i = 1; i < argc; ++i) base += " " + shell_quote(argv[i]);
  std::atomic<size_t> failed{0}, skipped{0};
  for (const std::string phase : {"lamb", "lambc"}) {
    std::vector<study::RunSpec> todo;
    for (const auto& s : grid) {
      const fs::path dir = fs::path(out) / s.name();
      if (s.config.optimizer != phase || study::run_complete(dir.string()) || fs::exists(dir / "same_as_lamb.json")) continue;
      if (phase == "lambc") {
        study::RunSpec twin = s;
        twin.config.optimizer = "lamb";
        twin.config.clip_max = std::numeric_limits<double>::infinity();
        const fs::path twin_dir = fs::path(out) / twin.name();
        if (study::mark_same_as_lamb(dir.string(), twin_dir.string(), study::read_run(twin_dir.string(), twin), s.config.clip_max)) {
          ++skipped;
          continue;
        }
      }
      todo.push_back(s);
    }
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int j = 0; j < jobs; ++j) {
      pool.emplace_back([&] {
        for (size_t i = next++; i < todo.size(); i = next++) {
          const std::string name = todo[i].name();
          const std::string cmd = base + " --jobs 1 --only " + name + " > " + shell_quote(out + "/" + name + ".log") + " 2>&1";
          const int rc = std::system(cmd.c_str());
          if (rc != 0) ++failed;
          std::printf("[%s %zu/%zu] %s %s\n", phase.c_str(), i + 1, todo.size(), name.c_str(), rc == 0 ? "done" : "FAILED (see its .log)");
          std::fflush(stdout);
        }
      });
    }
    for (auto& t : pool) t.join();
  }
  if (skipped) std::printf("%zu LAMBC run(s) not trained: LAMB by construction (their LAMB twin never exceeded the clip)\n", skipped.load());
  if (failed) std::fprintf(stderr, "trust_clipping_study: %zu run(s) failed; rerun the same command to retry them\n", failed.load());
}

// The claim behind skipping LAMBC runs, checked once by training one: a LAMBC run whose LAMB twin
// never exceeded the clip (one marked same_as_lamb; else LAMBC with clip = 2 x a LAMB run's largest
// raw ratio) must end with LAMB's weights bit for bit. Returns one markdown paragraph.
std::string check_identity(const std::vector<study::RunSpec>& grid, const train::TrainConfig& base, double timm_wd,
                           const data::DatasetSplits& splits, const std::string& out) {
  const study::RunSpec* chosen = nullptr;
  double clip = 0;
  for (const auto& s : grid)  // prefer a run the study skipped: that is the claim it relies on
    if (s.config.optimizer == "lambc" && fs::exists(fs::path(out) / s.name() / "same_as_lamb.json")) {
      chosen = &s;
      clip = s.config.clip_max;
      break;
    }
  for (const auto& s : grid) {
    if (s.config.optimizer != "lamb") continue;
    if (chosen && chosen->config.pair_key() != s.config.pair_key()) continue;
    if (chosen && chosen->seed != s.seed) continue;
    const fs::path lamb_dir = fs::path(out) / s.name();
    const study::RunResult lamb = study::read_run(lamb_dir.string(), s);
    if (!lamb.complete || lamb.raw_max <= 0) continue;
    study::RunSpec twin = s;
    twin.config.optimizer = "lambc";
    twin.config.clip_max = chosen ? clip : 2 * lamb.raw_max;
    const fs::path twin_dir = fs::path(out) / "identity-check" / twin.name();
    train_one(config_for(base, twin, timm_wd), splits, twin_dir);
    const study::RunResult r = study::read_run(twin_dir.string(), twin);
    const auto a = io::load_safetensors((lamb_dir / "model.safetensors").string());
    const auto b = io::load_safetensors((twin_dir / "model.safetensors").string());
    size_t differing = 0;
    for (const auto& [name, t] : a.tensors) {
      const Tensor& u = b.at(name);
      const bool same = t.shape() == u.shape() &&
                        std::equal(t.data(), t.data() + t.numel(), u.data(), [](float x, float y) { return std::memcmp(&x, &y, 4) == 0; });
      differing += same ? 0 : 1;
    }
    char buf[640];
    std::snprintf(buf, sizeof(buf),
                  "Identity check (trained once): LAMBC with clip %.4g against %s, whose largest raw ratio was %.4g: %s "
                  "(%zu of %zu tensors differ; clipped records %.2f%%; final test accuracy %.2f%% vs %.2f%%). A LAMBC run "
                  "whose LAMB twin never exceeds the clip is LAMB, so such runs are not trained.\n",
                  twin.config.clip_max, s.name().c_str(), lamb.raw_max,
                  differing == 0 ? "bit-identical final weights" : "DIFFERENT final weights", differing, a.tensors.size(),
                  r.clipped_pct(), 100 * r.final_acc, 100 * lamb.final_acc);
    return buf;
  }
  return "Identity check: not run (no finished LAMB run).\n";
}

}  // namespace

int main(int argc, char** argv) try {
  train::TrainConfig base;
  base.model = "small";
  base.epochs = 3;
  base.schedule = "constant";  // the authors' main.py: constant lr, no warmup, wd 0, new optimizer each epoch,
  base.warmup_epochs = 0;      // real batches, the last partial batch kept (PyTorch's DataLoader default)
  base.weight_decay = 0;
  base.reset_each_epoch = true;
  base.drop_last = false;
  base.workers = 1;
  base.threads = 1;
  std::string dataset = "auto", out = "runs/clipping_study", only, machine;
  std::vector<int64_t> batch_sizes = {1000, 3000};
  std::vector<std::string> presets = {"paper", "timm"};
  std::vector<double> clips = {1};
  std::vector<uint64_t> seeds = {0, 1, 2, 3, 4};
  double lr = 0.01, timm_weight_decay = 0.01;
  int64_t scaled_from = 128;
  bool no_lamb = false, identity = false;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  CLI::App app{"LAMB vs LAMBC with paired seeds across batch sizes, presets and learning-rate arms.", "trust_clipping_study"};
  app.add_option("--dataset", dataset, "fashion-mnist, mnist, cifar10, or auto (cifar10 when present)")->capture_default_str();
  app.add_option("--data-dir", base.data_dir, "Dataset directory")->capture_default_str();
  app.add_option("--batch-sizes", batch_sizes, "Batch sizes")->delimiter(',')->capture_default_str();
  app.add_option("--presets", presets, "LAMB/LAMBC presets: paper, timm")->delimiter(',')->capture_default_str();
  app.add_option("--clips", clips, "LAMBC upper clip bounds")->delimiter(',')->capture_default_str();
  app.add_option("--seeds", seeds, "Seeds; every configuration runs each (pairs LAMBC with LAMB)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(train::non_negative_integer());
  app.add_flag("--no-lamb", no_lamb, "Skip the unclipped LAMB baseline");
  app.add_option("--lr", lr, "The authors' arm: this lr at every batch size")->capture_default_str();
  app.add_option("--scaled-lr-from", scaled_from,
                 "Second arm: lr * sqrt(batch / N), the square-root rule from batch N (0: no second arm)")
      ->capture_default_str();
  app.add_option("--timm-weight-decay", timm_weight_decay,
                 "Weight decay of the timm-preset runs (at 0 timm adapts no tensor: LAMB = LAMBC = Adam)")
      ->capture_default_str();
  app.add_option("--model", base.model, "small | resnet18 | airbench")->capture_default_str();
  app.add_option("--epochs", base.epochs, "Epochs per run")->capture_default_str();
  app.add_option("--train-subset", base.train_subset, "First N training images (0 = all)")->capture_default_str();
  app.add_option("--test-subset", base.test_subset, "First N test images (0 = all)")->capture_default_str();
  app.add_option("--schedule", base.schedule, "LR schedule (see train --help)")->capture_default_str();
  app.add_option("--warmup-epochs", base.warmup_epochs, "Linear warmup epochs")->capture_default_str();
  app.add_flag("!--no-reset", base.reset_each_epoch, "Keep optimizer moments across epochs (default: reset each epoch, as the authors' script)");
  app.add_flag("--drop-last", base.drop_last, "Drop the last partial batch (default: kept, as the authors' script)");
  app.add_option("--accum-steps", base.accum_steps, "Micro-batches per step (memory; the authors use real batches)")->capture_default_str();
  app.add_option("--device", base.device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--threads", base.threads, "Threads per run")->capture_default_str();
  app.add_option("--jobs", jobs, "Runs at once (child processes); threads * jobs <= cores")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // children get "--jobs 1" appended
  app.add_option("--out", out, "Output directory")->capture_default_str();
  app.add_option("--only", only, "Run one cell (a run directory name) and exit (used by --jobs)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string recorded_command;
  app.add_option("--command", recorded_command, "Command recorded in results.md (default: this program's own command line)");
  bool collect_only = false;
  app.add_flag("--collect-only", collect_only, "Run nothing: tabulate and plot the run directories already in --out");
  app.add_flag("--check-identity", identity, "Also check once that LAMBC with a clip above LAMB's largest raw ratio is LAMB");
  app.add_option("--machine", machine, "Machine description for results.md (default: core count)");
  CLI11_PARSE(app, argc, argv);
  // What would pass silently: a NaN clip (read as "auto" = 1), 0 jobs (run as 1), a negative arm.
  auto refuse = [](bool bad, const std::string& what) {
    if (bad) throw std::invalid_argument(what);
  };
  for (const double c : clips) refuse(!(c > 0), "--clips: each clip bound must be > 0, got " + std::to_string(c));
  refuse(jobs < 1, "--jobs: must be at least 1, got " + std::to_string(jobs));
  refuse(base.threads < 1, "--threads: must be at least 1 (threads per run), got " + std::to_string(base.threads));
  refuse(scaled_from < 0, "--scaled-lr-from: must be >= 0 (0 = no second arm), got " + std::to_string(scaled_from));

  if (dataset == "auto") {
    dataset = "fashion-mnist";
    for (const auto& p : data::dataset_candidates("cifar10", base.data_dir))
      if (fs::exists(fs::path(p) / "data_batch_1.bin") || (p.size() > 7 && p.substr(p.size() - 7) == ".tar.gz" && fs::exists(p)))
        dataset = "cifar10";
  }
  base.dataset = dataset;
  base.progress = "none";
  base.telemetry_interval = 1;
  base.keep_checkpoints = 1;
  base.eval_batch_size = 1000;
  base.report = false;
  set_num_threads(base.threads);
  if (machine.empty())
    machine = std::to_string(std::thread::hardware_concurrency()) + "-core machine, " + std::to_string(base.threads) +
              " thread(s) per run, " + std::to_string(jobs) + " run(s) at a time";

  std::vector<study::LrArm> arms = {{"authors", lr, 0}};
  if (scaled_from > 0) arms.push_back({"sqrt" + std::to_string(scaled_from), lr, scaled_from});
  const std::vector<study::RunSpec> grid = study::make_grid(batch_sizes, presets, arms, clips, !no_lamb, seeds);
  for (const auto& s : grid) train::validate(config_for(base, s, timm_weight_decay));  // every setting checked before any run starts
  fs::create_directories(out);

  auto write_results = [&](const std::string& identity_note) {
    std::vector<study::RunResult> results;
    for (const auto& s : grid) results.push_back(study::read_run((fs::path(out) / s.name()).string(), s));
    std::string command = "trust_clipping_study";
    for (int i = 1; i < argc; ++i) command += " " + shell_quote(argv[i]);
    if (!recorded_command.empty()) command = recorded_command;
    std::string md = study::results_markdown(results, base, command, machine, timm_weight_decay);
    const fs::path note = fs::path(out) / "identity.md";
    if (!identity_note.empty()) std::ofstream(note) << identity_note;
    if (fs::exists(note)) {
      std::ifstream in(note);
      md += "\n" + std::string(std::istreambuf_iterator<char>(in), {});
    }
    std::ofstream(fs::path(out) / "results.md") << md;
    std::ofstream(fs::path(out) / "results.json") << study::results_json(results).dump(2) << "\n";
    std::ofstream(fs::path(out) / "accuracy.svg") << study::accuracy_plot_svg(results);
    std::ofstream(fs::path(out) / "difference.svg") << study::difference_plot_svg(results);
    std::ofstream(fs::path(out) / "clipping.svg") << study::clipping_plot_svg(results);
    std::ofstream(fs::path(out) / "shrink.svg") << study::shrink_plot_svg(results);
    std::ofstream(fs::path(out) / "report.html")
        << study::render_report_page(md, {study::accuracy_plot_svg(results), study::difference_plot_svg(results),
                                          study::clipping_plot_svg(results), study::shrink_plot_svg(results)});
    std::cout << "\n" << md << "\nwrote " << out << "/results.md, results.json, accuracy.svg, difference.svg, clipping.svg, shrink.svg, report.html\n";
  };

  if (!only.empty()) {
    auto it = std::find_if(grid.begin(), grid.end(), [&](const study::RunSpec& s) { return s.name() == only; });
    if (it == grid.end()) throw std::runtime_error("--only " + only + ": no such cell in this grid");
    const data::DatasetSplits splits = data::load_dataset(dataset, base.data_dir);
    const train::TrainSummary sum = train_one(config_for(base, *it, timm_weight_decay), splits, fs::path(out) / only);
    std::printf("%s: %lld steps, final %.2f%%, best %.2f%%, %.0f s\n", only.c_str(), static_cast<long long>(sum.steps),
                100 * sum.final_test_acc, 100 * sum.best_test_acc, sum.wall_s);
    return 0;
  }
  if (!collect_only) run_children(grid, std::max(1, jobs), argc, argv, out);
  std::string identity_note;
  if (identity && !collect_only) {
    const data::DatasetSplits splits = data::load_dataset(dataset, base.data_dir);
    identity_note = check_identity(grid, base, timm_weight_decay, splits, out);
  }
  write_results(identity_note);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "trust_clipping_study: error: %s\n", e.what());
  return 1;
}
