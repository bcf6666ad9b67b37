// The benchmarks' command lines, one parser for all of them: "--name value" options and bare
// switches. A number must parse whole and lie in its range, a text value in its list of choices;
// a missing value, a flag given twice or one no call asked for is an error. Errors are tg::Error
// naming the flag; run_bench() prints them as "<program>: error: <what>" and returns 2, so a bad
// flag neither crashes a bench (division by a zero batch, an uncaught throw) nor is ignored.
//
//   int main(int argc, char** argv) {
//     return tg::bench::run_bench(argc, argv, [](tg::bench::Flags& f) {
//       const int64_t batch = f.integer("--batch", 256, 1, 1 << 20);
//       const bool json = f.has("--json");
//       f.done();  // anything left over is an unknown flag
//       ...
//       return 0;
//     });
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tg::bench {

class Flags {
 public:
  Flags(int argc, char** argv);

  // The value of `name`, or `fallback` when absent; throws unless it is an integer in [lo, hi].
  int64_t integer(const std::string& name, int64_t fallback, int64_t lo, int64_t hi);
  // The value of `name`, or `fallback` when absent; throws unless it is one of `choices` (when given).
  std::string text(const std::string& name, const std::string& fallback, const std::vector<std::string>& choices = {});
  // Whether the bare switch `name` is present.
  bool has(const std::string& name);
  // Throws naming the first argument no call above consumed, with the flags this bench knows.
  void done() const;

  const std::string& program() const { return program_; }

 private:
  // The index of `name` in args_ (marked used, with its value when it takes one), or -1.
  int find(const std::string& name, bool takes_value);

  std::string program_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
  std::vector<std::string> known_;
};

// Runs body(flags) and returns its exit code; any exception thrown (by the flags or the bench)
// is printed as "<program>: error: <what>" and gives exit code 2.
int run_bench(int argc, char** argv, const std::function<int(Flags&)>& body);

}  // namespace tg::bench
