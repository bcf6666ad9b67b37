// The benchmarks' command-line parser (flags.h).
#include "bench/support/flags.h"

#include <charconv>
#include <cstdio>
#include <exception>

#include "engine/error.h"

namespace tg::bench {

Flags::Flags(int argc, char** argv) {
  program_ = argc > 0 ? argv[0] : "bench";
  const size_t slash = program_.find_last_of('/');
  if (slash != std::string::npos) program_ = program_.substr(slash + 1);
  for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
  used_.assign(args_.size(), false);
}

int Flags::find(const std::string& name, bool takes_value) {
  known_.push_back(name);
  int at = -1;
  for (size_t i = 0; i < args_.size(); ++i) {
    if (used_[i] || args_[i] != name) continue;
    if (at >= 0) throw Error(name + ": given twice");
    at = static_cast<int>(i);
    used_[i] = true;
    if (!takes_value) continue;
    if (i + 1 >= args_.size()) throw Error(name + ": needs a value");
    used_[++i] = true;
  }
  return at;
}

int64_t Flags::integer(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  const int at = find(name, true);
  if (at < 0) return fallback;
  const std::string& v = args_[static_cast<size_t>(at) + 1];
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || end != v.data() + v.size()) throw Error(name + ": expected an integer, got '" + v + "'");
  if (value < lo || value > hi)
    throw Error(name + ": must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v);
  return value;
}

std::string Flags::text(const std::string& name, const std::string& fallback, const std::vector<std::string>& choices) {
  const int at = find(name, true);
  if (at < 0) return fallback;
  const std::string& v = args_[static_cast<size_t>(at) + 1];
  if (choices.empty()) return v;
  std::string list;
  for (const auto& c : choices) {
    if (c == v) return v;
    list += (list.empty() ? "" : ", ") + c;
  }
  throw Error(name + ": unknown value '" + v + "' (expected one of: " + list + ")");
}

bool Flags::has(const std::string& name) { return find(name, false) >= 0; }

void Flags::done() const {
  for (size_t i = 0; i < args_.size(); ++i) {
    if (used_[i]) continue;
    std::string list;
    for (const auto& k : known_) list += " " + k;
    throw Error("unknown flag '" + args_[i] + "' (known:" + (list.empty() ? std::string(" none") : list) + ")");
  }
}

int run_bench(int argc, char** argv, const std::function<int(Flags&)>& body) {
  Flags flags(argc, argv);
  try {
    return body(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", flags.program().c_str(), e.what());
    return 2;
  }
}

}  // namespace tg::bench
