// train --kernels: the reference kernels (engine/cpu/kernel_mode.h) run a whole training (2 steps on a
// tiny Fashion-MNIST-format directory), the start-up line names the mode, and a bad value is refused
// up front with one error line naming the flag.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/cpu/kernel_mode.h"
#include "train_cli_util.h"

using namespace tg::test;

TEST_CASE("train --kernels reference trains 2 steps on the reference kernels") {
  ScratchDir dir("kernels");
  write_tiny_fashion_mnist(dir.file("data"), 16, 8);
  const TrainOutput r = run_train_args({"--dataset", "fashion-mnist", "--data-dir", dir.file("data"), "--batch-size",
                                        "4", "--epochs", "1", "--max-steps", "2", "--workers", "0", "--progress",
                                        "none", "--no-report", "--log-dir", dir.file("runs"), "--run-name", "ref",
                                        "--kernels", "reference", "--eval-batch-size", "8"});
  const tg::KernelMode mode_after = tg::kernel_mode();
  tg::set_kernel_mode(tg::KernelMode::Fast);  // process-wide: the rest of the suite runs the fast kernels
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(mode_after == tg::KernelMode::Reference);
  CHECK(r.out.find("(reference), ") != std::string::npos);  // "train: cpu kernels <isa> (reference), N threads"
  const nlohmann::json summary = nlohmann::json::parse(read_text(dir.file("runs/ref/summary.json")));
  CHECK(summary["steps"] == 2);
  CHECK(std::isfinite(summary["final_test_loss"].get<double>()));
  const nlohmann::json config = nlohmann::json::parse(read_text(dir.file("runs/ref/config.json")));
  CHECK(config["kernels"] == "reference");
}

TEST_CASE("train --kernels bogus is refused with one error line naming the flag") {
  const TrainOutput r = run_train_args({"--kernels", "bogus", "--dataset", "fashion-mnist"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("train: error: --kernels", 0) == 0);
  CHECK(r.err.find("bogus") != std::string::npos);
  CHECK(r.err.find("reference") != std::string::npos);  // the allowed values
}
