// run_train: flags -> (resume merge) -> data -> Trainer -> summary (see run.h).
#include "examples/train/run.h"

#include <ctime>
#include <filesystem>
#include <ostream>
#include <thread>

#include "datasets/find_data.h"
#include "engine/cpu/isa.h"
#include "engine/error.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/parallel.h"
#include "examples/train/cli.h"
#include "examples/train/distributed.h"
#include "examples/train/interrupt.h"
#include "examples/train/output_files.h"
#include "examples/train/progress.h"
#include "examples/train/trainer.h"

namespace tg::train {

namespace fs = std::filesystem;

TrainConfig merge_resume_config(const TrainConfig& given, const std::set<std::string>& explicit_keys,
                                const LoadedCheckpoint& ckpt) {
  TrainConfig saved;
  apply_json(saved, ckpt.config, "checkpoint '" + ckpt.path + "' config");
  TrainConfig g = given;
  resolve_defaults(g);
  resolve_defaults(saved);
  const nlohmann::json gj = to_json(g), sj = to_json(saved);
  TrainConfig merged = saved;
  visit_config(merged, [&](const FieldInfo& f, auto& value) {
    if (!explicit_keys.count(f.key)) return;
    if (!f.runtime) {
      if (gj[f.key] != sj[f.key])
        throw ConfigError(flag_name(f.key) + ": cannot change when resuming (the run has " + sj[f.key].dump() + ", got " +
                          gj[f.key].dump() + "); drop the flag or start a new run");
      return;
    }
    // A runtime setting: take the given one.
    TrainConfig copy = g;
    visit_config(copy, [&](const FieldInfo& f2, auto& v2) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v2)>, std::decay_t<decltype(value)>>) {
        if (std::string(f2.key) == f.key) value = v2;
      }
    });
  });
  merged.resume = given.resume;
  return merged;
}

void note_data_fallback(const std::string& data_dir, const std::string& source, std::ostream& out) {
  const std::string dir = fs::path(data_dir).lexically_normal().string();
  const std::string src = fs::path(source).lexically_normal().string();
  if (src.rfind(dir, 0) == 0) return;
  std::error_code ec;
  out << "train: note: the data came from '" << source << "', not from --data-dir '" << data_dir << "' ("
      << (fs::is_directory(data_dir, ec) ? "it does not hold this dataset" : "it does not exist") << ")" << std::endl;
}

namespace {

// A checkpoint resumed at another world size counts its steps anew in the new size (ckpt-8 may
// follow ckpt-16), so it continues in another run directory and another checkpoint directory: in
// the old ones, the step-numbered logs and checkpoints would mix the two counts (a later --resume
// of the directory would pick the old, higher-numbered checkpoint).
void refuse_same_dir_at_other_world_size(const LoadedCheckpoint& ckpt, const std::string& run_dir,
                                         const std::string& checkpoint_dir, int world) {
  const auto saved = ckpt.trainer.stats.find("world_size");
  const int64_t saved_world = saved != ckpt.trainer.stats.end() && saved->is_number_integer() ? saved->get<int64_t>() : 1;
  if (saved_world == world) return;
  auto canonical = [](const fs::path& p) {  // "" when the path cannot be resolved (then never "the same")
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    return ec ? fs::path() : c;
  };
  auto same = [&](const fs::path& a, const fs::path& b) {
    const fs::path ca = canonical(a), cb = canonical(b);
    return !ca.empty() && ca == cb;
  };
  const std::string head = "--resume: checkpoint '" + ckpt.path + "' was written by " + std::to_string(saved_world) +
                           " rank(s) and this run has " + std::to_string(world) +
                           "; the steps are counted anew at the new size, so the run continues in another ";
  if (!ckpt.run_dir.empty() && same(run_dir, ckpt.run_dir))
    throw ConfigError(head + "run directory than '" + ckpt.run_dir +
                      "', whose logs count the old steps: add --run-name NEW_NAME (or --log-dir)");
  // The old run's checkpoints: where the resumed file lies, and the old run's own directory.
  std::string old_checkpoints;
  if (ckpt.config.is_object() && ckpt.config.contains("checkpoint_dir") && ckpt.config["checkpoint_dir"].is_string())
    old_checkpoints = ckpt.config["checkpoint_dir"].get<std::string>();
  if (old_checkpoints.empty() && !ckpt.run_dir.empty()) old_checkpoints = (fs::path(ckpt.run_dir) / "checkpoints").string();
  const fs::path new_checkpoints = checkpoint_dir.empty() ? fs::path(run_dir) / "checkpoints" : fs::path(checkpoint_dir);
  if (same(new_checkpoints, fs::path(ckpt.path).parent_path()) ||
      (!old_checkpoints.empty() && same(new_checkpoints, old_checkpoints)))
    throw ConfigError(head + "checkpoint directory than '" + new_checkpoints.string() +
                      "', which holds checkpoints numbered in the old steps: pass --checkpoint-dir NEW_DIR");
}

}  // namespace

std::string default_run_name(const TrainConfig& c) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return c.dataset + "-" + c.model + "-" + c.optimizer + "-" + stamp;
}

int run_train(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return run_train(argc, argv, out, err, nullptr);
}

int run_train(int argc, const char* const* argv, std::ostream& out_root, std::ostream& err, dist::ProcessGroup* group) {
  if (group && group->world_size() == 1) group = nullptr;  // a plain single-process run
  std::ostream null_out(nullptr);  // ranks other than 0 print nothing
  std::ostream& out = group && !group->is_root() ? null_out : out_root;
  CliResult cli = parse_cli(argc, argv);
  if (cli.action == CliResult::Action::kExit) {
    (cli.exit_code == 0 ? out : err) << cli.output << "\n";
    return cli.exit_code;
  }
  TrainConfig c = cli.config;
  try {
    // ---- settings (all checks before any work) ----
    LoadedCheckpoint ckpt;
    const bool resuming = !c.resume.empty();
    if (resuming) {
      ckpt = load_checkpoint(resolve_checkpoint(c.resume));
      c = merge_resume_config(c, cli.explicit_keys, ckpt);
    }
    resolve_defaults(c);
    validate(c);
    std::error_code ec;
    if (cli.explicit_keys.count("data_dir") && !fs::is_directory(c.data_dir, ec))
      throw ConfigError("--data-dir: '" + c.data_dir + "' is not a directory (give the directory that holds the data, "
                        "or leave the flag out to use ./data or the system's copy)");
    if (cli.dry_run) {
      out << to_json(c).dump(2) << "\n";
      return 0;
    }
    // The CPU kernels (engine/cpu/kernel_mode.h): --kernels, or with auto TG_KERNELS, whose bad value is
    // refused here, before any work.
    try {
      if (c.kernels != "auto") set_kernel_mode(parse_kernel_mode(c.kernels.c_str(), "--kernels"));
      kernel_mode();
    } catch (const Error& e) {
      throw ConfigError(e.what());
    }
    std::string run_dir;
    if (resuming) {
      run_dir = ckpt.run_dir;
      if (cli.explicit_keys.count("log_dir") || cli.explicit_keys.count("run_name") || run_dir.empty())
        run_dir = (fs::path(c.log_dir) / (c.run_name.empty() ? fs::path(run_dir).filename().string() : c.run_name)).string();
    } else {
      if (c.run_name.empty()) c.run_name = default_run_name(c);
      run_dir = (fs::path(c.log_dir) / c.run_name).string();
    }
    if (resuming) refuse_same_dir_at_other_world_size(ckpt, run_dir, c.checkpoint_dir, group ? group->world_size() : 1);
    if (group) {
      group->set_timeout_seconds(c.comm_timeout);
      if (!group->is_root()) run_dir.clear();  // rank 0 alone writes logs, report and checkpoints
    }
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int threads = c.threads > 0 ? std::min(c.threads, cores) : cores;
    if (c.threads > cores)
      err << "train: warning: --threads " << c.threads << " is more than the " << cores
          << " cores of this machine (oversubscribed threads only slow training down); using " << cores << std::endl;
    set_num_threads(threads);
    // Chosen before the line starts: a bad TG_CPU_ISA / TG_KERNELS throws here, not mid-line.
    const std::string isa = cpu_isa_name(cpu_isa()), kernels = kernel_mode_name();
    out << "train: cpu kernels " << isa << " (" << kernels << "), " << threads << " threads";
    if (c.precision == "bf16") {
      const std::string kernel = cpu_bf16_gemm();
      out << ", bf16 conv GEMMs " << kernel << (kernel == "emulated" ? " (no bf16 hardware here: no faster than fp32)" : "");
    }
    out << std::endl;

    // ---- output directories: writable now, not after an epoch of work; stale temporaries gone ----
    //      (rank 0 alone writes under mpirun: the other ranks have no run directory)
    if (!run_dir.empty()) {
      const std::string checkpoint_dir = c.checkpoint_dir.empty() ? (fs::path(run_dir) / "checkpoints").string() : c.checkpoint_dir;
      require_writable_dir(run_dir, "--log-dir/--run-name (run directory)");
      require_writable_dir(checkpoint_dir, "--checkpoint-dir");
      const int stale = remove_stale_temp_files(run_dir) + remove_stale_temp_files(checkpoint_dir);
      if (stale > 0) out << "train: removed " << stale << " temporary file(s) left by an interrupted earlier process" << std::endl;
    }

    // ---- data, model, training ----
    out << "train: loading " << c.dataset << " from " << c.data_dir << " ..." << std::endl;
    data::DatasetSplits splits = data::load_dataset(c.dataset, c.data_dir);
    out << "train: found " << splits.source << std::endl;
    note_data_fallback(c.data_dir, splits.source, out);
    TrainerOptions options;
    options.out = &out;
    options.fail_write_at = write_faults_from_env();
    options.group = group;
    if (group) {  // one GPU per rank with --device cuda (distributed.h)
      const Device device = rank_device(c.device, group->local_rank(), group->world_size(),
                                        parse_device(c.device).is_cuda() ? cuda_device_count() : 0);
      options.device = device;
      if (device.is_cuda()) out << "train: rank devices: cuda:<local rank> (rank 0 on " << device.str() << ")" << std::endl;
    }
    Trainer trainer(c, std::move(splits), RunPaths{run_dir, c.checkpoint_dir}, options);
    if (resuming) trainer.resume(ckpt);
    install_interrupt_handler(/*collective=*/group != nullptr);  // under mpirun every rank stops at one step
    const TrainSummary s = trainer.run();

    // ---- summary ----
    char line[256];
    out << "\n";
    if (s.interrupted) {
      out << "interrupted at step " << s.steps << "/" << s.total_steps << "; checkpoint " << s.last_checkpoint << "\n"
          << "continue with: train --resume " << run_dir << "\n";
    }
    std::snprintf(line, sizeof(line), "summary: %lld steps (%lld epochs) in %s wall time, %.0f img/s training throughput, %d threads",
                  static_cast<long long>(s.steps), static_cast<long long>(s.epochs_done), format_duration(s.wall_s).c_str(),
                  s.images_per_s, threads);
    out << line << "\n";
    if (s.comm_wait_share >= 0) {
      std::snprintf(line, sizeof(line), "         data-parallel over %d ranks: %.1f%% of the training time spent waiting for gradients",
                    group->world_size(), 100.0 * s.comm_wait_share);
      out << line << "\n";
    }
    if (s.final_test_acc >= 0) {
      std::snprintf(line, sizeof(line), "         test accuracy: final %.2f%%, best %.2f%% (epoch %lld)", 100 * s.final_test_acc,
                    100 * s.best_test_acc, static_cast<long long>(s.best_epoch));
      out << line << "\n";
    }
    out << "         run dir " << run_dir << ": report.html, config.json, metrics_{steps,epochs}.{jsonl,csv}, "
        << "trust_ratios.jsonl, model.safetensors, checkpoints/" << std::endl;
    return s.interrupted ? 130 : 0;
  } catch (const ConfigError& e) {
    err << "train: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "train: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace tg::train
