// Checkpoints and exact resume: a run interrupted at step k and resumed from its checkpoint ends
// with bit-identical weights, BN statistics and optimizer state to an uninterrupted run (CPU, same
// thread count); keep-last-K; Ctrl-C handling; refusing a checkpoint of another optimizer.
#include <doctest/doctest.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "examples/train/checkpoint.h"
#include "examples/train/interrupt.h"
#include "examples/train/metrics.h"
#include "engine/parallel.h"
#include "examples/train/trainer.h"
#include "tiny_run.h"

using namespace tg;
using namespace tg::train;
using namespace tg::test;

namespace {

// Trains the tiny run uninterrupted, then interrupted at each of `stops` and resumed; compares.
void check_resume_bit_identical(const TrainConfig& c, const std::vector<int64_t>& stops) {
  const int64_t total = c.epochs * 6;
  test::ScratchDir dir("resume");
  Trainer full(c, tiny_data(), RunPaths{dir.file("full"), ""}, quiet());
  const TrainSummary fs = full.run();
  REQUIRE(fs.steps == total);
  CHECK_FALSE(fs.interrupted);
  CHECK(full.optimizer().step_count() == total);

  for (int64_t stop : stops) {
    CAPTURE(stop);
    const std::string run = dir.file("cut" + std::to_string(stop));
    {
      Trainer first(c, tiny_data(), RunPaths{run, ""}, quiet(stop));
      const TrainSummary s1 = first.run();
      CHECK(s1.interrupted);
      CHECK(s1.steps == stop);
    }
    const std::string ckpt = resolve_checkpoint(run);
    CHECK(std::filesystem::path(ckpt).filename() == checkpoint_file_name(stop));
    Trainer second(c, tiny_data(), RunPaths{run, ""}, quiet());
    second.resume(load_checkpoint(ckpt));
    const TrainSummary s2 = second.run();
    CHECK_FALSE(s2.interrupted);
    CHECK(s2.steps == total);
    check_bit_identical(full.model().state_dict(), second.model().state_dict(), "model");
    check_bit_identical(optimizer_tensors(full.optimizer()), optimizer_tensors(second.optimizer()), "optimizer");
    CHECK(second.optimizer().step_count() == total);
    CHECK(s2.final_test_acc == fs.final_test_acc);

    // The step log has every step exactly once, in order, across the two sessions.
    const auto rows = read_jsonl(std::filesystem::path(run) / "metrics_steps.jsonl");
    REQUIRE(static_cast<int64_t>(rows.size()) == total);
    for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i]["step"].get<int64_t>() == static_cast<int64_t>(i + 1));
    CHECK(static_cast<int64_t>(read_jsonl(std::filesystem::path(run) / "metrics_epochs.jsonl").size()) == c.epochs);
  }
}

}  // namespace

TEST_CASE("resume: interrupted + resumed training is bit-identical to an uninterrupted run (1 thread)") {
  ThreadScope threads(1);
  // Mid-epoch, at an epoch's last batch (before its evaluation), and after an epoch-end checkpoint.
  check_resume_bit_identical(tiny_config(), {3, 6, 9});
}

TEST_CASE("resume: bit-identical with 2 threads too (the same count in both sessions)") {
  ThreadScope threads(2);
  TrainConfig c = tiny_config();
  c.epochs = 1;   // 6 steps, cut at 4 (kept short: 2 threads are slow on a shared 2-core machine)
  c.workers = 0;  // no loader thread competing with the two compute threads (prefetch is covered above)
  check_resume_bit_identical(c, {4});
}

TEST_CASE("checkpoints: every N steps, keep the last K, and the file holds what resume needs") {
  ThreadScope threads(1);
  const TrainConfig c = tiny_config();
  test::ScratchDir dir("keep");
  Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet());
  t.run();
  const auto list = list_checkpoints(dir.file("checkpoints"));
  REQUIRE(list.size() == 2);  // keep_checkpoints = 2 of steps 4, 6 (epoch end), 8, 12 (end)
  CHECK(list[0].first == 8);
  CHECK(list[1].first == 12);
  const LoadedCheckpoint ck = load_checkpoint(list[1].second);
  CHECK(ck.trainer.step == 12);
  CHECK(ck.config["optimizer"] == "lambc");
  CHECK(ck.optimizer.metadata.at("optimizer") == "lambc");
  CHECK(ck.model.size() == t.model().state_dict().size());
  CHECK(std::filesystem::exists(dir.file("model.safetensors")));
  CHECK(std::filesystem::exists(dir.file("config.json")));
  CHECK(std::filesystem::exists(dir.file("summary.json")));
}

TEST_CASE("Ctrl-C: the flag stops training after the current step with a checkpoint") {
  ThreadScope threads(1);
  install_interrupt_handler();
  std::raise(SIGINT);  // the handler only sets the flag
  CHECK(interrupt_requested());
  const TrainConfig c = tiny_config();
  test::ScratchDir dir("sigint");
  Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet());
  const TrainSummary s = t.run();
  clear_interrupt();
  CHECK(s.interrupted);
  CHECK(s.steps == 1);
  CHECK(std::filesystem::path(resolve_checkpoint(dir.str())).filename() == checkpoint_file_name(1));
}

TEST_CASE("resume refuses a checkpoint of another optimizer, naming the mismatch") {
  ThreadScope threads(1);
  const TrainConfig c = tiny_config();
  test::ScratchDir dir("mismatch");
  {
    Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet(2));
    t.run();
  }
  TrainConfig other = c;
  other.optimizer = "lamb";
  other.clip_max = std::numeric_limits<double>::infinity();
  Trainer t2(other, tiny_data(), RunPaths{dir.file("other"), ""}, quiet());
  CHECK_THROWS_WITH(t2.resume(load_checkpoint(resolve_checkpoint(dir.str()))), doctest::Contains("lambc"));
  CHECK_THROWS_WITH(resolve_checkpoint(dir.file("nowhere")), doctest::Contains("nowhere"));
}

TEST_CASE("a resumed run's CSV keeps the columns its file began with, so rows match the header") {
  test::ScratchDir dir("csv_columns");
  const std::string base = dir.file("metrics_steps");
  {
    std::ofstream(base + ".csv") << "step,loss,lr\n1,2.5,0.01\n";  // written by a version without grad_norm
  }
  MetricsLog log(base, {"step", "loss", "lr", "grad_norm"});
  Record r;
  r["step"] = 2;
  r["loss"] = 2.0;
  r["lr"] = 0.02;
  r["grad_norm"] = 1.5;
  log.append(r);
  log.flush();
  std::ifstream in(base + ".csv");
  std::string header, first, second;
  std::getline(in, header);
  std::getline(in, first);
  std::getline(in, second);
  CHECK(header == "step,loss,lr");
  CHECK(second == "2,2,0.02");  // three cells, as the header; grad_norm is in the JSONL only
  std::ifstream jsonl(base + ".jsonl");
  std::string row;
  std::getline(jsonl, row);
  CHECK(row.find("\"grad_norm\":1.5") != std::string::npos);
}
