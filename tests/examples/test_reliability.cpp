// Issue 22's defects of the train program, one test each: logs trimmed exactly on resume (torn
// lines, an epoch row sharing its step with a checkpoint), the learning rate restored, NaN flags
// refused, non-finite tensors kept out of checkpoints (--on-nonfinite stop|skip), divergence
// warnings, checkpoint counters cross-checked, and the start-up checks.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "examples/train/checkpoint.h"
#include "examples/train/metrics.h"
#include "examples/train/output_files.h"
#include "io/safetensors.h"
#include "support/error_of.h"
#include "tiny_run.h"
#include "train_cli_util.h"

using namespace tg;
using namespace tg::train;
using namespace tg::test;
namespace fs = std::filesystem;

namespace {

// Trains the tiny run into `dir` up to `stop` (0: to the end); returns the summary.
TrainSummary train_tiny(const TrainConfig& c, const std::string& dir, int64_t stop = 0) {
  Trainer t(c, tiny_data(), RunPaths{dir, ""}, quiet(stop));
  return t.run();
}

TrainSummary resume_tiny(const TrainConfig& c, const std::string& dir) {
  Trainer t(c, tiny_data(), RunPaths{dir, ""}, quiet());
  t.resume(load_checkpoint(resolve_checkpoint(dir)));
  return t.run();
}

// Rewrites a checkpoint with `edit` applied to its metadata.
template <class Edit>
void edit_checkpoint_metadata(const std::string& path, Edit edit) {
  io::SafetensorsFile f = io::load_safetensors(path);
  edit(f.metadata);
  io::save_safetensors(path, f.tensors, f.metadata);
}

void check_logs_equal(const std::string& a, const std::string& b) {
  for (const char* f : {"metrics_steps.jsonl", "metrics_epochs.jsonl", "trust_ratios.jsonl"}) {
    INFO(f);
    const auto x = jsonl_rows((fs::path(a) / f).string()), y = jsonl_rows((fs::path(b) / f).string());
    CHECK(x.size() == y.size());
    CHECK(x == y);
  }
  for (const char* f : {"metrics_steps.csv", "metrics_epochs.csv"}) {
    INFO(f);
    CHECK(csv_rows((fs::path(a) / f).string()) == csv_rows((fs::path(b) / f).string()));
  }
}

}  // namespace

TEST_CASE("defect 1: resume trims the logs to the checkpoint, torn last lines included") {
  ScratchDir dir("trim");
  const std::string jsonl = dir.file("m.jsonl"), csv = dir.file("m.csv");
  {
    std::ofstream j(jsonl), c(csv);
    c << "step,epoch,loss\n";
    for (int s = 1; s <= 10; ++s) {
      j << "{\"step\":" << s << ",\"loss\":0.5}\n";
      c << s << ",0.1,0.5\n";
    }
    j << "{\"step\":1";  // a kill mid-row: no newline
    c << "1";            // the first digit of step 11's row
  }
  truncate_jsonl_after(jsonl, "step", 5);
  truncate_csv_after(csv, 0, 5);
  const auto rows = read_jsonl(jsonl);
  REQUIRE(rows.size() == 5);
  CHECK(rows.back()["step"] == 5);
  CHECK(read_text(csv) == "step,epoch,loss\n1,0.1,0.5\n2,0.1,0.5\n3,0.1,0.5\n4,0.1,0.5\n5,0.1,0.5\n");
  truncate_csv_after(csv, 1, 0);  // by the second column (epochs): every row has 0.1 > 0
  CHECK(read_text(csv) == "step,epoch,loss\n");
}

TEST_CASE("defect 1: an epoch row written after a checkpoint of the same step is not duplicated on resume") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  ScratchDir dir("epochrow");
  train_tiny(c, dir.file("full"));
  // Stop at step 6: the checkpoint is taken at the epoch's last batch, before the epoch finishes.
  train_tiny(c, dir.file("cut"), 6);
  // As if the next session finished the epoch (logging its row, flushed) and died before its checkpoint.
  std::ofstream(dir.file("cut/metrics_epochs.jsonl"), std::ios::app) << "{\"step\":6,\"epoch\":1,\"lr\":0.5}\n";
  std::ofstream(dir.file("cut/metrics_epochs.csv"), std::ios::app) << "6,1,9,9,9,9,0.5,9,9\n";
  resume_tiny(c, dir.file("cut"));
  CHECK(read_jsonl(dir.file("cut/metrics_epochs.jsonl")).size() == 2);
  check_logs_equal(dir.file("full"), dir.file("cut"));
}

TEST_CASE("defect 2: a resume at an epoch boundary logs that epoch's learning rate, not 0") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  c.schedule = "constant";  // every step's lr is 0.01 after the warmup
  ScratchDir dir("lr");
  train_tiny(c, dir.file("full"));
  train_tiny(c, dir.file("cut"), 6);
  resume_tiny(c, dir.file("cut"));
  const auto full = read_jsonl(dir.file("full/metrics_epochs.jsonl")), cut = read_jsonl(dir.file("cut/metrics_epochs.jsonl"));
  REQUIRE(cut.size() == 2);
  CHECK(cut[0]["lr"].get<double>() == doctest::Approx(0.01));
  CHECK(cut[0]["lr"] == full[0]["lr"]);
}

TEST_CASE("defect 3: NaN hyper-parameters on the command line are refused, naming the flag") {
  for (const auto& entry : std::vector<std::pair<std::string, std::string>>{
           {"--lr", ""}, {"--weight-decay", ""}, {"--eps", ""}, {"--clip-max", ""}, {"--momentum", "sgd"},
           {"--warmup-epochs", ""}, {"--label-smoothing", ""}, {"--beta1", ""}}) {
    const std::string& flag = entry.first;  // no structured binding: Clang 14 cannot capture one in INFO
    const std::string& extra = entry.second;
    std::vector<std::string> args = {"--dry-run", flag, "nan"};
    if (!extra.empty()) args.insert(args.end(), {"--optimizer", extra});
    const TrainOutput r = run_train_args(args);
    INFO(flag << " -> " << r.err);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "train: error: " + flag + ": must be a number, got NaN\n");
  }
  // "auto" in a config file is still the documented way to ask for the default.
  ScratchDir dir("nancfg");
  std::ofstream(dir.file("c.json")) << R"({"lr": "auto"})";
  CHECK(run_train_args({"--dry-run", "--config", dir.file("c.json")}).code == 0);
}

TEST_CASE("defect 4: a checkpoint holding NaN/Inf is never written, and the error names the tensor") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  ScratchDir dir("nanstate");
  Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet(4));
  t.run();  // checkpoint at step 4
  const std::string good = resolve_checkpoint(dir.str());
  const std::string before = read_text(good);
  const optim::ParamEntry& e = t.optimizer().params().front();
  REQUIRE(!e.state.empty());
  e.state.back().data()[0] = std::nanf("");  // a NaN in the optimizer's state
  const std::string name = e.name + "/" + t.optimizer().state_names().back();
  TrainerState st;
  st.step = 4;
  CHECK_THROWS_WITH(save_checkpoint(good, t.model(), t.optimizer(), st, nlohmann::json::object(), dir.str()),
                    doctest::Contains(("optimizer state '" + name + "' holds NaN").c_str()));
  CHECK(read_text(good) == before);  // the good checkpoint was not replaced

  // Training on: the NaN reaches the weights in the next update; the error names the parameter and
  // the optimizer state it came from (not a gradient), and no later checkpoint is written.
  CHECK_THROWS_WITH(t.run(), doctest::Contains("its source: optimizer state"));
  CHECK(resolve_checkpoint(dir.str()) == good);
  CHECK(load_checkpoint(good).trainer.step == 4);
}

TEST_CASE("defect 4: a huge learning rate stops before a non-finite checkpoint; --on-nonfinite skip counts and stops after K") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  c.optimizer = "sgd";
  c.clip_max = c.clip_min = c.max_grad_norm = kAuto;
  c.lr = 1e30;
  c.warmup_epochs = 0;
  c.checkpoint_every = 1;
  resolve_defaults(c);
  ScratchDir dir("hugelr");
  CHECK_THROWS_WITH(train_tiny(c, dir.str()), doctest::Contains("is intact. Lower --lr"));
  for (const auto& [step, path] : list_checkpoints(dir.file("checkpoints"))) CHECK_NOTHROW(load_checkpoint(path));

  // An Inf in a BatchNorm running variance (what a huge lr produced) is caught after the forward
  // pass of the step, named, and never reaches a checkpoint.
  {
    TrainConfig b = tiny_config();
    b.workers = 0;
    b.checkpoint_every = 1;
    Trainer t(b, tiny_data(), RunPaths{dir.file("bn"), ""}, quiet());
    std::string bn;
    for (const auto& [name, buf] : t.model().named_buffers())
      if (bn.empty() && name.find("running_var") != std::string::npos) {
        bn = name;
        buf.data()[0] = std::numeric_limits<float>::infinity();
      }
    REQUIRE_FALSE(bn.empty());
    CHECK_THROWS_WITH(t.run(), doctest::Contains(("step 1: model buffer '" + bn + "' holds +Inf after the forward pass").c_str()));
    CHECK(list_checkpoints(dir.file("bn/checkpoints")).empty());
  }

  // Weights that are NaN from the start: every step's loss is NaN. skip: counted, nothing updated, stop after 3.
  c.lr = 0.01;
  c.on_nonfinite = "skip";
  c.nonfinite_skip_limit = 3;
  c.checkpoint_every = 0;
  Trainer t(c, tiny_data(), RunPaths{dir.file("skip"), ""}, quiet());
  t.model().named_parameters().front().second.data()[0] = std::nanf("");
  const std::vector<float> w_before = t.model().named_parameters().back().second.to_vector();
  CHECK_THROWS_WITH(t.run(), doctest::Contains("3 non-finite steps in a row (--nonfinite-skip-limit 3)"));
  CHECK(t.optimizer().step_count() == 0);
  CHECK(t.model().named_parameters().back().second.to_vector() == w_before);
  CHECK(read_jsonl(dir.file("skip/metrics_steps.jsonl")).empty());  // nothing flushed: no checkpoint
  CHECK(list_checkpoints(dir.file("skip/checkpoints")).empty());
}

TEST_CASE("--max-grad-norm clips any optimizer's gradients: one SGD step moves the weights by lr x max_norm; grad_norm is logged") {
  ThreadScope threads(1);
  // SGD without momentum or decay: w1 - w0 = -lr g, so ||w1 - w0|| = lr ||g|| = lr max_norm once clipped.
  for (const double max_norm : {0.0, 1e-3}) {
    CAPTURE(max_norm);
    TrainConfig c = tiny_config();
    c.workers = 0;
    c.optimizer = "sgd";
    c.momentum = 0;
    c.weight_decay = 0;
    c.lr = 0.1;
    c.warmup_epochs = 0;
    c.schedule = "constant";
    c.max_steps = 1;
    c.clip_max = c.clip_min = kAuto;
    c.max_grad_norm = max_norm;
    ScratchDir dir(max_norm > 0 ? "clip_on" : "clip_off");
    Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet());
    NamedTensors before;
    for (const auto& [name, w] : t.model().named_parameters()) before.emplace_back(name, w.clone());
    t.run();
    double moved_sq = 0;
    const NamedTensors after = t.model().named_parameters();
    for (size_t i = 0; i < after.size(); ++i) {
      const std::vector<float> a = after[i].second.to_vector(), b = before[i].second.to_vector();
      for (size_t j = 0; j < a.size(); ++j) moved_sq += (static_cast<double>(a[j]) - b[j]) * (static_cast<double>(a[j]) - b[j]);
    }
    // metrics_steps.jsonl's grad_norm is ||G|| before the clip: lr ||G|| is the unclipped move.
    const auto rows = read_jsonl(dir.file("metrics_steps.jsonl"));
    REQUIRE(rows.size() == 1);
    const double grad_norm = rows[0]["grad_norm"].get<double>();
    if (max_norm > 0) {
      CHECK(std::sqrt(moved_sq) == doctest::Approx(0.1 * max_norm).epsilon(1e-3));
      CHECK(grad_norm > 100 * max_norm);
    } else {
      CHECK(std::sqrt(moved_sq) == doctest::Approx(0.1 * grad_norm).epsilon(1e-4));
      CHECK(grad_norm > 100 * 1e-3);  // the gradient is far above the other run's 1e-3
    }
  }
}

TEST_CASE("--detect-anomaly names the op where a NaN or Inf first appears; without it, the step names the buffer") {
  ThreadScope threads(1);
  for (const bool detect : {false, true}) {
    ScratchDir dir(detect ? "anomaly" : "anomaly_off");
    TrainConfig c = tiny_config();
    c.workers = 0;
    c.detect_anomaly = detect;
    Trainer t(c, tiny_data(), RunPaths{dir.str(), ""}, quiet());
    // A NaN in the stem's weights (a parameter no op produced): named at its first use.
    const Tensor w = t.model().named_parameters().front().second;
    REQUIRE(w.dim() == 4);
    w.data()[5] = std::nanf("");
    const std::string message = tg::test::error_of([&] { t.run(); });
    CAPTURE(message);
    if (detect) {
      CHECK(message.find("forward (anomaly detection): 'conv2d") != std::string::npos);
      CHECK(message.find("was given NaN or Inf in its input 1 " + shape_str(w.shape()) +
                         ", a leaf that requires grad (a parameter) no recorded op produced") != std::string::npos);
    } else {
      CHECK(message.find("step 1: model buffer") != std::string::npos);  // the first check that sees it
      CHECK(message.find("--detect-anomaly names the op") != std::string::npos);
    }
  }
}

TEST_CASE("defect 4: a diverging run says so and records it in summary.json") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  c.lr = 1e6;  // LAMBC: each layer moves by lr x its norm per step
  ScratchDir dir("diverge");
  const TrainSummary s = train_tiny(c, dir.str());
  REQUIRE_FALSE(s.warnings.empty());
  CHECK(s.warnings.front().find("warning: training diverges") != std::string::npos);
  const auto j = nlohmann::json::parse(read_text(dir.file("summary.json")));
  CHECK(j["diverged"] == true);
  CHECK(j["warnings"].size() == s.warnings.size());
  // A healthy run has none.
  c.lr = 0.01;
  CHECK(train_tiny(c, dir.file("ok")).warnings.empty());
}

TEST_CASE("resumed at another world size after skipped steps: the optimizer's count is scaled, and its checkpoints load") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();  // 96 images, batch 16: 6 steps per epoch, 2 epochs
  c.workers = 0;
  c.checkpoint_every = 0;
  ScratchDir dir("world_skip");
  train_tiny(c, dir.file("a"));  // checkpoints at the epoch ends, steps 6 and 12
  const std::string ckpt = dir.file("a/checkpoints/" + checkpoint_file_name(6));
  // As if written by 2 ranks running 12 steps per epoch, 4 of epoch 1's steps skipped as non-finite:
  // the optimizer counted 8.
  edit_checkpoint_metadata(ckpt, [](io::Metadata& m) {
    const std::pair<std::string, std::string> counts[] = {{"trainer.step", "12"}, {"optim.step", "8"}};
    for (const auto& [key, value] : counts) m[key] = value;
    auto stats = nlohmann::json::parse(m["trainer.stats"]);
    stats["world_size"] = 2;
    stats["skipped_steps"] = 4;
    m["trainer.stats"] = stats.dump();
  });
  {
    TrainConfig bounded = c;  // --max-steps counts steps whose length changes with the world size
    bounded.max_steps = 9;
    Trainer t(bounded, tiny_data(), RunPaths{dir.file("m"), ""}, quiet());
    CHECK_THROWS_WITH(t.resume(load_checkpoint(ckpt)), doctest::Contains("bounded by --max-steps 9"));
  }
  Trainer t(c, tiny_data(), RunPaths{dir.file("b"), ""}, quiet());
  t.resume(load_checkpoint(ckpt));
  CHECK(t.step() == 6);                         // one epoch of this run's 6 steps
  CHECK(t.optimizer().step_count() == 4);       // round(8 x 6 / 12): the same fraction of the run
  t.run();
  // Its own checkpoint (optimizer 10 + skipped 4 = step 12 + offset 2) loads and resumes at its size.
  const std::string last = resolve_checkpoint(dir.file("b"));
  CHECK(load_checkpoint(last).trainer.step == 12);
  Trainer again(c, tiny_data(), RunPaths{dir.file("c"), ""}, quiet());
  CHECK_NOTHROW(again.resume(load_checkpoint(last)));
  CHECK(again.optimizer().step_count() == 10);
}

TEST_CASE("defect 6: checkpoint counters are cross-checked against each other and the tensors") {
  ThreadScope threads(1);
  TrainConfig c = tiny_config();
  c.workers = 0;
  ScratchDir dir("counters");
  train_tiny(c, dir.str(), 4);
  const std::string good = resolve_checkpoint(dir.str());
  const std::string bytes = read_text(good);
  auto restore = [&] { std::ofstream(good, std::ios::binary | std::ios::trunc) << bytes; };
  auto resume_error = [&]() -> std::string {
    try {
      Trainer t(c, tiny_data(), RunPaths{dir.file("r"), ""}, quiet());
      t.resume(load_checkpoint(good));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  CHECK(resume_error().empty());
  const std::vector<std::pair<std::function<void(io::Metadata&)>, std::string>> cases = {
      {[](io::Metadata& m) { m["trainer.step"] = "-4"; }, "trainer.step is -4"},
      {[](io::Metadata& m) { m["trainer.step"] = "5"; }, "the optimizer has made 4 steps"},
      {[](io::Metadata& m) { m["optim.step"] = "3"; }, "the optimizer has made 3 steps"},
      {[](io::Metadata& m) {
         auto s = nlohmann::json::parse(m["trainer.stats"]);
         s["epochs_done"] = 999;
         m["trainer.stats"] = s.dump();
       },
       "epochs_done is 999"},
      {[](io::Metadata& m) {
         auto s = nlohmann::json::parse(m["trainer.stats"]);
         s["images_seen"] = 1;
         m["trainer.stats"] = s.dump();
       },
       "images_seen is 1"},
      {[](io::Metadata& m) { m["trainer.loader_batch"] = "5"; }, "the loader is at epoch 0 batch 5"},
      {[](io::Metadata& m) { m["trainer.threads"] = "0"; }, "trainer.threads is 0"},
  };
  for (const auto& entry : cases) {  // no structured binding: Clang 14 cannot capture one in INFO
    const auto& edit = entry.first;
    const auto& expect = entry.second;
    INFO(expect);
    edit_checkpoint_metadata(good, edit);
    CHECK(resume_error().find(expect) != std::string::npos);
    restore();
  }
  // Float data relabelled as int32 (same header length): the loader would convert the bits as integers.
  std::string relabelled = bytes;
  const size_t at = relabelled.find("\"F32\"");
  REQUIRE(at != std::string::npos);
  relabelled.replace(at, 5, "\"I32\"");
  std::ofstream(good, std::ios::binary | std::ios::trunc) << relabelled;
  CHECK_THROWS_WITH(load_checkpoint(good), doctest::Contains("has dtype I32; train checkpoints hold F32 only"));
  restore();
  CHECK(resume_error().empty());
}

TEST_CASE("defect 7: stale temporaries removed, unwritable directories and a missing --data-dir refused up front, --threads capped") {
  ScratchDir dir("startup");
  write_tiny_fashion_mnist(dir.file("data"), 64, 32);
  const std::vector<std::string> base = {"--dataset", "fashion-mnist", "--data-dir", dir.file("data"), "--batch-size", "16",
                                         "--epochs", "1", "--max-steps", "2", "--workers", "0", "--progress", "none",
                                         "--no-report", "--log-dir", dir.file("runs")};
  // A temporary of a dead process (a pid that is not running) goes; one of a live process stays.
  pid_t dead = 999999;
  while (::kill(dead, 0) == 0) --dead;
  fs::create_directories(dir.file("runs/r/checkpoints"));
  const std::string stale = dir.file("runs/r/checkpoints/ckpt-00000002.safetensors.tmp." + std::to_string(dead));
  const std::string live = dir.file("runs/r/summary.json.tmp." + std::to_string(::getppid()));
  std::ofstream(stale) << "half";
  std::ofstream(live) << "busy";
  std::vector<std::string> args = base;
  args.insert(args.end(), {"--run-name", "r", "--threads", "1000"});
  const TrainOutput r = run_train_args(args);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(r.out.find("removed 1 temporary file(s)") != std::string::npos);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CHECK(r.err.find("--threads 1000 is more than the " + std::to_string(cores) + " cores") != std::string::npos);
  CHECK(nlohmann::json::parse(read_text(dir.file("runs/r/summary.json")))["threads"] == cores);

  // An unwritable --checkpoint-dir (below a regular file: even root cannot create it) fails before any work.
  args = base;
  args.insert(args.end(), {"--run-name", "u", "--checkpoint-dir", stale + "x/below-a-file"});
  std::ofstream(stale + "x") << "a file";
  const TrainOutput u = run_train_args(args);
  INFO(u.err);
  CHECK(u.code == 1);
  CHECK(u.err.find("--checkpoint-dir: cannot create directory") != std::string::npos);
  CHECK(u.out.find("loading") == std::string::npos);

  // --data-dir that does not exist: an error naming it, not a silent fallback.
  const TrainOutput d = run_train_args({"--dataset", "fashion-mnist", "--data-dir", "/nonexistent", "--dry-run"});
  CHECK(d.code == 2);
  CHECK(d.err == "train: error: --data-dir: '/nonexistent' is not a directory (give the directory that holds the data, "
                 "or leave the flag out to use ./data or the system's copy)\n");
  std::ostringstream note;
  note_data_fallback("data", "/usr/share/datasets/fashion-mnist", note);
  CHECK(note.str().find("came from '/usr/share/datasets/fashion-mnist', not from --data-dir 'data'") != std::string::npos);
  std::ostringstream quiet_note;
  note_data_fallback(dir.file("data"), dir.file("data/fashion-mnist"), quiet_note);
  CHECK(quiet_note.str().empty());
}
