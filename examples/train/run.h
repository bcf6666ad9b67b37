// The train program as a function: parse flags, merge a resumed run's saved config, load the
// data, train, print the summary. main() only forwards argv; tests call run_train() directly.
#pragma once
#include <iosfwd>
#include <string>

#include "examples/train/checkpoint.h"
#include "examples/train/config.h"
#include "dist/process_group.h"

namespace tg::train {

// Resuming: the checkpoint's config is the run's config. Flags the user gave explicitly may only
// change runtime settings (threads, device, logging, ...); a differing training setting is a
// ConfigError naming it. Returns the merged config.
TrainConfig merge_resume_config(const TrainConfig& given, const std::set<std::string>& explicit_keys,
                                const LoadedCheckpoint& ckpt);

// Says on `out` where the data came from when that is not under `data_dir`, and why.
void note_data_fallback(const std::string& data_dir, const std::string& source, std::ostream& out);

// "<dataset>-<model>-<optimizer>-YYYYmmdd-HHMMSS" (local time).
std::string default_run_name(const TrainConfig& c);

// The whole program. Returns the exit status: 0 done, 2 bad flags, 1 other errors, 130 interrupted.
int run_train(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
// Under mpirun (main passes the job's group): data-parallel over its ranks; rank 0 alone prints
// (other ranks' `out` is ignored) and writes the run directory. A group of one is a plain run.
int run_train(int argc, const char* const* argv, std::ostream& out, std::ostream& err, dist::ProcessGroup* group);

}  // namespace tg::train
