// The benchmarks' command-line parser (bench/support/flags.h): values, ranges, choices, switches,
// and every way a command line can be wrong, each an error naming the flag.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "engine/error.h"

namespace {

// Flags over "bench_x" + args (argv kept alive by the caller's vector).
struct Line {
  std::vector<std::string> words;
  std::vector<char*> argv;
  explicit Line(std::vector<std::string> args) : words(std::move(args)) {
    words.insert(words.begin(), "/some/dir/bench_x");
    for (auto& w : words) argv.push_back(w.data());
  }
  tg::bench::Flags flags() { return tg::bench::Flags(static_cast<int>(argv.size()), argv.data()); }
};

}  // namespace

TEST_CASE("bench flags: values, defaults, switches") {
  Line line({"--batch", "64", "--json", "--model", "resnet18", "--threads", "-1"});
  tg::bench::Flags f = line.flags();
  CHECK(f.program() == "bench_x");
  CHECK(f.integer("--batch", 256, 1, 1024) == 64);
  CHECK(f.integer("--steps", 10, 1, 100) == 10);  // absent: the fallback
  CHECK(f.integer("--threads", 0, -1, 8) == -1);  // a negative number is a value, not a flag
  CHECK(f.text("--model", "small", {"small", "resnet18"}) == "resnet18");
  CHECK(f.text("--layer", "") == "");
  CHECK(f.has("--json"));
  CHECK_FALSE(f.has("--warm"));
  CHECK_NOTHROW(f.done());
}

TEST_CASE("bench flags: each mistake is an error naming the flag") {
  auto error_of = [](std::vector<std::string> args, auto&& use) {
    Line line(std::move(args));
    tg::bench::Flags f = line.flags();
    try {
      use(f);
      f.done();
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto batch = [](tg::bench::Flags& f) { f.integer("--batch", 256, 1, 1024); };
  CHECK(error_of({"--batch", "0"}, batch) == "--batch: must be in [1, 1024], got 0");
  CHECK(error_of({"--batch", "4096"}, batch) == "--batch: must be in [1, 1024], got 4096");
  CHECK(error_of({"--batch", "abc"}, batch) == "--batch: expected an integer, got 'abc'");
  CHECK(error_of({"--batch", "12x"}, batch) == "--batch: expected an integer, got '12x'");
  CHECK(error_of({"--batch", ""}, batch) == "--batch: expected an integer, got ''");
  CHECK(error_of({"--batch"}, batch) == "--batch: needs a value");
  CHECK(error_of({"--batch", "8", "--batch", "16"}, batch) == "--batch: given twice");
  CHECK(error_of({"--batch", "8", "--bogus"}, batch) == "unknown flag '--bogus' (known: --batch)");
  CHECK(error_of({"stray"}, [](tg::bench::Flags&) {}) == "unknown flag 'stray' (known: none)");
  CHECK(error_of({"--model", "vgg"}, [](tg::bench::Flags& f) { f.text("--model", "small", {"small", "resnet18"}); }) ==
        "--model: unknown value 'vgg' (expected one of: small, resnet18)");
  CHECK(error_of({"--json", "--json"}, [](tg::bench::Flags& f) { f.has("--json"); }) == "--json: given twice");
}

TEST_CASE("bench flags: run_bench turns a throw into exit code 2, and passes the body's code through") {
  Line bad({"--batch", "0"});
  CHECK(tg::bench::run_bench(static_cast<int>(bad.argv.size()), bad.argv.data(), [](tg::bench::Flags& f) {
          f.integer("--batch", 1, 1, 8);
          return 0;
        }) == 2);
  Line good({"--batch", "3"});
  CHECK(tg::bench::run_bench(static_cast<int>(good.argv.size()), good.argv.data(), [](tg::bench::Flags& f) {
          return static_cast<int>(f.integer("--batch", 1, 1, 8));
        }) == 3);
}
