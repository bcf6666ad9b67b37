// Write failures of a training run: every checked write made to fail in turn through the test hook
// (TrainerOptions::fail_write_at, TG_TRAIN_FAIL_WRITE for the program), and a real full disk (a
// size-limited tmpfs, when this process may mount one). Each time: a clear error, no half-written
// summary or checkpoint, the previous checkpoint intact, and a resume that ends exactly where an
// uninterrupted run ends.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>

#include "engine/error.h"
#include "examples/train/checkpoint.h"
#include "tiny_run.h"
#include "train_cli_util.h"

using namespace tg;
using namespace tg::train;
using namespace tg::test;
namespace fs = std::filesystem;

namespace {

TrainConfig disk_config() {
  TrainConfig c = tiny_config();
  c.workers = 0;
  c.telemetry_interval = 1;
  return c;
}

// Files named "*.tmp.<digits>" anywhere below `dir` (temporaries a failed write must not leave).
int count_temporaries(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

// After a failed run in `run`: no temporaries, every checkpoint loads, summary.json absent or whole
// (written by an earlier session, or at the end: at most total_steps).
void check_nothing_half_written(const std::string& run, int64_t total_steps) {
  CHECK(count_temporaries(run) == 0);
  for (const auto& entry : list_checkpoints((fs::path(run) / "checkpoints").string())) {  // no structured binding: Clang 14 cannot capture one
    const std::string& path = entry.second;
    INFO(path);
    CHECK_NOTHROW(load_checkpoint(path));
  }
  const std::string summary = (fs::path(run) / "summary.json").string();
  if (fs::exists(summary)) CHECK(nlohmann::json::parse(read_text(summary))["steps"].get<int64_t>() <= total_steps);
}

// Resumes `run` (or starts it again when no checkpoint was written) and checks the end state
// equals `reference`'s: weights, optimizer state and logs.
void finish_and_compare(const TrainConfig& c, const std::string& run, const Trainer& reference, const std::string& ref_dir) {
  Trainer t(c, tiny_data(), RunPaths{run, ""}, quiet());
  if (!list_checkpoints((fs::path(run) / "checkpoints").string()).empty()) t.resume(load_checkpoint(resolve_checkpoint(run)));
  const TrainSummary s = t.run();
  CHECK(s.steps == reference.total_steps());
  check_bit_identical(const_cast<Trainer&>(reference).model().state_dict(), t.model().state_dict(), "model");
  check_bit_identical(optimizer_tensors(const_cast<Trainer&>(reference).optimizer()), optimizer_tensors(t.optimizer()), "optimizer");
  for (const char* f : {"metrics_steps.jsonl", "metrics_epochs.jsonl", "trust_ratios.jsonl"}) {
    INFO(f);
    CHECK(jsonl_rows((fs::path(run) / f).string()) == jsonl_rows((fs::path(ref_dir) / f).string()));
  }
  for (const char* f : {"metrics_steps.csv", "metrics_epochs.csv"}) {
    INFO(f);
    CHECK(csv_rows((fs::path(run) / f).string()) == csv_rows((fs::path(ref_dir) / f).string()));
  }
}

}  // namespace

TEST_CASE("disk full (injected): each write failing in turn gives a clear error, loses nothing, and the run resumes exactly") {
  ThreadScope threads(1);
  const TrainConfig c = disk_config();
  ScratchDir dir("inject");
  Trainer reference(c, tiny_data(), RunPaths{dir.file("ref"), ""}, quiet());
  reference.run();

  int faults = 0;
  for (int64_t n = 1; n < 200; ++n) {
    CAPTURE(n);
    const std::string run = dir.file("run" + std::to_string(n));
    TrainerOptions o = quiet();
    o.fail_write_at = n;
    std::string error;
    try {
      Trainer t(c, tiny_data(), RunPaths{run, ""}, o);
      t.run();
    } catch (const IOError& e) {
      error = e.what();
    }
    if (error.empty()) break;  // n is past the run's last write
    ++faults;
    INFO(error);
    CHECK(error.find("injected write failure") != std::string::npos);
    CHECK(error.find(run) != std::string::npos);  // names the file
    check_nothing_half_written(run, reference.total_steps());
    finish_and_compare(c, run, reference, dir.file("ref"));
  }
  MESSAGE("write failures injected: " << faults << ", each followed by an exact resume");
  CHECK(faults >= 20);
}

TEST_CASE("disk full (tmpfs): the checkpoint that does not fit fails cleanly and the previous one is intact") {
  ScratchDir dir("tmpfs");
  const std::string mnt = dir.file("mnt");
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=16m") != 0) {
    MESSAGE("skipped: cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN); the injected test covers the logic");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};

  ThreadScope threads(1);
  const TrainConfig c = disk_config();
  Trainer reference(c, tiny_data(), RunPaths{dir.file("ref"), ""}, quiet());
  reference.run();

  const std::string run = mnt + "/run";
  {
    Trainer first(c, tiny_data(), RunPaths{run, ""}, quiet(4));
    first.run();
  }
  const std::string before = resolve_checkpoint(run);
  const int64_t ckpt_bytes = static_cast<int64_t>(fs::file_size(before));
  // Fill the disk, leaving room for the logs but not for another checkpoint.
  struct statvfs vfs {};
  REQUIRE(::statvfs(mnt.c_str(), &vfs) == 0);
  const int64_t free_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
  const int64_t leave = std::min<int64_t>(ckpt_bytes / 4, 256 * 1024);
  const std::string filler = mnt + "/filler";
  const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::posix_fallocate(fd, 0, free_bytes - leave) == 0);
  ::close(fd);

  std::string error;
  try {
    Trainer second(c, tiny_data(), RunPaths{run, ""}, quiet());
    second.resume(load_checkpoint(before));
    second.run();
  } catch (const IOError& e) {
    error = e.what();
  }
  INFO(error);
  CHECK(error.find("No space left on device") != std::string::npos);
  CHECK(resolve_checkpoint(run) == before);
  CHECK(load_checkpoint(before).trainer.step == 4);
  check_nothing_half_written(run, reference.total_steps());
  CHECK(nlohmann::json::parse(read_text(run + "/summary.json"))["steps"] == 4);  // the first session's, untouched

  fs::remove(filler);  // space again: the run resumes and ends as the uninterrupted one
  finish_and_compare(c, run, reference, dir.file("ref"));
}
