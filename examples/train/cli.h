// The train program's command line (CLI11): flags generated from the TrainConfig field list,
// `--config file.json` loaded first (flags override it), then every check. Never exits: the
// caller prints `output` and returns `exit_code` when action is kExit.
#pragma once
#include <CLI/CLI.hpp>
#include <set>
#include <string>

#include "examples/train/config.h"

namespace tg::train {

struct CliResult {
  enum class Action { kRun, kExit };
  Action action = Action::kRun;
  int exit_code = 0;           // for kExit: 0 after --help, 2 after a bad flag or combination
  std::string output;          // kExit: the help text, or ONE error line "train: error: ..."
  TrainConfig config;          // kRun: parsed, auto values still unresolved
  std::set<std::string> explicit_keys;  // fields set by a flag or by the config file
  bool dry_run = false;        // --dry-run: print the resolved config and exit
};

// argv[0] is the program name.
CliResult parse_cli(int argc, const char* const* argv);

// The --help text (what parse_cli returns for --help).
std::string help_text();

// A check for unsigned flags (--seed, the study's --seeds): CLI11 alone reads "-1" into an unsigned
// field as 2^64 - 1; with this it reports "must be a non-negative integer, got -1".
CLI::Validator non_negative_integer();

}  // namespace tg::train
