// parse_cli: CLI11 flags bound to a TrainConfig, one per field of visit_config(), with defaults in --help.
#include "examples/train/cli.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <sstream>
#include <vector>

namespace tg::train {

namespace {

constexpr const char* kFooter =
    "\nExamples:\n"
    "  train --dataset fashion-mnist --epochs 4 --batch-size 256 --lr 0.01\n"
    "  train --config examples/train/recipes/cifar10_lambc.json --threads 2\n"
    "  train --batch-size 4096 --accum-steps 16        # large batch on one machine\n"
    "  train --resume runs/<run>                        # continue exactly where it stopped\n"
    "Every run writes config.json (equivalent to these flags), metrics_*.jsonl/csv, trust_ratios.jsonl,\n"
    "checkpoints/ and report.html into <log-dir>/<run-name>/.";

std::string one_line(std::string s) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string double_default(double v) {
  if (is_auto(v)) return "auto";
  std::ostringstream s;
  s << v;
  return s.str();
}

// Registers every config field as a flag on `app`; returns (key, option) pairs.
std::vector<std::pair<std::string, CLI::Option*>> add_flags(CLI::App& app, TrainConfig& c) {
  std::vector<std::pair<std::string, CLI::Option*>> opts;
  visit_config(c, [&](const FieldInfo& f, auto& value) {
    using T = std::decay_t<decltype(value)>;
    const std::string flag = flag_name(f.key);
    CLI::Option* o = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      o = app.add_flag(flag, value, std::string(f.help) + (value ? " (default: on; --no-" + flag.substr(2) + " turns it off)"
                                                                : " (default: off)"));
      opts.emplace_back(f.key, app.add_flag("!--no-" + flag.substr(2), value, "")->group(""));  // hidden negation
    } else if constexpr (std::is_same_v<T, double>) {
      o = app.add_option(flag, value, f.help)->default_str(double_default(value));
    } else {
      o = app.add_option(flag, value, f.help)->capture_default_str();
      if constexpr (std::is_unsigned_v<T>) o->check(non_negative_integer());
      if constexpr (std::is_same_v<T, std::string>) {
        if (!f.choices.empty()) o->check(CLI::IsMember(f.choices));
      }
    }
    opts.emplace_back(f.key, o);
  });
  return opts;
}

// Finds "--config X" / "--config=X" before the real parse (the file provides the defaults).
std::string find_config_path(int argc, const char* const* argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) path = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) path = a.substr(9);
  }
  return path;
}

CliResult exit_with_error(const std::string& message) {
  CliResult r;
  r.action = CliResult::Action::kExit;
  r.exit_code = 2;
  r.output = "train: error: " + one_line(message);
  return r;
}

}  // namespace

CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& value) {
        return value.empty() || value.front() == '-' ? "must be a non-negative integer, got " + value : std::string();
      },
      "", "non-negative integer");
}

std::string help_text() {
  TrainConfig c;
  CLI::App app{"Train an image classifier with trustgrad (LAMBC by default).", "train"};
  app.get_formatter()->column_width(34);
  add_flags(app, c);
  std::string config_path;
  bool dry_run = false;
  app.add_option("--config", config_path, "Load settings from a JSON file (keys = flag names with '_'); flags override it");
  app.add_flag("--dry-run", dry_run, "Check the settings, print the resolved config as JSON and exit");
  app.footer(kFooter);
  return app.help();
}

CliResult parse_cli(int argc, const char* const* argv) {
  CliResult r;
  const std::string config_path = find_config_path(argc, argv);
  if (!config_path.empty()) {
    try {
      r.explicit_keys = load_config_file(r.config, config_path);
    } catch (const std::exception& e) {
      return exit_with_error(e.what());
    }
  }

  CLI::App app{"Train an image classifier with trustgrad (LAMBC by default).", "train"};
  app.get_formatter()->column_width(34);
  auto opts = add_flags(app, r.config);
  std::string config_flag;
  app.add_option("--config", config_flag, "Load settings from a JSON file (keys = flag names with '_'); flags override it");
  app.add_flag("--dry-run", r.dry_run, "Check the settings, print the resolved config as JSON and exit");
  app.footer(kFooter);

  try {
    // CLI11 wants non-const char**; it does not modify the strings.
    app.parse(argc, const_cast<char**>(argv));
  } catch (const CLI::CallForHelp&) {
    r.action = CliResult::Action::kExit;
    r.exit_code = 0;
    r.output = help_text();
    return r;
  } catch (const CLI::ParseError& e) {
    return exit_with_error(e.what());
  }
  std::set<std::string> typed_keys;  // set on the command line (not by the config file)
  for (const auto& [key, opt] : opts)
    if (opt->count() > 0) typed_keys.insert(key);
  std::set<std::string> file_keys;  // set by the config file only
  for (const auto& key : r.explicit_keys)
    if (!typed_keys.count(key)) file_keys.insert(key);
  r.explicit_keys.insert(typed_keys.begin(), typed_keys.end());
  // NaN stands for "auto" inside TrainConfig, so a typed "nan" would silently become the default.
  std::string nan_flag;
  visit_config(r.config, [&](const FieldInfo& f, auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>) {
      if (nan_flag.empty() && typed_keys.count(f.key) && std::isnan(value)) nan_flag = f.key;
    }
  });
  if (!nan_flag.empty()) return exit_with_error(flag_name(nan_flag) + ": must be a number, got NaN");

  try {
    validate(r.config, r.explicit_keys, file_keys);
  } catch (const std::exception& e) {
    return exit_with_error(e.what());
  }
  return r;
}

}  // namespace tg::train
