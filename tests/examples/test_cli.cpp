// The train program's command line: bad flags and combinations -> one error line and exit code 2
// before any work; --help; config files; the JSON form; resume merging rules.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "examples/train/cli.h"
#include "examples/train/distributed.h"
#include "examples/train/run.h"
#include "train_test_util.h"

using namespace tg::train;

namespace {

CliResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "train");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_cli(static_cast<int>(argv.size()), argv.data());
}

void check_error(const std::vector<std::string>& args, const std::string& expect) {
  const CliResult r = parse(args);
  INFO("args: " << doctest::toString(args.size()) << " first: " << args.front() << " -> " << r.output);
  CHECK(r.action == CliResult::Action::kExit);
  CHECK(r.exit_code == 2);
  CHECK(r.output.rfind("train: error: ", 0) == 0);
  CHECK(r.output.find('\n') == std::string::npos);  // exactly one line
  CHECK(r.output.find(expect) != std::string::npos);
}

}  // namespace

TEST_CASE("bad flags and combinations give one error line naming the flag and exit code 2") {
  check_error({"--optimizer", "adamax"}, "--optimizer");
  check_error({"--optimizer", "adamax"}, "adamax");
  check_error({"--batch-size", "0"}, "--batch-size: must be at least 1, got 0");
  check_error({"--comm-timeout", "0"}, "--comm-timeout: must be > 0 seconds, got 0");
  const std::string timeout = parse({"--comm-timeout", "-0.25"}).output;  // as typed, not "-0.250000"
  CHECK(timeout.substr(timeout.size() - 9) == "got -0.25");
  check_error({"--batch-size", "-5"}, "--batch-size");
  check_error({"--epochs", "0"}, "--epochs");
  check_error({"--dataset", "imagenet"}, "--dataset");
  check_error({"--model", "vgg"}, "--model");
  check_error({"--batch-size", "4", "--accum-steps", "8"}, "--accum-steps");
  check_error({"--lr", "-1"}, "--lr");
  check_error({"--lr", "abc"}, "--lr");
  check_error({"--optimizer", "sgd", "--clip-max", "3"}, "--clip-max: not used by optimizer 'sgd'");
  CHECK(parse({"--optimizer", "sgd", "--max-grad-norm", "1"}).config.max_grad_norm == 1.0);  // every optimizer clips
  check_error({"--optimizer", "adamw", "--momentum", "0.9"}, "--momentum");
  check_error({"--clip-min", "2", "--clip-max", "1"}, "--clip-max");
  check_error({"--label-smoothing", "1.5"}, "--label-smoothing");
  check_error({"--schedule", "sawtooth"}, "--schedule");
  check_error({"--schedule", "warmup:10+cosine"}, "--warmup-epochs");
  check_error({"--device", "tpu"}, "--device");
  check_error({"--precision", "fp16"}, "--precision");
  check_error({"--precision", "bf16", "--device", "cuda"}, "--precision: bf16 is a CPU mode");
  check_error({"--seed", "-1"}, "--seed");  // an unsigned flag: not read as 2^64 - 1
  check_error({"--no-such-flag"}, "--no-such-flag");
  check_error({"--config", "/nonexistent/dir/cfg.json"}, "/nonexistent/dir/cfg.json");
}

TEST_CASE("--device cuda without a CUDA build or device is refused up front") {
  if (tg::cuda_built() && tg::cuda_device_count() > 0) {
    MESSAGE("skipped: this build has CUDA and a device is present");
    const CliResult r = parse({"--device", "cuda:" + std::to_string(tg::cuda_device_count())});
    CHECK(r.exit_code == 2);  // one past the last ordinal
    return;
  }
  check_error({"--device", "cuda"}, "--device: 'cuda' requested but");
}

TEST_CASE("--help exits 0 and documents every flag with its default") {
  const CliResult r = parse({"--help"});
  CHECK(r.action == CliResult::Action::kExit);
  CHECK(r.exit_code == 0);
  for (const char* s : {"--dataset", "--data-dir", "--model", "--optimizer", "--lr", "--weight-decay", "--beta1", "--eps",
                        "--clip-min", "--clip-max", "--preset", "--batch-size", "--accum-steps", "--epochs", "--schedule",
                        "--warmup-epochs", "--label-smoothing", "--seed", "--threads", "--device", "--precision", "--eval-every",
                        "--checkpoint-dir", "--resume", "--log-dir", "--config", "=512", "=cosine"}) {
    INFO(s);
    CHECK(r.output.find(s) != std::string::npos);
  }
}

TEST_CASE("flags set the config and are recorded as explicit") {
  const CliResult r = parse({"--dataset", "fashion-mnist", "--batch-size", "2048", "--accum-steps", "8", "--lr", "0.02",
                             "--optimizer", "lamb", "--clip-max", "5", "--no-report"});
  REQUIRE(r.action == CliResult::Action::kRun);
  CHECK(r.config.dataset == "fashion-mnist");
  CHECK(r.config.batch_size == 2048);
  CHECK(r.config.accum_steps == 8);
  CHECK(r.config.lr == 0.02);
  CHECK(r.config.clip_max == 5.0);
  CHECK_FALSE(r.config.report);
  CHECK(r.explicit_keys.count("clip_max") == 1);
  CHECK(r.explicit_keys.count("report") == 1);
  CHECK(r.explicit_keys.count("epochs") == 0);
  CHECK(is_auto(r.config.weight_decay));  // resolved later from the optimizer
}

TEST_CASE("optimizer-dependent defaults") {
  TrainConfig c;
  c.optimizer = "lamb";
  resolve_defaults(c);
  CHECK(std::isinf(c.clip_max));
  CHECK(c.lr == 0.01);
  CHECK(c.eps == 1e-6);
  TrainConfig d;
  resolve_defaults(d);  // lambc, paper preset
  CHECK(d.clip_max == 1.0);
  CHECK(d.weight_decay == 0.0);
  CHECK(d.max_grad_norm == 0.0);
  TrainConfig s;
  s.optimizer = "sgd";
  resolve_defaults(s);
  CHECK(s.lr == 0.1);
  CHECK(s.momentum == 0.9);
}

TEST_CASE("a JSON config file provides settings and flags override it") {
  tg::test::ScratchDir dir("cfg");
  const std::string path = dir.file("cfg.json");
  std::ofstream(path) << R"({"_comment": "a recipe", "dataset": "mnist", "batch_size": 64, "lr": 0.05, "clip_max": "inf"})";
  const CliResult r = parse({"--config", path, "--lr", "0.1"});
  REQUIRE(r.action == CliResult::Action::kRun);
  CHECK(r.config.dataset == "mnist");
  CHECK(r.config.batch_size == 64);
  CHECK(r.config.lr == 0.1);
  CHECK(std::isinf(r.config.clip_max));
  CHECK(r.explicit_keys.count("batch_size") == 1);

  std::ofstream(path) << R"({"batch-size": 64})";
  check_error({"--config", path}, "did you mean \"batch_size\"");
  std::ofstream(path) << R"({"epochs": "ten"})";
  check_error({"--config", path}, "\"epochs\" must be an integer");
  std::ofstream(path) << "{not json";
  check_error({"--config", path}, "not valid JSON");
}

TEST_CASE("the JSON form round-trips every field") {
  TrainConfig c;
  c.optimizer = "lamb";
  c.batch_size = 3000;
  c.seed = 0xFFFFFFFFFFFFull;
  c.run_name = "x";
  resolve_defaults(c);
  TrainConfig back;
  apply_json(back, nlohmann::json::parse(to_json(c).dump()), "test");
  CHECK(to_json(back) == to_json(c));
  CHECK(std::isinf(back.clip_max));
  CHECK(back.seed == c.seed);
  CHECK(to_json(c)["clip_max"] == "inf");
}

TEST_CASE("run_train: a bad flag is reported on stderr before anything else happens") {
  std::ostringstream out, err;
  const char* argv[] = {"train", "--batch-size", "0", "--dataset", "cifar10"};
  CHECK(run_train(5, argv, out, err) == 2);
  CHECK(out.str().empty());
  CHECK(err.str() == "train: error: --batch-size: must be at least 1, got 0\n");
  std::ostringstream out2, err2;
  const char* argv2[] = {"train", "--dry-run", "--optimizer", "sgd"};
  CHECK(run_train(4, argv2, out2, err2) == 0);
  CHECK(nlohmann::json::parse(out2.str())["lr"] == 0.1);
}

TEST_CASE("resume: runtime settings may change, training settings may not") {
  TrainConfig saved;
  saved.dataset = "fashion-mnist";
  saved.lr = 0.02;
  saved.threads = 2;
  resolve_defaults(saved);
  LoadedCheckpoint ck;
  ck.path = "ckpt.safetensors";
  ck.config = to_json(saved);

  TrainConfig given;  // defaults, except what the user typed
  given.resume = "runs/x";
  given.threads = 4;
  given.progress = "none";
  TrainConfig m = merge_resume_config(given, {"resume", "threads", "progress"}, ck);
  CHECK(m.dataset == "fashion-mnist");
  CHECK(m.lr == 0.02);
  CHECK(m.threads == 4);
  CHECK(m.progress == "none");
  CHECK(m.resume == "runs/x");

  given.lr = 0.05;
  CHECK_THROWS_WITH_AS(merge_resume_config(given, {"resume", "lr"}, ck), doctest::Contains("--lr: cannot change when resuming"),
                       ConfigError);
  given.lr = 0.02;  // the same value is fine
  CHECK_NOTHROW(merge_resume_config(given, {"resume", "lr"}, ck));
}

TEST_CASE("under mpirun --device cuda gives each rank the GPU of its local rank; one GPU for all ranks is refused") {
  using tg::Device;
  // rank_device(device, local_rank, world_size, visible_gpus): no GPU is needed to decide.
  CHECK(rank_device("cuda", 1, 4, 2) == Device::cuda(1));
  CHECK(rank_device("cuda", 0, 2, 1) == Device::cuda(0));
  CHECK(rank_device("cpu", 3, 4, 0) == Device::cpu());
  CHECK(rank_device("cuda:1", 0, 1, 2) == Device::cuda(1));  // a world of one keeps what it was given
  CHECK_THROWS_WITH_AS(rank_device("cuda:0", 0, 2, 2),
                       doctest::Contains("--device: 'cuda:0' names one GPU for all 2 ranks (NCCL refuses two ranks on "
                                         "one GPU); give --device cuda"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(rank_device("cuda", 2, 4, 2),
                       doctest::Contains("--device: this rank is number 2 on its host but 2 CUDA device(s) are visible "
                                         "there; run at most 2 rank(s) per host"),
                       ConfigError);
}
