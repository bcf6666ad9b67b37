// Crash test of the train program (ctest "train_crash"; skipped by the plain examples run): runs
// it as a child process, kills it with SIGKILL at seeded random moments, resumes after each kill
// until the run completes, and compares the end state with an uninterrupted run: weights,
// optimizer state, every log and the summary identical (wall-clock fields aside). Bounded: about
// a minute on 2 cores.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "examples/train/checkpoint.h"
#include "io/safetensors.h"
#include "tiny_run.h"
#include "train_cli_util.h"

extern char** environ;

using namespace tg;
using namespace tg::train;
using namespace tg::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kTargetKills = 30;    // kills to aim for
constexpr int kRequiredKills = 20;  // at the least, when a slow machine hits the time cap
constexpr double kTimeCap = 400;    // seconds of killing and resuming (ctest's limit is 600)

// Starts `bin args...` with stdout and stderr appended to `log`.
pid_t spawn(const std::string& bin, const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

// Waits up to `limit` seconds; the exit status, or -1 when still running.
int wait_for(pid_t pid, double limit) {
  const auto end = Clock::now() + std::chrono::duration<double>(limit);
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (Clock::now() >= end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void check_same_tensors(const NamedTensors& a, const NamedTensors& b, const std::string& what) {
  check_bit_identical(a, b, what);
}

nlohmann::json summary_of(const std::string& run) {
  nlohmann::json j = without_timing(nlohmann::json::parse(read_text(run + "/summary.json")));
  j["last_checkpoint"] = fs::path(j["last_checkpoint"].get<std::string>()).filename().string();
  return j;
}

// Everything a finished run leaves, compared with the uninterrupted reference.
void compare_runs(const std::string& ref, const std::string& run) {
  check_same_tensors(io::load_safetensors(ref + "/model.safetensors").tensors, io::load_safetensors(run + "/model.safetensors").tensors,
                     "model.safetensors");
  const LoadedCheckpoint a = load_checkpoint(resolve_checkpoint(ref)), b = load_checkpoint(resolve_checkpoint(run));
  CHECK(a.trainer.step == b.trainer.step);
  CHECK(a.trainer.loader == b.trainer.loader);
  CHECK(a.trainer.rng == b.trainer.rng);
  CHECK(without_timing(a.trainer.stats) == without_timing(b.trainer.stats));
  check_same_tensors(a.model, b.model, "checkpoint model");
  check_same_tensors(a.optimizer.tensors, b.optimizer.tensors, "checkpoint optimizer state");
  CHECK(a.optimizer.metadata == b.optimizer.metadata);
  CHECK(read_text(ref + "/trust_ratios.jsonl") == read_text(run + "/trust_ratios.jsonl"));  // no clock in it: byte-identical
  for (const char* f : {"/metrics_steps.jsonl", "/metrics_epochs.jsonl"}) {
    INFO(f);
    CHECK(jsonl_rows(ref + f) == jsonl_rows(run + f));
  }
  for (const char* f : {"/metrics_steps.csv", "/metrics_epochs.csv"}) {
    INFO(f);
    CHECK(csv_rows(ref + f) == csv_rows(run + f));
  }
  CHECK(summary_of(ref) == summary_of(run));
  for (const auto& e : fs::recursive_directory_iterator(run)) CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

}  // namespace

TEST_CASE("crash: SIGKILL at random moments, resumed after each, ends identical to an uninterrupted run" * doctest::skip()) {
  const char* override_bin = std::getenv("TG_TRAIN_BIN");  // another build of the program (e.g. before a fix)
  const std::string bin = override_bin != nullptr ? override_bin : std::string(TG_BINARY_DIR) + "/examples/train/train";
  if (!fs::exists(bin)) {
    MESSAGE("skipped: no train program at " << bin << " (a build without examples)");
    return;
  }
  ScratchDir dir("crash");
  write_tiny_fashion_mnist(dir.file("data"), 128, 32);
  const std::vector<std::string> base = {
      "--dataset", "fashion-mnist", "--data-dir", dir.file("data"), "--batch-size", "16", "--epochs", "3",  // 24 steps
      "--threads", "1", "--workers", "1", "--checkpoint-every", "2", "--keep-checkpoints", "2", "--eval-batch-size", "32",
      "--telemetry-interval", "1", "--seed", "5", "--no-report", "--progress", "none", "--log-dir", dir.file("runs")};
  auto args_for = [&](const std::string& name, bool resume) {
    std::vector<std::string> a = base;
    a.insert(a.end(), {"--run-name", name});
    if (resume) a.insert(a.end(), {"--resume", dir.file("runs/" + name)});
    return a;
  };

  const auto t0 = Clock::now();
  REQUIRE(wait_for(spawn(bin, args_for("reference", false), dir.file("reference.log")), 300) == 0);
  const double run_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  std::mt19937_64 rng(20221206);
  std::uniform_real_distribution<double> moment(0.0, run_seconds);
  int kills = 0, chains = 0, starts = 0;
  const auto start = Clock::now();
  while (kills < kTargetKills && std::chrono::duration<double>(Clock::now() - start).count() < kTimeCap) {
    const std::string name = "chain" + std::to_string(chains++);
    const std::string run = dir.file("runs/" + name), log = dir.file(name + ".log");
    for (;;) {
      const bool resume = !list_checkpoints(run + "/checkpoints").empty();
      const pid_t pid = spawn(bin, args_for(name, resume), log);
      ++starts;
      const int status = wait_for(pid, moment(rng));
      if (status >= 0) {
        INFO("exit status " << status << "; log:\n" << read_text(log));
        REQUIRE(status == 0);
        break;
      }
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ++kills;
    }
    INFO(name);
    compare_runs(dir.file("runs/reference"), run);
  }
  MESSAGE("crash test: " << kills << " SIGKILLs survived over " << chains << " runs (" << starts
                         << " starts), each finished run compared with the uninterrupted one; a run takes " << run_seconds << " s");
  CHECK(kills >= kRequiredKills);
}
