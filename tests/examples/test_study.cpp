// The trust-clipping study's statistics and bookkeeping: Student's t quantiles against published
// table values, the paired t-interval worked by hand, tensor kinds from shapes, and the whole
// path from run directories (summary, metrics, telemetry, model file) to configuration means,
// paired LAMBC - LAMB differences and clipping counts by kind and phase. Plus --no-drop-last.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "examples/train/trainer.h"
#include "examples/trust_clipping_study/report_page.h"
#include "examples/trust_clipping_study/stats.h"
#include "examples/trust_clipping_study/study.h"
#include "io/safetensors.h"
#include "train_test_util.h"

using namespace tg;
namespace fs = std::filesystem;

TEST_CASE("study: Student's t quantiles match the published table") {
  // Two-sided 95% (p = 0.975) and 99% (p = 0.995) critical values, e.g. Fisher & Yates' tables.
  CHECK(study::student_t_quantile(0.975, 1) == doctest::Approx(12.7062).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.975, 2) == doctest::Approx(4.3027).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.975, 4) == doctest::Approx(2.7764).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.975, 9) == doctest::Approx(2.2622).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.975, 30) == doctest::Approx(2.0423).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.995, 4) == doctest::Approx(4.6041).epsilon(1e-4));
  CHECK(study::student_t_quantile(0.025, 4) == doctest::Approx(-2.7764).epsilon(1e-4));  // symmetric
  CHECK(study::student_t_quantile(0.5, 7) == doctest::Approx(0.0).epsilon(1e-9));
  CHECK_THROWS(study::student_t_quantile(1.0, 4));
  CHECK_THROWS(study::student_t_quantile(0.9, 0));
}

TEST_CASE("study: paired t-interval worked by hand") {
  // d = {1, 2, 3, 4}: mean 2.5, s = sqrt(5/3) = 1.290994, t(0.975, 3) = 3.182446,
  // half width 3.182446 * 1.290994 / 2 = 2.054260 -> [0.445740, 4.554260].
  const study::PairedInterval p = study::paired_interval({1.5, 2.5, 3.5, 4.5}, {0.5, 0.5, 0.5, 0.5});
  CHECK(p.n == 4);
  CHECK(p.mean == doctest::Approx(2.5));
  CHECK(p.sd == doctest::Approx(1.290994).epsilon(1e-6));
  CHECK(p.lo == doctest::Approx(0.445740).epsilon(1e-5));
  CHECK(p.hi == doctest::Approx(4.554260).epsilon(1e-5));
  const study::PairedInterval one = study::paired_interval({1.0}, {0.0});
  CHECK(one.mean == 1.0);
  CHECK(std::isnan(one.lo));
  CHECK_THROWS(study::paired_interval({1.0, 2.0}, {1.0}));
}

TEST_CASE("study: tensor kinds from shapes") {
  const auto k = study::tensor_kinds({{"0.weight", {8, 1, 3, 3}},
                                      {"1.weight", {8}},
                                      {"1.bias", {8}},
                                      {"5.weight", {10, 32}},
                                      {"5.bias", {10}},
                                      {"1.running_mean", {8}}});
  CHECK(k.at("0.weight") == study::TensorKind::kConvWeight);
  CHECK(k.at("1.weight") == study::TensorKind::kBnGamma);
  CHECK(k.at("1.bias") == study::TensorKind::kBnBeta);
  CHECK(k.at("5.weight") == study::TensorKind::kLinearWeight);
  CHECK(k.at("5.bias") == study::TensorKind::kBias);
  CHECK(k.at("1.running_mean") == study::TensorKind::kOther);
}

namespace {

// A finished run directory: summary.json, two epochs of metrics, a model file and telemetry of
// 6 steps x 2 tensors, where the conv weight is clipped at steps listed in `clipped_steps`.
void write_run(const fs::path& d, double final_acc, const std::vector<int>& clipped_steps) {
  fs::create_directories(d);
  std::ofstream(d / "summary.json") << R"({"steps": 6, "wall_s": 1.5})";
  std::ofstream(d / "metrics_epochs.jsonl") << R"({"epoch":1,"train_loss":1.0,"test_acc":)" << final_acc + 0.05 << "}\n"
                                            << R"({"epoch":2,"train_loss":0.5,"test_acc":)" << final_acc << "}\n";
  io::save_safetensors((d / "model.safetensors").string(),
                       {{"0.weight", Tensor::zeros({4, 1, 3, 3})}, {"1.weight", Tensor::ones({4})}, {"1.bias", Tensor::zeros({4})}});
  std::ofstream t(d / "trust_ratios.jsonl");
  for (int step = 1; step <= 6; ++step) {
    const bool c = std::find(clipped_steps.begin(), clipped_steps.end(), step) != clipped_steps.end();
    t << R"({"step":)" << step << R"(,"name":"0.weight","raw_ratio":)" << (c ? 4.0 : 0.5) << R"(,"applied_ratio":)"
      << (c ? 1.0 : 0.5) << R"(,"clipped":)" << (c ? "true" : "false") << "}\n";
    t << R"({"step":)" << step << R"(,"name":"1.weight","raw_ratio":0.3,"applied_ratio":0.3,"clipped":false})" << "\n";
  }
}

}  // namespace

TEST_CASE("study: a grid that names one run twice is refused (one directory, counted twice)") {
  const study::LrArm arm{"authors", 0.01, 0};
  CHECK(study::make_grid({1000, 3000}, {"paper"}, {arm}, {1.0}, true, {0, 1}).size() == 8);
  CHECK_THROWS_WITH_AS(study::make_grid({1000}, {"paper"}, {arm}, {1.0}, true, {0, 1, 0}),
                       doctest::Contains("bs1000-paper-authors-lamb-s0' twice"), std::invalid_argument);
  CHECK_THROWS_AS(study::make_grid({1000, 1000}, {"paper"}, {arm}, {1.0}, true, {0}), std::invalid_argument);
  CHECK_THROWS_AS(study::make_grid({1000}, {"paper"}, {arm}, {1.0, 1.0}, false, {0}), std::invalid_argument);
}

TEST_CASE("study: run directories -> configuration means, paired differences, clipping by kind and phase") {
  test::ScratchDir dir("study");
  const study::LrArm arm{"authors", 0.01, 0};
  const auto grid = study::make_grid({1000}, {"paper"}, {arm}, {1.0}, true, {0, 1, 2});
  REQUIRE(grid.size() == 6);  // LAMB x 3 seeds, then LAMBC x 3 seeds
  CHECK(grid[0].name() == "bs1000-paper-authors-lamb-s0");
  CHECK(grid[3].name() == "bs1000-paper-authors-lambc-clip1-s0");
  const double lamb_acc[3] = {0.80, 0.82, 0.78}, lambc_acc[3] = {0.81, 0.84, 0.78};
  std::vector<study::RunResult> results;
  for (size_t i = 0; i < grid.size(); ++i) {
    const bool lambc = grid[i].config.optimizer == "lambc";
    const fs::path d = fs::path(dir.str()) / grid[i].name();
    if (grid[i].seed != 2 || lambc) write_run(d, lambc ? lambc_acc[grid[i].seed] : lamb_acc[grid[i].seed], lambc ? std::vector<int>{1, 2, 6} : std::vector<int>{});
    results.push_back(study::read_run(d.string(), grid[i]));
  }
  CHECK_FALSE(results[2].complete);  // LAMB seed 2 never ran: unpaired, left out of the differences
  CHECK(results[3].complete);
  CHECK(results[3].final_acc == doctest::Approx(0.81));
  CHECK(results[3].best_acc == doctest::Approx(0.86));
  // 12 records, 3 clipped, all conv weights: phases are thirds of 6 steps -> steps 1-2, 3-4, 5-6.
  CHECK(results[3].clipped_pct() == doctest::Approx(25.0));
  const auto& conv = results[3].clips[static_cast<int>(study::TensorKind::kConvWeight)];
  CHECK(conv[0].records == 2);
  CHECK(conv[0].clipped == 2);
  CHECK(conv[1].clipped == 0);
  CHECK(conv[2].clipped == 1);
  CHECK(conv[0].shrink_sum == doctest::Approx(0.5));  // two records of 1.0 / 4.0
  CHECK(results[3].clips[static_cast<int>(study::TensorKind::kBnGamma)][1].records == 2);

  const auto stats = study::config_stats(results);
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].seeds.size() == 2);  // LAMB: seeds 0 and 1 finished
  CHECK(stats[1].seeds.size() == 3);
  const auto pairs = study::paired_comparisons(results);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].seeds == std::vector<uint64_t>{0, 1});
  // differences in points: 81 - 80 = 1, 84 - 82 = 2 -> mean 1.5, sd 0.7071, t(0.975, 1) = 12.706
  CHECK(pairs[0].final_diff.mean == doctest::Approx(1.5));
  CHECK(pairs[0].final_diff.hi - pairs[0].final_diff.mean == doctest::Approx(12.7062 * 0.707107 / std::sqrt(2.0)).epsilon(1e-3));
  const std::string md = study::results_markdown(results, train::TrainConfig{}, "cmd", "machine");
  CHECK(md.find("Runs complete: 5 of 6") != std::string::npos);
  CHECK(md.find("| 1000 | paper | authors | 1 | 2 | 1.50 [") != std::string::npos);
  CHECK(study::difference_plot_svg(results).find("<circle") != std::string::npos);
  const auto j = study::results_json(results);
  CHECK(j["paired"][0]["final_diff_pp"]["n"] == 2);
}

TEST_CASE("--no-drop-last trains on the last partial batch (as the LAMBC authors' script)") {
  train::TrainConfig c;
  c.dataset = "synthetic";
  c.model = "small";
  c.optimizer = "lambc";
  c.batch_size = 40;  // 96 images: 2 full batches + 16
  c.epochs = 1;
  c.progress = "none";
  c.report = false;
  c.eval_batch_size = 32;
  c.workers = 0;
  train::resolve_defaults(c);
  data::DatasetSplits s;
  s.train = test::synthetic_images(96, 8, 4, 1);
  s.test = test::synthetic_images(32, 8, 4, 2);
  test::ScratchDir dir("droplast");
  train::TrainerOptions o;
  o.quiet = true;
  {
    train::Trainer t(c, s, train::RunPaths{dir.file("drop"), ""}, o);
    CHECK(t.steps_per_epoch() == 2);
  }
  c.drop_last = false;
  train::Trainer t(c, s, train::RunPaths{dir.file("keep"), ""}, o);
  CHECK(t.steps_per_epoch() == 3);
  const train::TrainSummary sum = t.run();
  CHECK(sum.steps == 3);
  CHECK(sum.images_seen == 96);
}

TEST_CASE("every committed recipe loads and validates; the authors' recipes encode their protocol") {
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(TG_SOURCE_DIR) / "examples/train/recipes")) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    train::TrainConfig c;
    const auto keys = train::load_config_file(c, e.path().string());
    train::resolve_defaults(c);
    CHECK_NOTHROW(train::validate(c, keys));
    ++n;
    if (e.path().filename().string().find("_authors") == std::string::npos) continue;
    // main.py: constant lr 0.01, no warm-up, wd 0, new optimizer each epoch, real batches, last batch kept
    CHECK(c.optimizer == "lambc");
    CHECK(c.preset == "paper");
    CHECK(c.lr == 0.01);
    CHECK(c.schedule == "constant");
    CHECK(c.warmup_epochs == 0);
    CHECK(c.weight_decay == 0);
    CHECK(c.reset_each_epoch);
    CHECK_FALSE(c.drop_last);
    CHECK(c.accum_steps == 1);
    CHECK(c.batch_size >= 1000);
  }
  CHECK(n >= 5);
}

TEST_CASE("study: a damaged run directory is an error naming the file, never a crash") {
  test::ScratchDir dir("damaged");
  const study::LrArm arm{"authors", 0.01, 0};
  const auto grid = study::make_grid({1000}, {"paper"}, {arm}, {1.0}, true, {0});
  const fs::path lamb = fs::path(dir.str()) / grid[0].name(), lambc = fs::path(dir.str()) / grid[1].name();
  write_run(lamb, 0.8, {});
  CHECK(study::read_run(lamb.string(), grid[0]).complete);
  auto telemetry = [&](const std::string& line) { std::ofstream(lamb / "trust_ratios.jsonl") << line << "\n"; };
  // A step below 1 used to index the clipping table at a negative phase (a write out of bounds).
  telemetry(R"({"step":-100000,"name":"0.weight","raw_ratio":2,"applied_ratio":1,"clipped":true})");
  CHECK_THROWS_WITH_AS(study::read_run(lamb.string(), grid[0]), doctest::Contains("trust_ratios.jsonl: a record of step -100000"),
                       std::runtime_error);
  telemetry(R"({"step":"x","name":"0.weight","raw_ratio":1})");
  CHECK_THROWS_WITH_AS(study::read_run(lamb.string(), grid[0]), doctest::Contains("trust_ratios.jsonl: "), std::runtime_error);
  telemetry(R"({"step":3,"name":5,"raw_ratio":1})");
  CHECK_THROWS_WITH_AS(study::read_run(lamb.string(), grid[0]), doctest::Contains("trust_ratios.jsonl: "), std::runtime_error);
  std::ofstream(lamb / "summary.json") << R"({"steps": "six"})";
  CHECK_THROWS_WITH_AS(study::read_run(lamb.string(), grid[0]), doctest::Contains("summary.json: "), std::runtime_error);
  // A same_as_lamb marker naming a directory that is itself marked used to recurse until the stack
  // overflowed; one that is not JSON, or names nothing, is an error too.
  fs::create_directories(lambc);
  std::ofstream(lambc / "same_as_lamb.json") << R"({"lamb_run": ")" << lambc.string() << R"("})";
  CHECK_THROWS_WITH_AS(study::read_run(lambc.string(), grid[1]), doctest::Contains("itself marked same_as_lamb"), std::runtime_error);
  std::ofstream(lambc / "same_as_lamb.json") << R"({"lamb": 1})";
  CHECK_THROWS_WITH_AS(study::read_run(lambc.string(), grid[1]), doctest::Contains("same_as_lamb.json: "), std::runtime_error);
}

TEST_CASE("study: a LAMBC run whose LAMB twin never exceeded the clip is LAMB by construction") {
  test::ScratchDir dir("same");
  const study::LrArm arm{"authors", 0.01, 0};
  const auto grid = study::make_grid({1000}, {"paper"}, {arm}, {1.0}, true, {0});
  REQUIRE(grid.size() == 2);
  const fs::path lamb = fs::path(dir.str()) / grid[0].name(), lambc = fs::path(dir.str()) / grid[1].name();
  write_run(lamb, 0.8, {});  // raw ratios 0.5 and 0.3: never above 1
  const study::RunResult l = study::read_run(lamb.string(), grid[0]);
  CHECK(l.raw_max == doctest::Approx(0.5));
  CHECK_FALSE(study::mark_same_as_lamb(lambc.string(), lamb.string(), l, 0.4));  // 0.5 > 0.4: must be trained
  CHECK_FALSE(fs::exists(lambc / "same_as_lamb.json"));
  CHECK(study::mark_same_as_lamb(lambc.string(), lamb.string(), l, 1.0));
  const study::RunResult c = study::read_run(lambc.string(), grid[1]);
  CHECK(c.complete);
  CHECK(c.same_as_lamb);
  CHECK(c.spec.config.optimizer == "lambc");
  CHECK(c.final_acc == doctest::Approx(0.8));
  const auto stats = study::config_stats({l, c});
  REQUIRE(stats.size() == 2);
  CHECK(stats[1].same_as_lamb == 1);
  const auto pairs = study::paired_comparisons({l, c});
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].final_diff.mean == 0.0);
  // a LAMB run that did exceed it: LAMBC must be trained
  const fs::path lamb2 = fs::path(dir.str()) / "other-lamb";
  write_run(lamb2, 0.8, {3});  // a record with raw ratio 4
  CHECK_FALSE(study::mark_same_as_lamb((fs::path(dir.str()) / "other-lambc").string(), lamb2.string(),
                                       study::read_run(lamb2.string(), grid[0]), 1.0));
}

TEST_CASE("study: the report page renders results.md's headings, tables and code, escaped, with the charts") {
  const std::string md = "# Title\n\nText <b>\n\n```\ncmd --x\n```\n\n| a | b |\n|---:|---|\n| 1 | x&y |\n\nafter\n";
  const std::string html = study::render_report_page(md, {"<svg id=\"c1\"></svg>"});
  CHECK(html.find("<h1>Title</h1>") != std::string::npos);
  CHECK(html.find("<p>Text &lt;b&gt;</p>") != std::string::npos);
  CHECK(html.find("<pre>cmd --x\n</pre>") != std::string::npos);
  CHECK(html.find("<tr><th>a</th><th>b</th></tr>") != std::string::npos);
  CHECK(html.find("<tr><td>1</td><td>x&amp;y</td></tr>") != std::string::npos);
  CHECK(html.find("|---") == std::string::npos);
  CHECK(html.find("</table>\n<p>after</p>") != std::string::npos);
  CHECK(html.find("<svg id=\"c1\">") != std::string::npos);
}

TEST_CASE("a run's saved config.json loads back as --config (every field listed), a real misuse still fails") {
  test::ScratchDir dir("saved_config");
  for (const char* opt : {"lambc", "lamb", "sgd", "lars", "adamw"}) {
    CAPTURE(opt);
    train::TrainConfig c;
    c.optimizer = opt;
    train::resolve_defaults(c);
    const std::string path = dir.file(std::string(opt) + ".json");
    train::save_config_file(c, path);
    train::TrainConfig back;
    const auto keys = train::load_config_file(back, path);
    CHECK(keys.count("momentum") == 1);  // every field is in the file
    CHECK_NOTHROW(train::validate(back, keys, keys));  // all from the file
  }
  train::TrainConfig c;
  c.optimizer = "lambc";
  c.momentum = 0.5;  // not lambc's: a mistake, named
  CHECK_THROWS_WITH(train::validate(c, {"momentum"}, {"momentum"}), doctest::Contains("--momentum: not used by optimizer 'lambc'"));
  c.momentum = 0.9;  // lambc's resolved default, but typed on the command line: still named
  CHECK_THROWS_WITH(train::validate(c, {"momentum"}), doctest::Contains("--momentum: not used by optimizer 'lambc'"));
}
