// trust_clipping_study: LAMB vs LAMBC (clip bounds {1, 3, 5, 10}) across batch sizes {1000, 2000, 3000},
// same seed and budget, on Fashion-MNIST (CIFAR-10 when present). Writes <out>/results.md,
// results.json, accuracy_vs_batch.svg, clipped_vs_batch.svg and one run directory per cell.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "datasets/find_data.h"
#include "engine/parallel.h"
#include "examples/train/trainer.h"
#include "examples/trust_clipping_study/study.h"

namespace fs = std::filesystem;
using namespace tg;

namespace {

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"$\\;&|<>*?()") == std::string::npos && !s.empty()) return s;
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

// Runs `grid` cells as child processes of this program (--only NAME), `jobs` at a time.
void run_children(const std::vector<study::RunSpec>& grid, int jobs, int argc, char** argv, const std::string& out) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string base = shell_quote(self);
  for (int i = 1; i < argc; ++i) base += " " + shell_quote(argv[i]);
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < grid.size(); i = next++) {
        const std::string name = grid[i].name();
        const std::string cmd = base + " --jobs 1 --only " + name + " > " + shell_quote(out + "/" + name + ".log") + " 2>&1";
        const int rc = std::system(cmd.c_str());
        std::printf("[%zu/%zu] %s %s\n", i + 1, grid.size(), name.c_str(), rc == 0 ? "done" : "FAILED (see its .log)");
        std::fflush(stdout);
      }
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) try {
  train::TrainConfig base;
  base.model = "small";
  base.epochs = 3;
  base.lr = 0.01;              // the authors' runs: lr 0.01 constant, no warmup, wd 0, paper preset
  base.schedule = "constant";
  base.warmup_epochs = 0;
  base.weight_decay = 0;
  base.preset = "paper";
  base.reset_each_epoch = true;
  base.workers = 1;
  std::string dataset = "auto", out = "runs/clipping_study", only, machine;
  std::vector<int64_t> batch_sizes = {1000, 2000, 3000};
  std::vector<double> clips = {1, 3, 5, 10};
  bool no_lamb = false;
  int jobs = 1;

  CLI::App app{"LAMB vs LAMBC trust-ratio clipping across batch sizes (same seed and budget per run).", "trust_clipping_study"};
  app.add_option("--dataset", dataset, "fashion-mnist, cifar10, or auto (cifar10 when present)")->capture_default_str();
  app.add_option("--data-dir", base.data_dir, "Dataset directory")->capture_default_str();
  app.add_option("--batch-sizes", batch_sizes, "Batch sizes")->delimiter(',')->capture_default_str();
  app.add_option("--clips", clips, "LAMBC upper clip bounds")->delimiter(',')->capture_default_str();
  app.add_flag("--no-lamb", no_lamb, "Skip the unclipped LAMB baseline");
  app.add_option("--model", base.model, "small | resnet18 | airbench")->capture_default_str();
  app.add_option("--epochs", base.epochs, "Epochs per run")->capture_default_str();
  app.add_option("--train-subset", base.train_subset, "First N training images (0 = all)")->capture_default_str();
  app.add_option("--test-subset", base.test_subset, "First N test images (0 = all)")->capture_default_str();
  app.add_option("--lr", base.lr, "Learning rate (same for every run)")->capture_default_str();
  app.add_option("--schedule", base.schedule, "LR schedule (see train --help)")->capture_default_str();
  app.add_option("--warmup-epochs", base.warmup_epochs, "Linear warmup epochs")->capture_default_str();
  app.add_option("--preset", base.preset, "paper | timm")->capture_default_str();
  app.add_flag("!--no-reset", base.reset_each_epoch, "Keep optimizer moments across epochs (default: reset each epoch, as the authors' script)");
  app.add_option("--accum-steps", base.accum_steps, "Micro-batches per step (memory)")->capture_default_str();
  app.add_option("--seed", base.seed, "Seed (init and data order), the same for every run")->capture_default_str();
  app.add_option("--device", base.device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--threads", base.threads, "Threads per run (0 = every core)")->capture_default_str();
  app.add_option("--jobs", jobs, "Runs at once (child processes); use threads * jobs <= cores")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // children get "--jobs 1" appended
  app.add_option("--out", out, "Output directory")->capture_default_str();
  app.add_option("--only", only, "Run one cell (e.g. bs1000-lambc-clip3) and exit (used by --jobs)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string recorded_command;
  app.add_option("--command", recorded_command, "Command recorded in results.md (default: this program's own command line)");
  bool collect_only = false;
  app.add_flag("--collect-only", collect_only, "Run nothing: tabulate and plot the run directories already in --out");
  app.add_option("--machine", machine, "Machine description for results.md (default: core count)");
  CLI11_PARSE(app, argc, argv);

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
  const int threads = base.threads > 0 ? base.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  base.threads = threads;
  set_num_threads(threads);
  if (machine.empty())
    machine = std::to_string(std::thread::hardware_concurrency()) + "-core machine, " + std::to_string(threads) +
              " threads per run, " + std::to_string(jobs) + " run(s) at a time";

  std::vector<study::RunSpec> grid = study::make_grid(batch_sizes, clips, !no_lamb);
  for (const auto& s : grid) {  // every setting is checked before any run starts
    train::TrainConfig c = base;
    c.optimizer = s.optimizer;
    c.clip_max = s.clip_max;
    c.batch_size = s.batch_size;
    train::resolve_defaults(c);
    train::validate(c);
  }
  fs::create_directories(out);

  // ---- collect, tabulate, plot (after every run, so a cut-short study still leaves a table) ----
  auto write_results = [&](bool final_call) {
    std::vector<study::RunResult> results;
    for (const auto& s : grid) {
      study::RunResult r;
      r.spec = s;
      const fs::path d = fs::path(out) / s.name();
      std::ifstream in(d / "summary.json");
      if (in) {
        nlohmann::json j;
        in >> j;
        r.steps = j.value("steps", int64_t{0});
        r.seconds = j.value("wall_s", 0.0);
      }
      study::read_run_stats(d.string(), r);
      results.push_back(r);
    }
    std::string command = "trust_clipping_study";
    for (int i = 1; i < argc; ++i) command += " " + shell_quote(argv[i]);
    if (!recorded_command.empty()) command = recorded_command;
    const std::string md = study::results_markdown(results, base, command, machine);
    std::ofstream(fs::path(out) / "results.md") << md;
    std::ofstream(fs::path(out) / "results.json") << study::results_json(results).dump(2) << "\n";
    std::ofstream(fs::path(out) / "accuracy_vs_batch.svg") << study::accuracy_plot_svg(results);
    std::ofstream(fs::path(out) / "clipped_vs_batch.svg") << study::clipped_plot_svg(results);
    if (final_call) std::cout << "\n" << md << "\nwrote " << out << "/results.md, results.json, accuracy_vs_batch.svg, clipped_vs_batch.svg\n";
  };

  if (collect_only) {
    // Nothing to run: the run directories exist (e.g. cells run by hand with --only, in parallel).
  } else if (!only.empty() || jobs <= 1) {
    std::printf("trust_clipping_study: loading %s ...\n", dataset.c_str());
    const data::DatasetSplits splits = data::load_dataset(dataset, base.data_dir);
    size_t i = 0;
    for (const auto& s : grid) {
      ++i;
      if (!only.empty() && s.name() != only) continue;
      train::TrainConfig c = base;
      c.optimizer = s.optimizer;
      c.clip_max = s.clip_max;
      c.batch_size = s.batch_size;
      c.run_name = s.name();
      train::resolve_defaults(c);
      train::TrainerOptions o;
      o.quiet = true;
      train::Trainer t(c, splits, train::RunPaths{(fs::path(out) / s.name()).string(), ""}, o);
      const train::TrainSummary sum = t.run();
      std::printf("[%zu/%zu] %-22s %4lld steps  final %.2f%%  best %.2f%%  %.0f s\n", i, grid.size(), s.name().c_str(),
                  static_cast<long long>(sum.steps), 100 * sum.final_test_acc, 100 * sum.best_test_acc, sum.wall_s);
      std::fflush(stdout);
      if (only.empty()) write_results(false);
    }
    if (!only.empty()) return 0;
  } else {
    run_children(grid, jobs, argc, argv, out);
  }

  write_results(true);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "trust_clipping_study: error: %s\n", e.what());
  return 1;
}
